"""Every search algorithm runs unchanged on every added space, constrained ones (NB101, NB301) included."""

from __future__ import annotations

import pytest

from archrank import get_space
from archrank.search import run

SPACES = ("nb101", "nb301", "macro", "tnb101-micro", "tnb101-macro")


@pytest.mark.parametrize("name", SPACES)
@pytest.mark.parametrize("algorithm", ["random", "rea", "reinforce", "predictor"])
def test_search_runs_and_proposes_valid_architectures(name: str, algorithm: str) -> None:
    space = get_space(name)

    def oracle(arch: object) -> tuple[float, float]:
        code = space.encode(arch)  # a deterministic made-up accuracy
        return float(code[: len(code) // 2].sum()), 0.0

    hist = run(space, algorithm=algorithm, oracle=oracle, budget=10, seed=0)
    assert len(hist.queries) == 10
    for arch, *_ in hist.queries:
        assert space.parse(space.to_str(arch)) == arch  # parsing re-validates constrained spaces


@pytest.mark.parametrize("name", ["nb101", "nb301"])
def test_huge_spaces_refuse_enumeration(name: str) -> None:
    with pytest.raises(ValueError, match="cannot be enumerated"):
        next(iter(get_space(name).enumerate()))
