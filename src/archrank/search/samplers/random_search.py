"""Random search: uniform sampling without repeats; with warmup, the proxy's top picks come first."""

from __future__ import annotations

import random
from collections import deque
from typing import Any

from archrank.search.guidance import MoveProposal, Warmup
from archrank.search.samplers.base import Sampler
from archrank.spaces.base import Arch, SearchSpace


class RandomSearch(Sampler):
    """Uniform random search. With a warmup pool, its first ``warmup_picks`` architectures (all of the pool
    when ``None``) are proposed in proxy order, best first, before uniform sampling starts."""

    name = "random"
    supports_move = False

    def __init__(
        self,
        space: SearchSpace,
        seed: int | random.Random | None = 0,
        warmup: Warmup | None = None,
        move: MoveProposal | None = None,
        warmup_picks: int | None = None,
    ) -> None:
        super().__init__(space, seed, warmup, move)
        self.warmup_picks = warmup_picks
        picks = [] if warmup is None else warmup.top(len(warmup) if warmup_picks is None else warmup_picks)
        self._queue: deque[Arch] = deque(picks)

    def config(self) -> dict[str, Any]:
        return {"warmup_picks": self.warmup_picks}

    def _ask(self) -> Arch:
        while self._queue:
            arch = self._queue.popleft()
            if self.is_new(arch):
                return arch
        return self.random_fresh()
