"""The nine NDS spaces: parsing real records, exact params, invalid input, sampling/mutation, ground truth."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from archrank import get_space
from archrank.bench.truth_nds import epoch_curve, load_records, read_nds, record_at
from archrank.bench.truth_spaces import load_space_truth
from archrank.proxies.cost import count_flops, count_params
from archrank.search import run
from archrank.spaces.nds import CELL_FAMILIES, NDS_SPACES, STAGE_FAMILIES, NDSCellArch
from archrank.spaces.nds_flops import count_nds_flops, nds_flop_counts

SAMPLE = 3  # records per file checked in the fast tests (the benchmark checks all of them)


def _records(data_root: Path, name: str) -> list[tuple[str, dict[str, Any]]]:
    family = (CELL_FAMILIES | STAGE_FAMILIES)[name]
    out = []
    for parts in family.files:
        path = data_root.joinpath(*parts)
        if not path.is_file():
            pytest.skip(f"{path} is missing")
        records = load_records(path)
        step = max(1, len(records) // SAMPLE)
        out.extend(("/".join(parts), r) for r in records[::step][:SAMPLE])
    return out


@pytest.mark.parametrize("name", NDS_SPACES)
def test_records_round_trip_and_params_exact(data_root: Path, name: str) -> None:
    space = get_space(name)
    for file, record in _records(data_root, name):
        arch = space.parse(record)
        assert space.parse(record["net"]) == arch
        text = space.to_str(arch)
        assert space.from_str(text) == arch
        assert json.loads(text) == record["net"], f"{file}: to_str is not the record's net"
        assert space.from_decisions(space.to_decisions(arch)) == arch
        with torch.device("meta"):  # shapes only: real-size ImageNet models at no memory cost
            model = space.build(arch)
        assert count_params(model) == record["params"], f"{file}: {text}"


@pytest.mark.parametrize("name", NDS_SPACES)
def test_flops_match_records_under_the_nds_convention(data_root: Path, name: str) -> None:
    space = get_space(name)
    for _, record in _records(data_root, name)[:1]:
        with torch.device("meta"):
            model = space.build(space.parse(record))
        assert count_nds_flops(model, space.input_shape, space.flop_convention) == record["flops"]


def test_defaults_are_imagenet() -> None:
    for name in NDS_SPACES:
        space = get_space(name)
        assert space.input_shape == (3, 224, 224) and space.num_classes == 1000


def _darts_net() -> dict[str, Any]:
    return {
        "aux": False, "depth": 6, "drop_prob": 0.0, "width": 32,
        "genotype": {
            "normal": [["sep_conv_3x3", 0], ["skip_connect", 1], ["max_pool_3x3", 2], ["none", 0],
                       ["dil_conv_5x5", 3], ["avg_pool_3x3", 1], ["sep_conv_5x5", 4], ["dil_conv_3x3", 2]],
            "normal_concat": [2, 3, 4, 5],
            "reduce": [["max_pool_3x3", 0], ["skip_connect", 1], ["sep_conv_3x3", 2], ["none", 1],
                       ["avg_pool_3x3", 0], ["dil_conv_3x3", 3], ["sep_conv_5x5", 4], ["skip_connect", 0]],
            "reduce_concat": [2, 3, 4, 5],
        },
    }


def _resnext_net() -> dict[str, Any]:
    return {"block_type": "res_bottleneck_block", "bot_muls": [1.0, 0.25, 0.5, 1.0], "ds": [1, 2, 1, 1],
            "num_gs": [1, 2, 4, 1], "ss": [8, 1, 2, 2], "ws": [64, 16, 32, 64]}


def _mutated(net: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    out = copy.deepcopy(net)
    target = out
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("name", "net", "message"),
    [
        ("nds-darts", _mutated(_darts_net(), ("genotype", "normal", 0, 0), "conv_9x9"), "unknown op"),
        ("nds-darts", _mutated(_darts_net(), ("genotype", "normal", 2, 1), 4), "cannot read state"),
        ("nds-darts", _mutated(_darts_net(), ("genotype", "normal_concat"), [5]), "breaks the family's rule"),
        ("nds-darts", _mutated(_darts_net(), ("width",), 40), "width 40 is not in this space"),
        ("nds-darts", _mutated(_darts_net(), ("genotype", "reduce"), [["none", 0]]), r"needs 8 \[op, input\] pairs"),
        ("nds-enas", _darts_net(), "needs 10"),
        ("nds-darts", _resnext_net(), "needs a 'genotype'"),
        ("nds-resnext-a", _mutated(_resnext_net(), ("num_gs", 1), 3), "num_gs 3 is not in this space"),
        ("nds-resnext-a", _mutated(_resnext_net(), ("ss",), [4, 1, 2, 2]), r"ss = \[8, 1, 2, 2\]"),
        ("nds-resnext-a", _mutated(_resnext_net(), ("block_type",), "res_basic_block"), "block_type must be"),
        ("nds-resnet", _resnext_net(), "block_type must be"),
        ("nds-resnext-a", _darts_net(), "got a cell genotype"),
    ],
)
def test_invalid_input_rejected_with_one_line(name: str, net: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        get_space(name).parse(net)
    assert "\n" not in str(info.value)


def test_malformed_json_rejected() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        get_space("nds-darts").parse('{"width": 32,')
    with pytest.raises(ValueError, match="must be a record"):
        get_space("nds-resnet").parse(42)


def test_canonical_merges_swapped_node_inputs() -> None:
    space = get_space("nds-darts")
    arch = space.parse(_darts_net())
    swapped = _mutated(_darts_net(), ("genotype", "normal", 0), ["skip_connect", 1])
    swapped["genotype"]["normal"][1] = ["sep_conv_3x3", 0]
    other = space.parse(swapped)
    assert other != arch and space.canonical(other) == space.canonical(arch)


@pytest.mark.parametrize("name", NDS_SPACES)
def test_sampling_and_mutation_stay_valid_and_buildable(name: str) -> None:
    space = get_space(name)
    archs = space.sample_many(3, seed=0)
    assert len({space.key(a) for a in archs}) == 3
    for seed, arch in enumerate(archs):
        assert space.parse(space.to_str(arch)) == arch  # valid under the space's own checks
        child = space.mutate(arch, seed=seed)
        assert child != arch and space.parse(space.to_str(child)) == child
        assert sum(a != b for a, b in zip(space.to_decisions(arch), space.to_decisions(child), strict=True)) == 1
        assert space.encode(child).sum() == len(space.decisions())
    # one real forward pass at a small input, narrowed where the space allows it, to keep the test fast
    kwargs = {"width": 8, "depth": 3} if name in CELL_FAMILIES else {}
    arch = min(archs, key=lambda a: sum(getattr(a, "ds", (0,))))
    model = space.build(arch, num_classes=10, **kwargs)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_aux_and_drop_path_are_carried_and_built() -> None:
    space = get_space("nds-darts")
    net = {**_darts_net(), "aux": True, "drop_prob": 0.2}
    arch = space.parse(net)
    assert isinstance(arch, NDSCellArch) and arch.aux and arch.drop_prob == 0.2
    assert all(n.aux and n.drop_prob == 0.2 for n in space.neighbours(arch))
    plain = space.parse(_darts_net())
    with torch.device("meta"):
        extra = count_params(space.build(arch)) - count_params(space.build(plain))
    assert extra == 32 * 4 * 4 * 128 + 2 * 128 + 128 * 768 * 4 + 768 * 1000 + 1000  # the auxiliary head
    model = space.build(arch, num_classes=10, width=8, depth=3).train()
    logits, aux_logits = model.forward_with_aux(torch.randn(2, 3, 224, 224))
    assert logits.shape == (2, 10) and aux_logits is not None and aux_logits.shape == (2, 10)
    assert model(torch.randn(2, 3, 224, 224)).shape == (2, 10)  # forward: logits only, in every mode


def test_ground_truth_accuracy_and_curve(data_root: Path) -> None:
    path = data_root / "nds" / "ResNeXt-A_in.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    space = get_space("nds-resnext-a")
    records = load_records(path)
    frame = read_nds(path, space, space.truth_sources()[0])
    assert len(frame) == len(records)
    first = records[0]
    row = frame.loc[space.key(space.parse(first))]
    assert row["accuracy"] == pytest.approx(100.0 - first["test_ep_top1"][-1])
    curve = epoch_curve(frame)
    assert list(curve.columns) == list(range(1, len(first["test_ep_top1"]) + 1))
    assert np.allclose(curve.loc[row.name].to_numpy(), first["test_ep_top1"])
    truth = load_space_truth(space)
    assert truth.values.notna().all() and "100 - final" in truth.source
    assert record_at(path, -1) == records[-1]
    with pytest.raises(ValueError, match="out of range"):
        record_at(path, len(records))


def test_an_epoch_recorded_as_null_stays_unknown(data_root: Path, tmp_path: Path) -> None:
    """A null in a record's per-epoch errors is NaN in the table (and so is the final accuracy when it is the last
    epoch's), never a number and never a crash; the other epochs keep their values."""
    path = data_root / "nds" / "ResNeXt-A_in.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    space = get_space("nds-resnext-a")
    first, second = (copy.deepcopy(r) for r in load_records(path)[:2])
    first["test_ep_top1"][3] = None
    second["test_ep_top1"][-1] = None
    copy_path = tmp_path / "ResNeXt-A_in.json"
    copy_path.write_text(json.dumps([first, second]))
    frame = read_nds(copy_path, space, space.truth_sources()[0])
    row1 = frame.loc[space.key(space.parse(first))]
    row2 = frame.loc[space.key(space.parse(second))]
    assert np.isnan(row1["test_top1_ep4"]) and row1["test_top1_ep3"] == first["test_ep_top1"][2]
    assert row1["accuracy"] == pytest.approx(100.0 - first["test_ep_top1"][-1])
    assert np.isnan(row2["accuracy"]) and np.isnan(row2["error"]) and not np.isnan(row2["test_top1_ep1"])


