"""NB101 space: Suite-Zero keys round trip, exact parameter counts, the benchmark's graph hash, invalid specs
rejected, sampling and mutation stay valid and pruned."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from archrank import get_space
from archrank.bench.truth import load_truth
from archrank.proxies.cost import count_flops, count_params
from archrank.spaces import InvalidArchitectureError
from archrank.spaces.nb101 import NB101Space
from archrank.spaces.nb101_spec import CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, make_spec, padded, prune

# A 7-vertex cell (the example of the NB101 paper's README), and the same cell with interior vertices 1 and 2
# swapped: isomorphic, so one benchmark hash.
MATRIX = [[0, 1, 1, 1, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 0, 0],
          [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 0, 0, 0]]
OPS = [INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT]


@pytest.fixture(scope="module")
def space() -> NB101Space:
    sp = get_space("nb101")
    assert isinstance(sp, NB101Space)
    return sp


@pytest.fixture(scope="module")
def records(data_root: Path) -> dict[str, dict]:
    path = data_root / "nb101" / "suite_zero_nb101_cifar10.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return json.loads(path.read_text())["nasbench101"]["cifar10"]


def _permuted(matrix: list[list[int]], ops: list[str], order: list[int]) -> tuple[list[list[int]], list[str]]:
    """The same graph with vertex ``order[i]`` written at position ``i``."""
    return [[matrix[a][b] for b in order] for a in order], [ops[a] for a in order]


def test_suite_zero_keys_round_trip(space: NB101Space, records: dict[str, dict]) -> None:
    for key in records:
        arch = space.parse(key)
        assert space.to_str(arch) == key
        assert space.parse(space.to_str(arch)) == arch
        assert space.from_naslib(space.to_naslib(arch)) == arch


def test_params_and_flops_match_suite_zero(space: NB101Space, records: dict[str, dict]) -> None:
    for key in list(records)[:: len(records) // 3][:3]:  # 3 records spread over the file (C=128 nets are big)
        model = space.build(space.parse(key))
        assert count_params(model) == round(records[key]["params"] * 1e6)
        assert count_flops(model, space.input_shape) == pytest.approx(records[key]["flops"] * 1e6, rel=1e-9)


def test_forward_gives_logits(space: NB101Space) -> None:
    model = space.build(make_spec(MATRIX, OPS), stem_channels=8)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_hash_is_isomorphism_invariant_and_discriminates(space: NB101Space) -> None:
    arch = space.parse({"matrix": MATRIX, "ops": OPS})
    swapped = space.parse(dict(zip(("matrix", "ops"), _permuted(MATRIX, OPS, [0, 2, 1, 3, 4, 5, 6]), strict=True)))
    assert swapped != arch and space.canonical(swapped) == space.canonical(arch)
    other_ops = space.parse({"matrix": MATRIX, "ops": [INPUT, CONV3X3, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT]})
    assert space.canonical(other_ops) != space.canonical(arch)
    # an unpruned spec hashes as its pruned cell: a dead-end vertex changes nothing
    dead_end = [row[:] for row in MATRIX]
    dead_end[5][6] = 0
    dead_end[1][5] = 1  # vertex 5 now only receives: pruned away
    pruned = prune(dead_end, OPS)
    assert pruned is not None
    assert space.canonical(space.parse({"matrix": dead_end, "ops": OPS})) == space.canonical(
        space.parse({"matrix": [list(r) for r in pruned.matrix], "ops": list(pruned.ops)}))


def test_equal_hash_records_share_accuracies(space: NB101Space, records: dict[str, dict]) -> None:
    """Records with one benchmark hash are one NB101 cell: their accuracies come from its 3 seeds."""
    groups: dict[str, set[float]] = {}
    for key, entry in records.items():
        groups.setdefault(space.canonical(space.parse(key)), set()).add(entry["val_accuracy"])
    assert len(groups) < len(records)  # the file repeats cells
    assert all(len(values) <= 3 for values in groups.values())


@pytest.mark.parametrize(
    ("matrix", "ops", "message"),
    [
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT], "not connected"),
        ([[0] * 8 for _ in range(8)], [INPUT, *[CONV3X3] * 6, OUTPUT], "8 vertices"),
        ([[1 if j > i else 0 for j in range(7)] for i in range(7)], [INPUT, *[CONV3X3] * 5, OUTPUT], "21 edges"),
        ([[0, 1], [1, 0]], [INPUT, OUTPUT], "strictly upper triangular"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, "conv5x5", OUTPUT], "unknown op"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [CONV3X3, CONV3X3, OUTPUT], "first op"),
        ([[0, 2, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT], "not 0 or 1"),
    ],
)
def test_invalid_specs_rejected(space: NB101Space, matrix: list, ops: list, message: str) -> None:
    with pytest.raises(InvalidArchitectureError, match=message) as info:
        space.parse({"matrix": matrix, "ops": ops})
    assert "\n" not in str(info.value)


def test_malformed_keys_rejected(space: NB101Space) -> None:
    for bad in ("(0, 1, 2)", "0, 1", "(a, b)", "(" + ", ".join(["0"] * 49 + ["9"] * 7) + ")"):
        with pytest.raises(ValueError):
            space.parse(bad)


def test_sampling_and_mutation_stay_valid_and_pruned(space: NB101Space) -> None:
    archs = space.sample_many(40, seed=0)
    archs += [space.mutate(a, seed=i) for i, a in enumerate(archs)]
    archs += space.neighbours(archs[0])
    for arch in archs:
        pruned = arch.pruned
        assert pruned.num_edges <= 9
        assert padded(pruned) == (arch.matrix, arch.ops)  # already pruned: no dead vertex left
        assert space.parse(space.to_str(arch)) == arch
        assert space.encode(arch).shape == (36,)
    assert len({space.key(a) for a in archs[:40]}) == 40


def test_ground_truth_is_suite_zero(space: NB101Space, records: dict[str, dict]) -> None:
    truth = load_truth("auto", space)
    assert len(truth.values) == len(records) and "Suite-Zero" in truth.source
    key = next(iter(records))
    assert truth.values[key] == records[key]["val_accuracy"]


def test_bare_cell_still_mutates(space: NB101Space) -> None:
    """input -> output alone: every single edit is pruned away or disconnects it, so mutation takes two."""
    bare = space.parse({"matrix": [[0, 1], [0, 0]], "ops": [INPUT, OUTPUT]})
    assert space.mutate(bare, seed=0) != bare
    assert all(n.pruned.num_vertices == 3 for n in space.neighbours(bare))
