"""EcoNAS's hierarchical proxy (Zhou et al., CVPR 2020, Sec. 4) as a policy over an oracle's fidelities, on top of
archrank's one regularised evolution.

Each fidelity level ``k`` (cheapest first) has its own population: a
:class:`~archrank.search.samplers.rea.RegularizedEvolution` of ``tier_capacity[k]`` members (aging: the oldest
dies when a new one enters). Every new child is trained at the cheapest fidelity and enters level 0; its parent is
the tournament winner of a level drawn with ``tier_weights`` among the non-empty ones, mutated by that level's
sampler (so move proposal applies). After every ``promote_every`` children proposed (one already trained at the
cheapest fidelity counts too: it is a cycle that cost nothing), the best ``promote_top`` members of
each level not promoted yet (a failed training, NaN, never is) are trained at the next fidelity and enter the
next level (top level first, so a member climbs one level per round). Most compute thus goes to promising
candidates; unpromising ones are discarded after the cheap fidelity. The search returns the best architecture at
the highest fidelity reached.

The first ``initial`` children fill level 0 (the warmup's top picks when there is a warmup, else random ones):
with a zero-cost warmup and move proposal this is the "zero-cost-warmed hierarchical search". A promoted member
stays in its lower level until it ages out (it can be a parent there too). The paper fixes no hyper-parameters
for NB201: the defaults are ours.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Sequence
from typing import Any

from archrank.search.guidance import MoveProposal, Warmup
from archrank.search.samplers.base import Sampler
from archrank.search.samplers.rea import RegularizedEvolution, tournament_key
from archrank.spaces.base import Arch, SearchSpace

DEFAULT_INITIAL = 20
DEFAULT_TOURNAMENT = 5
DEFAULT_PROMOTE_EVERY = 5
DEFAULT_PROMOTE_TOP = 2


def default_capacities(levels: int) -> tuple[int, ...]:
    """30 members at the cheapest level, halving at each level up (at least 5)."""
    return tuple(max(5, 30 // 2**i) for i in range(levels))


class HierarchicalEvolution(Sampler):
    """EcoNAS's hierarchy of fidelities over per-level regularised evolution (see the module doc)."""

    name = "hierarchical"
    supports_move = True
    multi_fidelity = True

    def __init__(
        self,
        space: SearchSpace,
        seed: int | random.Random | None = 0,
        warmup: Warmup | None = None,
        move: MoveProposal | None = None,
        levels: int = 2,
        initial: int = DEFAULT_INITIAL,
        tier_capacity: Sequence[int] | None = None,
        tournament: int = DEFAULT_TOURNAMENT,
        promote_every: int = DEFAULT_PROMOTE_EVERY,
        promote_top: int = DEFAULT_PROMOTE_TOP,
        tier_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__(space, seed, warmup, move)
        if levels < 1:
            raise ValueError(f"the hierarchy needs at least one fidelity level, got {levels}")
        capacity = tuple(tier_capacity) if tier_capacity is not None else default_capacities(levels)
        weights = tuple(tier_weights) if tier_weights is not None else (1.0,) * levels
        if len(capacity) != levels or len(weights) != levels:
            raise ValueError(f"tier_capacity and tier_weights need one entry per fidelity level ({levels})")
        if promote_every < 1 or promote_top < 0 or initial < 1:
            raise ValueError("need promote_every >= 1, promote_top >= 0 and initial >= 1")
        self.levels, self.initial, self.capacity, self.weights = levels, int(initial), capacity, weights
        self.tournament, self.promote_every, self.promote_top = tournament, promote_every, promote_top
        # one REA per level, all drawing from this sampler's generator; level 0 fills itself from the warmup
        self.tiers = [
            RegularizedEvolution(space, self.rng, warmup if k == 0 else None, move, population_size=capacity[k],
                                 sample_size=tournament, initial=self.initial if k == 0 else 0)
            for k in range(levels)
        ]
        self.promoted: list[set[str]] = [set() for _ in range(levels)]
        self.pending: deque[tuple[Arch, int]] = deque()
        self.children = 0
        self.promotions = 0
        self._promote_due = False

    def config(self) -> dict[str, Any]:
        return {"levels": self.levels, "initial": self.initial, "tier_capacity": list(self.capacity),
                "tournament": self.tournament, "promote_every": self.promote_every,
                "promote_top": self.promote_top, "tier_weights": list(self.weights)}

    def propose(self) -> tuple[Arch, int | None]:
        if self._promote_due:
            self._promote_due = False
            self.pending.extend(self._promotions())
        if self.pending:
            self.promotions += 1
            return self.pending.popleft()
        bottom = self.tiers[0]
        if bottom.in_initial_phase():
            return bottom.ask(), 0
        self.children += 1
        if self.children % self.promote_every == 0:
            self._promote_due = True
        choices = [k for k in range(self.levels) if self.tiers[k].population]
        if not choices:
            return self.random_fresh(), 0
        level = self.rng.choices(choices, weights=[self.weights[k] for k in choices])[0]
        tier = self.tiers[level]
        return tier.child_of(tier.select_parent(), exclude=self.tiers[0].observed), 0

    def _ask(self) -> Arch:
        return self.propose()[0]

    def _promotions(self) -> list[tuple[Arch, int]]:
        out = []
        for level in range(self.levels - 2, -1, -1):
            known = [m for m in self.tiers[level].population if not math.isnan(m[1])]
            members = sorted(known, key=tournament_key, reverse=True)
            picked = 0
            for arch, _ in members:
                key = self.space.key(arch)
                if picked == self.promote_top:
                    break
                if key in self.promoted[level]:
                    continue
                self.promoted[level].add(key)
                out.append((arch, level + 1))
                picked += 1
        return out

    def _tell_at(self, arch: Arch, value: float, level: int | None) -> None:
        self.tiers[0 if level is None else level].tell(arch, value)
