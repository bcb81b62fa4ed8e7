"""Label-free member selection: each check drops what it is for and keeps what it should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from archrank.bench.ensemble import aggregate
from archrank.bench.members import MemberRule, robust_aggregate, select_members, tied_pair_fraction


def _table(n: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    signal = rng.normal(size=n)
    return pd.DataFrame({f"p{i}": signal + rng.normal(scale=0.5, size=n) for i in range(4)})


def test_agreeing_members_are_all_kept() -> None:
    table = _table()
    selection = select_members(table, list(table.columns))
    assert selection.kept == tuple(table.columns)
    assert not selection.dropped
    assert all(v > 0.5 for v in selection.agreement.values())


def test_anti_correlated_member_is_dropped_by_consensus() -> None:
    table = _table()
    table["flipped"] = -table["p0"]
    selection = select_members(table, list(table.columns))
    assert "flipped" not in selection.kept
    assert selection.dropped["flipped"].startswith("consensus")
    assert set(selection.kept) == {"p0", "p1", "p2", "p3"}


def test_coverage_and_resolution_checks() -> None:
    table = _table()
    table["sparse"] = table["p0"].where(np.arange(len(table)) % 3 == 0)  # two thirds missing
    table["flat"] = (table["p1"] > 1.5).astype(float)  # two distinct values, most architectures on one
    table["zeros"] = 0.0  # a truly known, constant value: not NaN, but no resolution
    selection = select_members(table, list(table.columns))
    assert selection.dropped["sparse"].startswith("coverage")
    assert selection.dropped["flat"].startswith("resolution")
    assert selection.dropped["zeros"].startswith("resolution")
    assert table["zeros"].eq(0.0).all()  # the caller's table is not touched


def test_resolution_does_not_depend_on_how_many_architectures_are_ranked() -> None:
    """A proxy with a few dozen levels (FLOPs on a cell space) orders most pairs of 50 or of 5000 architectures."""
    for n in (50, 5000):
        table = _table(n)
        levels = np.quantile(table["p0"], np.linspace(0, 1, 25))
        table["coarse"] = levels[np.searchsorted(levels, table["p0"].clip(upper=levels[-1]))]
        assert table["coarse"].nunique() / n <= 0.5 and table["coarse"].nunique() <= 25
        selection = select_members(table, list(table.columns))
        assert "coarse" in selection.kept, (n, selection.describe())


def test_tied_pair_fraction() -> None:
    assert tied_pair_fraction(np.array([1.0, 2.0, 3.0])) == 0.0
    assert tied_pair_fraction(np.array([5.0, 5.0, 5.0, 5.0])) == 1.0
    assert tied_pair_fraction(np.array([0.0, 0.0, 1.0, 1.0])) == pytest.approx(2 / 6)  # 2 tied of 6 pairs
    assert tied_pair_fraction(np.array([7.0])) == 1.0


def test_missing_member_is_reported_and_minimum_kept() -> None:
    table = _table()[["p0", "p1"]].assign(p1=lambda t: -t["p0"])
    selection = select_members(table, ["p0", "p1", "absent"])
    assert selection.dropped == {"absent": "not scored"}
    assert selection.kept == ("p0", "p1")  # never fewer than min_members by the consensus check


def test_threshold_is_respected() -> None:
    table = _table()
    rng = np.random.default_rng(1)
    table["noise"] = rng.normal(size=len(table))
    strict = select_members(table, list(table.columns), MemberRule(min_agreement=0.5))
    assert "noise" not in strict.kept
    lenient = select_members(table, list(table.columns), MemberRule(min_agreement=-1.0))
    assert "noise" in lenient.kept


def test_robust_aggregate_equals_aggregate_over_kept() -> None:
    table = _table()
    table["flipped"] = -table["p2"]
    values, selection = robust_aggregate(table, list(table.columns))
    np.testing.assert_array_equal(values, aggregate(table[list(selection.kept)]))


def test_no_members_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match="no ensemble members"):
        select_members(_table(), [])
