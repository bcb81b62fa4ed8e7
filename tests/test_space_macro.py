"""NAS-Bench-Macro space: exact parameter counts and FLOPs, the benchmark's strings and its de-duplication."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from archrank import get_space
from archrank.bench.truth import load_truth
from archrank.proxies.cost import count_flops, count_params
from archrank.spaces.macro import MacroSpace


@pytest.fixture(scope="module")
def space() -> MacroSpace:
    sp = get_space("macro")
    assert isinstance(sp, MacroSpace)
    return sp


@pytest.fixture(scope="module")
def records(data_root: Path) -> dict[str, dict]:
    path = data_root / "macro" / "nas-bench-macro_cifar10.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return json.loads(path.read_text())


def test_every_string_round_trips(space: MacroSpace, records: dict[str, dict]) -> None:
    assert len(space) == len(records) == 6561
    assert {space.to_str(a) for a in space.enumerate()} == set(records)
    for key in records:
        assert space.to_str(space.parse(key)) == key


def test_params_and_flops_on_a_sample(space: MacroSpace, records: dict[str, dict]) -> None:
    for key in sorted(records)[::800]:
        model = space.build(space.parse(key))
        assert count_params(model) == records[key]["params"]
        assert count_flops(model, space.input_shape, "macs") == records[key]["flops"]
    assert space.build("22222222")(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_canonical_is_the_trained_string(space: MacroSpace, records: dict[str, dict]) -> None:
    """The benchmark copied one training to every string that only moves identities within a stage."""
    canonical = {key: space.canonical(key) for key in records}
    assert all(records[k]["test_acc"] == records[c]["test_acc"] for k, c in canonical.items())
    assert space.canonical("02102100") == space.canonical("02120100") == "02120100"
    assert space.canonical("10000000") != space.canonical("01000000")  # a stage's first layer is not movable
    assert len(set(canonical.values())) < len(records)


@pytest.mark.parametrize("bad", ["0201210", "020121003", "02012130", "abcdefgh", ""])
def test_malformed_strings_rejected(space: MacroSpace, bad: str) -> None:
    with pytest.raises(ValueError, match="NAS-Bench-Macro"):
        space.parse(bad)


def test_search_operations(space: MacroSpace) -> None:
    arch = space.sample(0)
    assert len(space.neighbours(arch)) == 16 and space.mutate(arch, seed=1) in space.neighbours(arch)
    assert space.encode(arch).shape == (24,)


def test_ground_truth(space: MacroSpace, records: dict[str, dict]) -> None:
    truth = load_truth("auto", space)
    assert len(truth.values) == 6561 and "3 trainings" in truth.source
    assert truth.values["02012100"] == pytest.approx(records["02012100"]["mean_acc"])
