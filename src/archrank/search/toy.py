"""A tiny synthetic search space with a planted optimum, for tests and demonstrations.

``ToySpace(sizes)`` has one categorical decision per entry of ``sizes``; an architecture is the tuple of
chosen options. :func:`planted_oracle` scores an architecture by how many decisions match a planted target
(validation = test = 100 * matches / len(target), minus a small per-option penalty that breaks ties), and
:func:`planted_proxy` is a noisy, imperfect proxy of the same signal.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from torch import nn

from archrank.search.oracles import OracleResult, TrainingOracle
from archrank.spaces.base import SearchSpace


class ToySpace(SearchSpace):
    """``len(sizes)`` categorical decisions; architectures are tuples of option indices."""

    name = "toy"

    def __init__(self, sizes: Sequence[int] = (4, 4, 4, 4, 4)) -> None:
        self.sizes = tuple(int(s) for s in sizes)

    def decisions(self) -> tuple[int, ...]:
        return self.sizes

    def from_decisions(self, choices: Sequence[int]) -> tuple[int, ...]:
        return tuple(int(c) for c in choices)

    def to_decisions(self, arch: Any) -> tuple[int, ...]:
        return tuple(arch)

    def to_str(self, arch: Any) -> str:
        return "-".join(str(c) for c in arch)

    def from_str(self, text: str) -> tuple[int, ...]:
        try:
            arch = tuple(int(p) for p in text.split("-"))
        except ValueError:
            raise ValueError(f"malformed toy architecture {text!r}") from None
        if len(arch) != len(self.sizes) or any(not 0 <= c < n for c, n in zip(arch, self.sizes, strict=True)):
            raise ValueError(f"toy architecture {text!r} does not fit decisions {self.sizes}")
        return arch

    def canonical(self, arch: Any) -> tuple[int, ...]:
        return tuple(arch)

    def build(self, arch: Any, num_classes: int = 10, **kwargs: Any) -> nn.Module:
        width = 4 + sum(arch)
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(width), nn.ReLU(), nn.Linear(width, num_classes))


def planted_value(arch: Sequence[int], target: Sequence[int]) -> float:
    matches = sum(int(a == t) for a, t in zip(arch, target, strict=True))
    penalty = 0.01 * sum(abs(a - t) for a, t in zip(arch, target, strict=True))
    return 100.0 * matches / len(target) - penalty


def planted_oracle(target: Sequence[int], cost_s: float = 100.0) -> TrainingOracle:
    """Oracle whose unique optimum (value 100) is ``target``; each query costs ``cost_s``."""
    target = tuple(target)

    def train(arch: Sequence[int]) -> OracleResult:
        value = planted_value(arch, target)
        return OracleResult(value, value, cost_s)

    return TrainingOracle(train, name="planted")


def planted_proxy(target: Sequence[int], noise: float = 10.0, seed: int = 0) -> Any:
    """A proxy correlated with the planted objective: the value plus arch-seeded uniform noise."""
    target = tuple(target)

    def proxy(arch: Sequence[int]) -> float:
        jitter = random.Random(f"{seed}:{tuple(arch)}").uniform(-noise, noise)
        return planted_value(arch, target) + jitter

    return proxy