def test_structure_only_families_find_accuracy_wherever_a_fuller_copy_puts_it(tmp_path: Path, monkeypatch) -> None:
    """The families shared structure-only here (PNAS, NASNet, Amoeba, ResNeXt-B, DARTS's lr-wd and fix-w-d) are
    evaluated as soon as a copy of their file with accuracy is present, at the top of nds/ or in structure_only/;
    a structure-only file is never taken for ground truth."""
    from archrank.bench.truth_spaces import available_sources, source_status

    monkeypatch.setenv("ARCHRANK_DATA", str(tmp_path))
    for name in ("nds-pnas", "nds-nasnet", "nds-amoeba", "nds-resnext-b"):
        assert [s.name for s in get_space(name).truth_sources()] == [name]
    assert [s.name for s in get_space("nds-darts").truth_sources()] == ["nds-darts", "nds-darts-lr-wd",
                                                                        "nds-darts-fix-w-d"]
    space = get_space("nds-amoeba")
    source = space.truth_sources()[0]
    archs = space.sample_many(4, seed=0)
    records = [{"net": json.loads(space.to_str(a)), "params": 1.0} for a in archs]
    inner = tmp_path / "nds" / "structure_only" / "Amoeba_in.json"
    inner.parent.mkdir(parents=True)
    assert source_status(source) == "missing"
    with pytest.raises(FileNotFoundError, match=r"Amoeba_in\.json"):
        load_space_truth(space)
    inner.write_text(json.dumps(records))
    assert source_status(source) == "no accuracy in file" and available_sources(space) == []
    with pytest.raises(FileNotFoundError, match="holds no"):
        load_space_truth(space)
    for i, record in enumerate(records):
        record["test_ep_top1"] = [90.0 - i, 60.0 - i]
    inner.write_text(json.dumps(records))
    truth = load_space_truth(space)
    assert source_status(source) == "present"
    assert truth.values.to_dict() == {space.key(a): 40.0 + i for i, a in enumerate(archs)}
    top = tmp_path / "nds" / "Amoeba_in.json"  # the layout of the families shared with accuracy: it comes first
    top.write_text(json.dumps([{**r, "test_ep_top1": [50.0]} for r in records]))
    assert set(load_space_truth(space).values) == {50.0}


