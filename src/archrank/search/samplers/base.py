"""The ask/tell interface every search algorithm implements.

``arch = sampler.ask()`` proposes the next architecture to train; ``sampler.tell(arch, value)`` reports its
validation accuracy (higher is better; NaN, e.g. a failed training, ranks below every number).
Multi-fidelity policies also choose the fidelity: ``arch, level = sampler.propose()`` (``level`` an index into
the oracle's fidelities, ``None`` for the search's default) and ``sampler.tell(arch, value, level)``; a sampler
that does not choose (:attr:`Sampler.multi_fidelity` false) proposes ``(ask(), None)``.

:func:`archrank.search.run` drives the loop, skips training for an architecture already trained (it tells the
known value again), and replays a recorded run into a fresh sampler to resume it, which is why samplers draw
every random number from their own ``self.rng``.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from archrank.search.guidance import MoveProposal, Warmup
from archrank.spaces.base import Arch, SearchSpace, as_rng

FRESH_TRIES = 100


def _better(value: float, than: float) -> bool:
    """``value > than`` with NaN below every number (a first NaN is replaced by any later number)."""
    if math.isnan(value):
        return False
    return math.isnan(than) or value > than


class Sampler(ABC):
    """Base class: keeps the observations, the best one, and the optional warmup pool and move proposal."""

    name: ClassVar[str] = "abstract"
    supports_move: ClassVar[bool] = False
    multi_fidelity: ClassVar[bool] = False

    def __init__(
        self,
        space: SearchSpace,
        seed: int | random.Random | None = 0,
        warmup: Warmup | None = None,
        move: MoveProposal | None = None,
    ) -> None:
        if move is not None and not self.supports_move:
            raise ValueError(f"{self.name} has no mutation step, so move proposal does not apply to it")
        self.space = space
        self.rng = as_rng(seed)
        self.warmup = warmup
        self.move = move
        self.observed: dict[str, float] = {}
        self.archs: dict[str, Arch] = {}
        self.best: tuple[Arch, float] | None = None

    # --- public interface ----------------------------------------------------------------------------
    def ask(self) -> Arch:
        """The next architecture to train."""
        return self._ask()

    def propose(self) -> tuple[Arch, int | None]:
        """The next architecture and the fidelity level to train it at (``None``: the search's default)."""
        return self.ask(), None

    def tell(self, arch: Arch, value: float, level: int | None = None) -> None:
        """Report the validation accuracy of an architecture returned by :meth:`ask` (or :meth:`propose`, at
        ``level``)."""
        key = self.space.key(arch)
        value = float(value)
        self.observed[key] = value
        self.archs[key] = arch
        if self.best is None or _better(value, self.best[1]):
            self.best = (arch, value)
        self._tell_at(arch, value, level)

    def _tell_at(self, arch: Arch, value: float, level: int | None) -> None:
        """Route an observation (default: ignore the level; policies over fidelities override this)."""
        self._tell(arch, value)

    def config(self) -> dict[str, Any]:
        """Hyper-parameters that define the algorithm (recorded with a run; a resume must match them)."""
        return {}

    # --- helpers for subclasses ----------------------------------------------------------------------
    def is_new(self, arch: Arch) -> bool:
        return self.space.key(arch) not in self.observed

    def random_fresh(self) -> Arch:
        """A uniformly drawn architecture not observed yet (any one after ``FRESH_TRIES`` failed draws)."""
        arch = self.space.sample(self.rng)
        for _ in range(FRESH_TRIES):
            if self.is_new(arch):
                return arch
            arch = self.space.sample(self.rng)
        return arch

    @abstractmethod
    def _ask(self) -> Arch: ...

    def _tell(self, arch: Arch, value: float) -> None:  # noqa: B027 - optional hook
        """Update the algorithm's state (default: nothing beyond the bookkeeping of :meth:`tell`)."""
