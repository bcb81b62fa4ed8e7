"""Regularised (aging) evolution, Real et al. (AAAI 2019): archrank's one implementation of the algorithm.

Defaults follow the REA baseline of NAS-Bench-201 / NATS-Bench (``--ea_population 10 --ea_sample_size 3``):
population ``P = 10``, tournament sample ``S = 3``. The first ``initial`` proposals (default ``P``) fill the
population: the architectures of ``start_with`` first (e.g. a known good configuration), then the warmup's
top picks (each architecture once), then uniformly random ones. Each later step samples ``S`` members without
replacement, takes the best (a member whose value is NaN ranks below every number), mutates it (``space.mutate``,
or the move proposal's pick) and adds the child to the population, whose oldest member dies.

The tournament and the mutation are public (:meth:`RegularizedEvolution.select_parent`,
:meth:`RegularizedEvolution.child_of`) so that policies built on top of this sampler, such as EcoNAS's
hierarchy over fidelities (:mod:`archrank.search.samplers.hierarchical`), use the same algorithm. Discrete Proxy
Search (:mod:`archrank.eproxy.dps`) is this sampler on a space of Eproxy configurations, whose ``mutate``
resamples each gene with a probability.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Container, Sequence
from typing import Any

from archrank.search.guidance import MoveProposal, Warmup
from archrank.search.samplers.base import Sampler
from archrank.spaces.base import Arch, SearchSpace

DEFAULT_POPULATION = 10
DEFAULT_SAMPLE = 3


def tournament_key(member: tuple[Arch, float]) -> float:
    """Fitness of a population member for a tournament: its value, NaN ranked below every number."""
    value = member[1]
    return -math.inf if math.isnan(value) else value


class RegularizedEvolution(Sampler):
    """Aging evolution with an optional proxy-seeded population and proxy-guided mutation."""

    name = "rea"
    supports_move = True

    def __init__(
        self,
        space: SearchSpace,
        seed: int | random.Random | None = 0,
        warmup: Warmup | None = None,
        move: MoveProposal | None = None,
        population_size: int = DEFAULT_POPULATION,
        sample_size: int = DEFAULT_SAMPLE,
        initial: int | None = None,
        start_with: Sequence[Arch] = (),
    ) -> None:
        super().__init__(space, seed, warmup, move)
        if population_size < 1 or sample_size < 1:
            raise ValueError(f"need population_size >= 1 and sample_size >= 1, got {population_size}, {sample_size}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.initial = population_size if initial is None else int(initial)
        if self.initial < 0:
            raise ValueError(f"initial must be >= 0, got {self.initial}")
        self.start_with = [space.parse(a) for a in start_with]
        self.population: deque[tuple[Arch, float]] = deque(maxlen=population_size)
        picks = [] if warmup is None else warmup.top(self.initial + len(self.start_with))
        distinct: dict[str, Arch] = {}  # a warmup pick that is also in start_with is proposed once
        for arch in self.start_with + picks:
            distinct.setdefault(space.key(arch), arch)
        self._initial = list(distinct.values())[: max(self.initial, len(self.start_with))]
        self._asked_initial = 0

    def config(self) -> dict[str, Any]:
        out: dict[str, Any] = {"population_size": self.population_size, "sample_size": self.sample_size}
        if self.initial != self.population_size:
            out["initial"] = self.initial
        if self.start_with:
            out["start_with"] = [self.space.key(a) for a in self.start_with]
        return out

    def in_initial_phase(self) -> bool:
        """Whether the next proposal still fills the initial population."""
        return self._asked_initial < max(self.initial, len(self.start_with))

    def select_parent(self) -> Arch:
        """Tournament: the best of ``sample_size`` members drawn without replacement (NaN ranks last)."""
        members = list(self.population)
        contenders = self.rng.sample(members, min(self.sample_size, len(members)))
        return max(contenders, key=tournament_key)[0]

    def child_of(self, parent: Arch, exclude: Container[str] | None = None) -> Arch:
        """A mutation of ``parent``: the move proposal's pick (avoiding ``exclude``, default: every observed
        architecture) when there is one, else ``space.mutate``."""
        if self.move is not None:
            return self.move.propose(parent, self.rng, exclude=self.observed if exclude is None else exclude)
        return self.space.mutate(parent, self.rng)

    def _ask(self) -> Arch:
        if self.in_initial_phase():
            index = self._asked_initial
            self._asked_initial += 1
            if index < len(self._initial):
                return self._initial[index]
            return self.random_fresh()
        if not self.population:
            return self.random_fresh()
        return self.child_of(self.select_parent())

    def _tell(self, arch: Arch, value: float) -> None:
        self.population.append((arch, value))