def test_parse_file_index_reference(data_root: Path) -> None:
    path = data_root / "nds" / "ENAS_in.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    space = get_space("nds-enas")
    expected = space.parse(load_records(path)[5])
    assert space.parse(f"{path}:5") == expected  # as given
    assert space.parse("ENAS_in.json:5") == expected  # under $ARCHRANK_DATA/nds
    with pytest.raises(ValueError, match="out of range"):
        space.parse("ENAS_in.json:100000")
    with pytest.raises(ValueError, match="not found"):
        space.parse("no_such_file.json:0")


@pytest.mark.parametrize("name", ["nds-enas", "nds-resnext-b"])
@pytest.mark.parametrize("algorithm", ["random", "rea", "reinforce", "predictor"])
def test_search_runs_unchanged(name: str, algorithm: str) -> None:
    space = get_space(name)

    def oracle(arch: object) -> tuple[float, float]:
        code = space.encode(arch)  # a deterministic made-up accuracy
        return float(code[: len(code) // 2].sum()), 0.0

    hist = run(space, algorithm=algorithm, oracle=oracle, budget=8, seed=0)
    assert len(hist.queries) == 8
    for arch, *_ in hist.queries:
        assert space.parse(space.to_str(arch)) == arch


def test_huge_spaces_refuse_enumeration_small_ones_enumerate() -> None:
    with pytest.raises(ValueError, match="cannot be enumerated"):
        get_space("nds-darts").enumerate()
    first = next(iter(get_space("nds-resnext-a")))
    assert get_space("nds-resnext-a").to_decisions(first) == (0,) * 13


def test_nds_flop_counts_macs_agree_with_count_flops() -> None:
    space = get_space("nds-amoeba")  # dilated separable convs: the conventions differ there
    model = space.build(space.sample(3), num_classes=10, width=8, depth=3)
    counts = nds_flop_counts(model, (3, 64, 64))
    assert counts["macs"] == count_flops(model, (3, 64, 64), "macs")
    assert counts["nds-cell"] > counts["macs"]  # ReLU / pooling elements on top
    with pytest.raises(ValueError, match="unknown NDS FLOP convention"):
        count_nds_flops(model, (3, 64, 64), "naslib")
