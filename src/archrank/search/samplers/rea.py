"""Regularised (aging) evolution, Real et al. (AAAI 2019).

Defaults follow the REA baseline of NAS-Bench-201 / NATS-Bench (``--ea_population 10 --ea_sample_size 3``):
population ``P = 10``, tournament sample ``S = 3``. Each step samples ``S`` members without replacement, mutates
the best one (a uniformly random single-edit neighbour, or the move proposal's pick) and adds the child to the
population, whose oldest member dies. Warmup replaces the random initial population by the proxy's top ``P``.
"""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from archrank.search.guidance import MoveProposal, Warmup
from archrank.search.samplers.base import Sampler
from archrank.spaces.base import Arch, SearchSpace

DEFAULT_POPULATION = 10
DEFAULT_SAMPLE = 3


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
    ) -> None:
        super().__init__(space, seed, warmup, move)
        if population_size < 1 or sample_size < 1:
            raise ValueError(f"need population_size >= 1 and sample_size >= 1, got {population_size}, {sample_size}")
        self.population_size = population_size
        self.sample_size = sample_size
        self.population: deque[tuple[Arch, float]] = deque(maxlen=population_size)
        self._initial = [] if warmup is None else warmup.top(population_size)
        self._asked_initial = 0

    def config(self) -> dict[str, Any]:
        return {"population_size": self.population_size, "sample_size": self.sample_size}

    def _ask(self) -> Arch:
        if self._asked_initial < self.population_size:
            index = self._asked_initial
            self._asked_initial += 1
            if index < len(self._initial):
                return self._initial[index]
            return self.random_fresh()
        if not self.population:
            return self.random_fresh()
        members = list(self.population)
        contenders = self.rng.sample(members, min(self.sample_size, len(members)))
        parent = max(contenders, key=lambda member: member[1])[0]
        if self.move is not None:
            return self.move.propose(parent, self.rng, exclude=self.observed)
        return self.space.mutate(parent, self.rng)

    def _tell(self, arch: Arch, value: float) -> None:
        self.population.append((arch, value))
