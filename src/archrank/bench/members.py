"""Which ensemble members to trust on a new space, decided from the scores alone (no labels).

The default ensemble's members were chosen on NB201. On another space a member can break: it may score most
architectures NaN, collapse to a handful of distinct values, or turn *against* the others (NAS-Bench-Suite-Zero
saw proxies flip sign between spaces). :func:`select_members` applies three label-free checks, in this order,
to the scores of the architectures being ranked — exactly what a user has before training anything:

1. **coverage**: a member that fails to score more than ``max_missing`` of the architectures is dropped;
2. **resolution**: a member that leaves at least ``max_tied_pairs`` of the pairs of architectures it scored
   tied is dropped (it cannot order them; ties carry no information). Counting tied *pairs*, not distinct values,
   keeps the check independent of how many architectures are ranked: FLOPs on a cell space take a few dozen
   values, which orders most pairs of 50 cells and of 15625 alike;
3. **consensus**: each remaining member's Spearman ρ with the non-linear aggregate of the *other* members
   (leave-one-out) is computed; the member with the lowest agreement is dropped if that agreement is below
   ``min_agreement``, and the check repeats until every member agrees or two are left (skipped below
   ``min_archs`` architectures, where a rank correlation says little).

The thresholds were fixed before the cross-space accuracy was looked at, from what each check is for: half the
architectures unscored makes a member's rank meaningless for the other half (0.5); a member that leaves half
of the pairs tied cannot order most of them (0.5); a member *anti*-correlated with the consensus of the others
(ρ < 0) contradicts them, while any positive agreement is kept so that a member with a view of its own is not
punished for being different. They are the defaults of :data:`RULE`; nothing was tuned to accuracy.

The resolution check first counted distinct values (drop below 1 in 10 of the architectures). That made its
verdict depend on the sample size — at 200 NB201 cells it dropped ``az_complexity`` (FLOPs: 19 distinct values),
at 50 it kept it — so it was replaced by the tied-pair fraction (session 5, from that label-free observation in
``make demo``'s output; no accuracy was looked at to choose it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from archrank.bench import metrics as m
from archrank.bench.ensemble import DEFAULT_METHOD, aggregate


@dataclass(frozen=True)
class MemberRule:
    """The thresholds of :func:`select_members` (see the module docstring for why these values)."""

    max_missing: float = 0.5
    max_tied_pairs: float = 0.5
    min_agreement: float = 0.0
    min_members: int = 2
    min_archs: int = 20  # fewer architectures than this: the consensus check is too noisy and is skipped


RULE = MemberRule()


@dataclass
class MemberSelection:
    """The members kept, and for each dropped one the check that dropped it and the figure it failed on."""

    kept: tuple[str, ...]
    dropped: dict[str, str] = field(default_factory=dict)
    agreement: dict[str, float] = field(default_factory=dict)

    def describe(self) -> str:
        """One line: what was kept and why anything was dropped."""
        gone = "; ".join(f"{name}: {why}" for name, why in self.dropped.items()) or "none"
        return f"kept {', '.join(self.kept)}; dropped {gone}"


def tied_pair_fraction(values: np.ndarray) -> float:
    """The fraction of pairs of ``values`` (no NaN) that are equal: Σ cᵢ(cᵢ − 1) / (m(m − 1)) over the counts
    cᵢ of each distinct value among the m values; 1.0 when fewer than two values are given (nothing is ordered)."""
    m = values.size
    if m < 2:
        return 1.0
    counts = np.unique(values, return_counts=True)[1].astype(float)
    return float((counts * (counts - 1)).sum() / (m * (m - 1)))


def _loo_agreement(table: pd.DataFrame, members: Sequence[str], method: str) -> dict[str, float]:
    """Each member's Spearman ρ with the aggregate of the others (pairwise-complete architectures)."""
    out = {}
    for name in members:
        others = [p for p in members if p != name]
        consensus = aggregate(table[others], method=method)
        out[name] = m.spearman(table[name].to_numpy(dtype=float), consensus, "omit")
    return out


def select_members(
    table: pd.DataFrame,
    members: Sequence[str],
    rule: MemberRule = RULE,
    method: str = DEFAULT_METHOD,
) -> MemberSelection:
    """Apply the coverage, resolution and consensus checks to ``members`` (columns of ``table``).

    ``table`` holds the unlabelled architectures' scores (rows) — no accuracy is read. Members absent from the
    table are reported as dropped ("not scored"). At least ``rule.min_members`` members are always kept (the
    consensus check stops there).
    """
    if not members:
        raise ValueError("no ensemble members to select from")
    dropped: dict[str, str] = {}
    kept: list[str] = []
    for name in members:
        if name not in table.columns:
            dropped[name] = "not scored"
            continue
        column = table[name].to_numpy(dtype=float)
        present = column[~np.isnan(column)]
        missing = 1.0 - present.size / max(column.size, 1)
        if missing > rule.max_missing:
            dropped[name] = f"coverage: {missing:.0%} of the architectures unscored"
            continue
        tied = tied_pair_fraction(present)
        if tied >= rule.max_tied_pairs:
            dropped[name] = (f"resolution: {tied:.0%} of the pairs tied ({np.unique(present).size} distinct values "
                             f"for {present.size} architectures)")
            continue
        kept.append(name)
    agreement: dict[str, float] = {}
    while len(kept) > rule.min_members and len(table) >= rule.min_archs:
        agreement = _loo_agreement(table, kept, method)
        worst = min(kept, key=lambda p: (np.nan_to_num(agreement[p], nan=-np.inf), p))
        value = agreement[worst]
        if not (np.isnan(value) or value < rule.min_agreement):
            break
        dropped[worst] = f"consensus: ρ {value:.2f} with the other members"
        kept.remove(worst)
    if len(kept) >= 2 and not agreement:
        agreement = _loo_agreement(table, kept, method)
    return MemberSelection(tuple(kept), dropped, {p: agreement[p] for p in kept if p in agreement})


def robust_aggregate(
    table: pd.DataFrame,
    members: Sequence[str],
    rule: MemberRule = RULE,
    method: str = DEFAULT_METHOD,
) -> tuple[np.ndarray, MemberSelection]:
    """The label-free ensemble over the members :func:`select_members` keeps, and the selection itself."""
    selection = select_members(table, members, rule, method)
    if not selection.kept:
        raise ValueError(f"no ensemble member survived the label-free checks: {selection.describe()}")
    return aggregate(table[list(selection.kept)], method=method), selection
