"""Zero-cost guidance for search algorithms (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS").

- **Warmup** (:class:`Warmup`): score ``n`` distinct random architectures with a proxy and hand the algorithm
  that pool ordered best first; each sampler seeds itself from the top of it (the initial population of
  evolution, the first picks of random search and of REINFORCE, the first training set of the predictor).
- **Move proposal** (:class:`MoveProposal`): instead of a uniformly random mutation, score every single-edit
  neighbour not yet trained and take the best, except with probability ``random_prob`` a random neighbour.
  :meth:`MoveProposal.best_of` applies the same rule to any candidate set (e.g. a controller's samples).

Proxy seconds spent here are charged to the scorer and so to the search's cost.
"""

from __future__ import annotations

import random
from collections.abc import Container, Sequence
from dataclasses import dataclass, field

import numpy as np

from archrank.search.proxy import ProxyScorer
from archrank.spaces.base import Arch, SearchSpace, as_rng


def order_best_first(scores: np.ndarray) -> np.ndarray:
    """Indices sorting ``scores`` from best to worst; NaN last; ties keep their original order."""
    keyed = np.where(np.isnan(scores), -np.inf, scores)
    return np.argsort(-keyed, kind="stable")


@dataclass
class Warmup:
    """A proxy-scored pool of random architectures, best first."""

    archs: list[Arch]
    scores: np.ndarray
    proxy: str = "proxy"
    pool_order: list[int] = field(default_factory=list)

    @classmethod
    def compute(
        cls, space: SearchSpace, scorer: ProxyScorer, n: int, seed: int | random.Random | None = 0
    ) -> Warmup:
        """Score ``n`` distinct uniformly drawn architectures (all of them if the space is smaller)."""
        if n < 1:
            raise ValueError(f"warmup needs a pool of at least 1 architecture, got {n}")
        pool = space.sample_many(min(int(n), len(space)), seed=as_rng(seed))
        scores = scorer(pool)
        order = order_best_first(scores)
        return cls([pool[i] for i in order], scores[order], scorer.name, [int(i) for i in order])

    def top(self, k: int) -> list[Arch]:
        return list(self.archs[: max(int(k), 0)])

    def __len__(self) -> int:
        return len(self.archs)


class MoveProposal:
    """Proxy-guided mutation: the best-scored fresh neighbour, or a random one with probability ``random_prob``."""

    def __init__(self, space: SearchSpace, scorer: ProxyScorer, random_prob: float = 0.1) -> None:
        if not 0.0 <= random_prob <= 1.0:
            raise ValueError(f"random_prob must be in [0, 1], got {random_prob}")
        self.space = space
        self.scorer = scorer
        self.random_prob = float(random_prob)

    def best_of(self, candidates: Sequence[Arch], rng: random.Random, exclude: Container[str] = ()) -> Arch:
        """Among ``candidates`` not in ``exclude`` (keys; all if none is fresh): the best by proxy with
        probability ``1 - random_prob``, else a uniformly random one; a random one too when the proxy scores every
        candidate NaN (it has no preference, and the first candidate would always win)."""
        if not candidates:
            raise ValueError("no candidates to choose from")
        fresh = [c for c in candidates if self.space.key(c) not in exclude] or list(candidates)
        if rng.random() < self.random_prob:
            return rng.choice(fresh)
        scores = self.scorer(fresh)
        if np.isnan(scores).all():
            return rng.choice(fresh)
        return fresh[int(order_best_first(scores)[0])]

    def propose(self, parent: Arch, rng: random.Random, exclude: Container[str] = ()) -> Arch:
        """A neighbour of ``parent`` chosen by :meth:`best_of`."""
        return self.best_of(self.space.neighbours(parent), rng, exclude)
