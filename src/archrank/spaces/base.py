"""The search-space interface every space implements (NB201 now; NB101, DARTS cells, user factories later).

An architecture is any hashable, immutable value the space understands. A space can enumerate or sample
architectures, mutate them, list all single-edit neighbours, encode them as a fixed-length vector, give a
canonical (isomorphism-aware) key and a stable string key for the results store, and build the PyTorch model.
Architectures are also describable as a list of categorical *decisions* (``decisions()`` gives the number of
options of each), which is what generic samplers, mutation and REINFORCE controllers work on.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

import numpy as np
from torch import nn

Arch = Hashable


def as_rng(seed: int | random.Random | None) -> random.Random:
    """A ``random.Random`` from a seed, an existing generator (used as is), or ``None`` (fresh entropy)."""
    if isinstance(seed, random.Random):
        return seed
    return random.Random(seed)


class SearchSpace(ABC):
    """Abstract search space. Subclasses set ``name`` and implement the abstract methods."""

    name: str = "abstract"

    # --- decisions: the categorical view used by generic samplers --------------------------------------
    @abstractmethod
    def decisions(self) -> tuple[int, ...]:
        """Number of options of each categorical decision that defines an architecture."""

    @abstractmethod
    def from_decisions(self, choices: Sequence[int]) -> Arch:
        """Architecture from one option index per decision."""

    @abstractmethod
    def to_decisions(self, arch: Arch) -> tuple[int, ...]:
        """Inverse of :meth:`from_decisions`."""

    # --- naming ---------------------------------------------------------------------------------------
    @abstractmethod
    def to_str(self, arch: Arch) -> str:
        """Human-readable, parseable string of an architecture (the benchmark's own format where one exists)."""

    @abstractmethod
    def from_str(self, text: str) -> Arch:
        """Parse :meth:`to_str` output; ``ValueError`` with one clear line when malformed."""

    def parse(self, ref: Any) -> Arch:
        """An architecture from any reference the space accepts (at least its string form)."""
        return self.from_str(ref) if isinstance(ref, str) else ref

    def key(self, arch: Arch) -> str:
        """Stable string identifying the architecture in the results store."""
        return self.to_str(arch)

    def from_key(self, key: str) -> Arch:
        return self.from_str(key)

    @abstractmethod
    def canonical(self, arch: Arch) -> Hashable:
        """Hashable form equal exactly for isomorphic (functionally identical) architectures."""

    # --- model ----------------------------------------------------------------------------------------
    @abstractmethod
    def build(self, arch: Arch, num_classes: int = 10, **kwargs: Any) -> nn.Module:
        """Fresh PyTorch model for ``arch``; ``forward(x)`` returns logits of shape (N, num_classes)."""

    # --- generic operations derived from decisions ----------------------------------------------------
    def __len__(self) -> int:
        return int(np.prod(self.decisions(), dtype=np.int64))

    def __iter__(self) -> Iterator[Arch]:
        return self.enumerate()

    def enumerate(self) -> Iterator[Arch]:
        """Every architecture, in the space's own order."""
        sizes = self.decisions()
        choice = [0] * len(sizes)
        while True:
            yield self.from_decisions(choice)
            for pos in range(len(sizes) - 1, -1, -1):
                choice[pos] += 1
                if choice[pos] < sizes[pos]:
                    break
                choice[pos] = 0
            else:
                return

    def sample(self, seed: int | random.Random | None = None) -> Arch:
        """One architecture drawn uniformly at random."""
        rng = as_rng(seed)
        return self.from_decisions([rng.randrange(n) for n in self.decisions()])

    def sample_many(self, n: int, seed: int | random.Random | None = None, unique: bool = True) -> list[Arch]:
        """``n`` architectures drawn uniformly (without repetition when ``unique``)."""
        rng = as_rng(seed)
        if unique and n > len(self):
            raise ValueError(f"cannot draw {n} distinct architectures from a space of {len(self)}")
        out: list[Arch] = []
        seen: set[Arch] = set()
        while len(out) < n:
            arch = self.sample(rng)
            if unique and arch in seen:
                continue
            seen.add(arch)
            out.append(arch)
        return out

    def neighbours(self, arch: Arch) -> list[Arch]:
        """All architectures that differ from ``arch`` in exactly one decision."""
        base = self.to_decisions(arch)
        out = []
        for pos, size in enumerate(self.decisions()):
            for option in range(size):
                if option != base[pos]:
                    changed = list(base)
                    changed[pos] = option
                    out.append(self.from_decisions(changed))
        return out

    def mutate(self, arch: Arch, seed: int | random.Random | None = None) -> Arch:
        """A uniformly chosen single-edit neighbour."""
        return as_rng(seed).choice(self.neighbours(arch))

    def encode(self, arch: Arch) -> np.ndarray:
        """Fixed-length float vector: the one-hot code of every decision, concatenated."""
        parts = []
        for option, size in zip(self.to_decisions(arch), self.decisions(), strict=True):
            one_hot = np.zeros(size, dtype=np.float32)
            one_hot[option] = 1.0
            parts.append(one_hot)
        return np.concatenate(parts)
