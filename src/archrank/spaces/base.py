"""The search-space interface every space implements (NB201, NB101, DARTS cells, macro spaces, user factories).

An architecture is any hashable, immutable value the space understands. A space can enumerate or sample
architectures, mutate them, list all single-edit neighbours, encode them as a fixed-length vector, give a
canonical (isomorphism-aware) key and a stable string key for the results store, and build the PyTorch model.
Architectures are also describable as a list of categorical *decisions* (``decisions()`` gives the number of
options of each), which is what generic samplers, mutation and REINFORCE controllers work on.

Constrained spaces (NB101: not every choice of edges is a valid cell) raise :class:`InvalidArchitectureError`
from ``from_decisions`` for choices that form no architecture of the space; the generic ``sample`` redraws
(rejection sampling), ``neighbours``/``mutate`` skip such edits, and :meth:`SearchSpace.decode` returns
``None`` for them, so every caller only ever sees valid architectures. A space may also override these
operations. Capabilities a space may lack are optional methods with a flag: ``has_index`` (benchmark index),
``has_naslib`` (NASLib encoding); calling one the space lacks raises :class:`CapabilityError`.
``input_shape`` and ``num_classes`` are the benchmark's own defaults that ``build`` uses;
``truth_sources()`` names the ground-truth files of the benchmark.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

Arch = Hashable


def as_rng(seed: int | random.Random | None) -> random.Random:
    """A ``random.Random`` from a seed, an existing generator (used as is), or ``None`` (fresh entropy)."""
    if isinstance(seed, random.Random):
        return seed
    return random.Random(seed)


SAMPLE_TRIES = 10_000  # rejection-sampling attempts before a constrained space gives up


class CapabilityError(NotImplementedError):
    """The space does not offer this capability (e.g. no benchmark index); check the ``has_*`` flag first."""


class InvalidArchitectureError(ValueError):
    """An architecture the space's benchmark calls invalid (e.g. a disconnected NB101 cell)."""


@dataclass(frozen=True)
class TruthSource:
    """A ground-truth file of a benchmark, read by ``archrank.bench.truth_spaces``.

    ``path`` is relative to the data root (``ARCHRANK_DATA``), or one absolute path (a user's own file);
    ``reader`` names the function that reads it as ``"module:function"`` (called as ``reader(path, space,
    source)``, returning a DataFrame indexed by ``arch_key``); ``metric`` is the column used as accuracy;
    ``description`` is the sentence every report prints beside a number measured against it (say there when
    the accuracy is a surrogate's prediction).
    ``options`` are reader settings, e.g. ``(("task", "class_scene"),)``.
    ``fallbacks`` are other places of the same file, tried in order after ``path``; ``marker`` is text the file must
    contain to count as ground truth (e.g. the accuracy field), so a structure-only copy of a benchmark file is
    never taken for one with accuracy, and a fuller copy in either place is found.
    """

    name: str
    path: tuple[str, ...]
    reader: str
    metric: str
    description: str
    label: str = "accuracy (%)"
    options: tuple[tuple[str, Any], ...] = ()
    fallbacks: tuple[tuple[str, ...], ...] = ()
    marker: str | None = None

    def option(self, key: str, default: Any = None) -> Any:
        return dict(self.options).get(key, default)


