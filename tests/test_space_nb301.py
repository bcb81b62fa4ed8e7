"""NB301 (DARTS) space: Suite-Zero keys and DARTS genotypes, exact parameter counts, validity of search moves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from archrank import get_space
from archrank.bench.truth import load_truth
from archrank.proxies.cost import count_flops, count_params
from archrank.spaces import InvalidArchitectureError
from archrank.spaces.nb301 import NB301Arch, NB301Space


@pytest.fixture(scope="module")
def space() -> NB301Space:
    sp = get_space("nb301")
    assert isinstance(sp, NB301Space)
    return sp


@pytest.fixture(scope="module")
def records(data_root: Path) -> dict[str, dict]:
    path = data_root / "nb301" / "suite_zero_nb301_cifar10.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return json.loads(path.read_text())["cifar10"]


def test_keys_and_genotypes_round_trip(space: NB301Space, records: dict[str, dict]) -> None:
    for key in records:
        arch = space.parse(key)
        assert space.to_str(arch) == key
        assert space.parse(arch.genotype()) == arch
        assert space.from_naslib(space.to_naslib(arch)) == arch


def test_params_and_flops_match_suite_zero(space: NB301Space, records: dict[str, dict]) -> None:
    for key in list(records)[::250]:
        model = space.build(space.parse(key))
        assert count_params(model) == round(records[key]["params"]["score"] * 1e6)
        assert count_flops(model, space.input_shape) == pytest.approx(records[key]["flops"]["score"] * 1e6, rel=1e-9)


def test_forward_gives_logits(space: NB301Space) -> None:
    model = space.build(space.sample(0), C=8)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_invalid_genotypes_rejected(space: NB301Space) -> None:
    good = [(0, 0), (1, 1)] * 4
    with pytest.raises(InvalidArchitectureError, match="takes input 1 twice"):
        NB301Arch(tuple([(1, 0), (1, 1), *good[2:]]), tuple(good))
    with pytest.raises(ValueError, match="cannot take input 2"):
        NB301Arch(tuple([(2, 0), (1, 1), *good[2:]]), tuple(good))
    with pytest.raises(ValueError, match="op index 7"):
        NB301Arch(tuple([(0, 7), (1, 1), *good[2:]]), tuple(good))
    with pytest.raises(ValueError, match="8 \\(input, op\\) pairs"):
        NB301Arch(tuple(good[:6]), tuple(good))
    for bad in ("[[(0, 0)]]", "not a key", "__import__('os')", "Genotype(normal=[('none', 0)], reduce=[])"):
        with pytest.raises(ValueError):
            space.parse(bad)


def test_canonical_ignores_pair_order(space: NB301Space, records: dict[str, dict]) -> None:
    arch = space.parse(next(iter(records)))
    swapped = NB301Arch((arch.normal[1], arch.normal[0], *arch.normal[2:]), arch.reduce)
    assert swapped != arch and space.canonical(swapped) == space.canonical(arch)
    assert count_params(space.build(swapped)) == count_params(space.build(arch))


def test_sampling_and_mutation_stay_valid(space: NB301Space) -> None:
    archs = space.sample_many(20, seed=0)
    archs += [space.mutate(a, seed=i) for i, a in enumerate(archs)]
    for arch in archs:
        assert space.parse(space.to_str(arch)) == arch  # re-validates every node's inputs
    assert len(space.neighbours(archs[0])) > 50
    assert space.encode(archs[0]).shape == (sum(space.decisions()),)
    assert space.size is not None and len(space) == space.size


def test_ground_truth_names_the_surrogate(space: NB301Space) -> None:
    truth = load_truth("auto", space)
    assert len(truth.values) == 725 and "SURROGATE" in truth.source
