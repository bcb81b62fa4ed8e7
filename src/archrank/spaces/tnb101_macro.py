"""TransNAS-Bench-101 macro space: 3256 skeletons of ResNet basic blocks, seven tasks.

An architecture is a skeleton of 4 to 6 stage codes — ``1`` keep, ``2`` double the width, ``3`` halve the
resolution, ``4`` both — with 1 to 4 resolution halvings (codes 3, 4) and 1 to 3 width doublings (codes 2, 4),
each stage 2 basic blocks (see :mod:`archrank.spaces.tnb101_model`). Its key is NASLib's tuple padded with
zeros to 6 entries, ``"(1, 2, 4, 2, 0, 0)"`` (the benchmark's CSV writes shorter skeletons unpadded,
``"(1, 2, 4, 2)"``: both parse); the benchmark's own string ``"64-1242-basic"`` is accepted too. Like
``tnb101-micro`` the space is bound to a task (default ``class_scene``) that sets the decoder and the ground
truth; inputs are 256×256 and no Taskonomy images are available here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from torch import nn

from archrank.spaces.base import InvalidArchitectureError, SearchSpace, TruthSource
from archrank.spaces.tnb101 import CLASSES, check_task, task_truth_sources
from archrank.spaces.tnb101_model import BASE_CHANNELS, TNB101MicroNetwork

MAX_STAGES, MIN_STAGES = 6, 4
STAGE_CODES = (1, 2, 3, 4)
MAX_DOWNSAMPLES, MAX_WIDENINGS = 4, 3
TNB101_MACRO_SIZE = 3256
_BENCH_RE = re.compile(rf"^{BASE_CHANNELS}-([1-4]{{4,6}})-basic$")

MacroArch = tuple[int, ...]


def check_skeleton(codes: Sequence[int]) -> MacroArch:
    """Validate a skeleton (zero padding at the end allowed); the unpadded tuple."""
    values = [int(c) for c in codes]
    length = next((i for i, c in enumerate(values) if c == 0), len(values))
    if any(c != 0 for c in values[length:]):
        raise InvalidArchitectureError(f"TransNAS-Bench-101 macro skeleton {tuple(values)}: zeros only pad the end")
    stages = tuple(values[:length])
    if any(c not in STAGE_CODES for c in stages):
        raise ValueError(f"TransNAS-Bench-101 macro stage codes must be 1..4, got {tuple(values)}")
    if not MIN_STAGES <= len(stages) <= MAX_STAGES or len(values) > MAX_STAGES:
        raise InvalidArchitectureError(f"TransNAS-Bench-101 macro skeleton {tuple(values)} needs "
                                       f"{MIN_STAGES}..{MAX_STAGES} stages")
    down = sum(c > 2 for c in stages)
    wide = sum(c % 2 == 0 for c in stages)
    if not 1 <= down <= MAX_DOWNSAMPLES or not 1 <= wide <= MAX_WIDENINGS:
        raise InvalidArchitectureError(
            f"TransNAS-Bench-101 macro skeleton {tuple(values)}: {down} resolution halvings (1..{MAX_DOWNSAMPLES}) "
            f"and {wide} width doublings (1..{MAX_WIDENINGS}) are outside the benchmark")
    return stages


class TNB101MacroSpace(SearchSpace):
    """TransNAS-Bench-101 macro skeletons for one task (default ``class_scene``); ``len() == 3256``."""

    has_naslib = True
    input_shape = (3, 256, 256)

    def __init__(self, task: str = "class_scene") -> None:
        self.task = check_task(task)
        self.name = "tnb101-macro" if task == "class_scene" else f"tnb101-macro-{task}"
        self.num_classes = CLASSES.get(task, 0)

    # decisions: the code of each of the 6 stage slots, 0 = no stage (only after the fourth)
    def decisions(self) -> tuple[int, ...]:
        return (len(STAGE_CODES) + 1,) * MAX_STAGES

    def from_decisions(self, choices: Sequence[int]) -> MacroArch:
        return check_skeleton(choices)

    def to_decisions(self, arch: MacroArch) -> tuple[int, ...]:
        return self.to_naslib(arch)

    @property
    def size(self) -> int:
        return TNB101_MACRO_SIZE

    def to_naslib(self, arch: MacroArch) -> tuple[int, ...]:
        stages = self._check(arch)
        return (*stages, *([0] * (MAX_STAGES - len(stages))))

    def from_naslib(self, code: Sequence[int]) -> MacroArch:
        return check_skeleton(code)

    def to_str(self, arch: MacroArch) -> str:
        return str(self.to_naslib(arch))

    def from_str(self, text: str) -> MacroArch:
        if not isinstance(text, str):
            raise ValueError(f"TransNAS-Bench-101 macro key must be a str, got {type(text).__name__}")
        body = text.strip()
        match = _BENCH_RE.match(body)
        if match is not None:
            return check_skeleton([int(c) for c in match.group(1)])
        if not (body.startswith("(") and body.endswith(")")):
            raise ValueError(f"malformed TransNAS-Bench-101 macro key {text!r}: expected '(1, 2, 4, 2, 0, 0)' "
                             f"or '{BASE_CHANNELS}-1242-basic'")
        try:
            return check_skeleton([int(part) for part in body[1:-1].split(",") if part.strip()])
        except ValueError as exc:
            if isinstance(exc, InvalidArchitectureError):
                raise
            raise ValueError(f"malformed TransNAS-Bench-101 macro key {text!r}: {exc}") from None

    def parse(self, ref: Any) -> MacroArch:
        """A key string (padded or not), the benchmark's ``64-…-basic`` string, or a tuple of stage codes."""
        return self.from_str(ref) if isinstance(ref, str) else check_skeleton(ref)

    def benchmark_string(self, arch: MacroArch) -> str:
        return f"{BASE_CHANNELS}-{''.join(map(str, self._check(arch)))}-basic"

    def canonical(self, arch: MacroArch) -> str:
        return self.to_str(arch)

    def describe(self, arch: MacroArch) -> list[tuple[str, Any]]:
        return [*super().describe(arch), ("benchmark string", self.benchmark_string(arch)), ("task", self.task)]

    def build(self, arch: MacroArch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """The benchmark's encoder + linear decoder of the task (classification tasks); option ``in_channels``."""
        classes = self.num_classes if num_classes is None else num_classes
        if classes < 1:
            raise ValueError(f"TransNAS-Bench-101 task {self.task!r} has no classification decoder here: "
                             f"build for {', '.join(CLASSES)} or pass num_classes")
        return TNB101MicroNetwork(None, num_classes=classes, skeleton=self._check(arch), **kwargs)

    def truth_sources(self) -> tuple[TruthSource, ...]:
        return task_truth_sources("macro", self.task)

    @staticmethod
    def _check(arch: Any) -> MacroArch:
        if not isinstance(arch, tuple):
            raise TypeError(f"expected a skeleton tuple, got {type(arch).__name__}: use space.parse() first")
        return check_skeleton(arch)