class StagedNetwork(nn.Module):
    """A network made of ``self.stem`` then ``self.stages`` (a ModuleList). ``forward_features`` returns the output of
    every stage: the multi-resolution maps that Eproxy's heads and the stage-wise proxies read."""

    stem: nn.Module
    stages: nn.ModuleList

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The output of every stage, in order."""
        feats = []
        out = self.stem(x)
        for stage in self.stages:
            out = stage(out)
            feats.append(out)
        return feats


class SearchSpace(ABC):
    """Abstract search space. Subclasses set ``name`` and implement the abstract methods."""

    name: str = "abstract"
    #: (C, H, W) of the benchmark's input images; ``build`` uses it and cost counting assumes it.
    input_shape: tuple[int, int, int] = (3, 32, 32)
    #: classes of the benchmark's task; ``build(arch)`` uses it unless told otherwise.
    num_classes: int = 10
    #: whether :meth:`index` / :meth:`from_index` (a benchmark index) are available.
    has_index: bool = False
    #: whether :meth:`to_naslib` / :meth:`from_naslib` (NASLib's encoding) are available.
    has_naslib: bool = False

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
    def build(self, arch: Arch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """Fresh PyTorch model for ``arch``; ``forward(x)`` returns logits of shape (N, num_classes).

        ``num_classes`` defaults to the benchmark's own (:attr:`num_classes`)."""

    # --- optional capabilities -------------------------------------------------------------------------
    def is_valid(self, arch: Arch) -> bool:
        """Whether ``arch`` is a meaningful network (NB201: its output depends on its input); default True.

        Architectures that the benchmark rejects outright never exist as values: parsing or
        :meth:`from_decisions` raises :class:`InvalidArchitectureError` for them."""
        return True

    def index(self, arch: Arch) -> int:
        """Benchmark index of ``arch`` (only where :attr:`has_index`)."""
        raise CapabilityError(f"search space {self.name} has no benchmark index")

    def from_index(self, index: int) -> Arch:
        """Architecture at a benchmark index (only where :attr:`has_index`)."""
        raise CapabilityError(f"search space {self.name} has no benchmark index")

    def to_naslib(self, arch: Arch) -> Any:
        """NASLib's encoding of ``arch`` (only where :attr:`has_naslib`)."""
        raise CapabilityError(f"search space {self.name} has no NASLib encoding")

    def from_naslib(self, code: Any) -> Arch:
        """Architecture from NASLib's encoding (only where :attr:`has_naslib`)."""
        raise CapabilityError(f"search space {self.name} has no NASLib encoding")

    @property
    def size(self) -> int | None:
        """Number of architectures, or ``None`` for an open-ended space (``len()`` then raises)."""
        return int(np.prod([int(n) for n in self.decisions()], dtype=object))

    def truth_sources(self) -> tuple[TruthSource, ...]:
        """Ground-truth files of the benchmark (present or not); the first is the default."""
        return ()

    def describe(self, arch: Arch) -> list[tuple[str, Any]]:
        """Rows (label, value) that name ``arch`` for ``archrank describe``: benchmark index, string, NASLib
        code, canonical key; spaces append their own rows (genotype, pruned spec, ...)."""
        rows: list[tuple[str, Any]] = []
        if self.has_index:
            rows.append(("index", self.index(arch)))
        rows.append(("string", self.to_str(arch)))
        if self.has_naslib:
            rows.append(("naslib encoding", self.to_naslib(arch)))
        rows.append(("canonical", self.canonical(arch)))
        return rows

    # --- generic operations derived from decisions ----------------------------------------------------
    def decode(self, choices: Sequence[int]) -> Arch | None:
        """:meth:`from_decisions`, or ``None`` when the choices form no valid architecture of the space."""
        try:
            return self.from_decisions(choices)
        except InvalidArchitectureError:
            return None

    def __len__(self) -> int:
        size = self.size
        if size is None:
            raise TypeError(f"search space {self.name} is open-ended: it has no length")
        return size

    def __iter__(self) -> Iterator[Arch]:
        return self.enumerate()

    def enumerate(self) -> Iterator[Arch]:
        """Every architecture, in the space's own order (choices that form none are skipped)."""
        sizes = self.decisions()
        choice = [0] * len(sizes)
        while True:
            arch = self.decode(choice)
            if arch is not None:
                yield arch
            for pos in range(len(sizes) - 1, -1, -1):
                choice[pos] += 1
                if choice[pos] < sizes[pos]:
                    break
                choice[pos] = 0
            else:
                return

    def sample(self, seed: int | random.Random | None = None) -> Arch:
        """One architecture: uniform decisions, redrawn while they form no valid architecture."""
        rng = as_rng(seed)
        for _ in range(SAMPLE_TRIES):
            arch = self.decode([rng.randrange(n) for n in self.decisions()])
            if arch is not None:
                return arch
        raise RuntimeError(f"no valid architecture of {self.name} in {SAMPLE_TRIES} draws")

    def sample_many(self, n: int, seed: int | random.Random | None = None, unique: bool = True) -> list[Arch]:
        """``n`` architectures drawn uniformly (without repetition when ``unique``)."""
        rng = as_rng(seed)
        size = self.size
        if unique and size is not None and n > size:
            raise ValueError(f"cannot draw {n} distinct architectures from a space of {size}")
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
        """All architectures that differ from ``arch`` in exactly one decision (invalid edits skipped)."""
        base = self.to_decisions(arch)
        out: list[Arch] = []
        seen = {arch}
        for pos, size in enumerate(self.decisions()):
            for option in range(size):
                if option != base[pos]:
                    changed = list(base)
                    changed[pos] = option
                    candidate = self.decode(changed)
                    if candidate is not None and candidate not in seen:
                        seen.add(candidate)
                        out.append(candidate)
        return out

    def mutate(self, arch: Arch, seed: int | random.Random | None = None) -> Arch:
        """A uniformly chosen single-edit neighbour."""
        candidates = self.neighbours(arch)
        if not candidates:
            raise ValueError(f"{self.to_str(arch)} has no neighbour in search space {self.name}")
        return as_rng(seed).choice(candidates)

    def encode(self, arch: Arch) -> np.ndarray:
        """Fixed-length float vector: the one-hot code of every decision, concatenated."""
        parts = []
        for option, size in zip(self.to_decisions(arch), self.decisions(), strict=True):
            one_hot = np.zeros(size, dtype=np.float32)
            one_hot[option] = 1.0
            parts.append(one_hot)
        return np.concatenate(parts)
