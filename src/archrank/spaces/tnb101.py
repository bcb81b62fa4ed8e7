"""TransNAS-Bench-101 micro space (Duan et al., CVPR 2021): 4096 cells of 6 edges × 4 ops, seven tasks.

An architecture is NASLib's tuple of op codes ``(a, b, c, d, e, f)`` — node 1 from 0; node 2 from 0, 1; node 3
from 0, 1, 2 (``0 none, 1 skip_connect, 2 nor_conv_1x1, 3 nor_conv_3x3``) — written ``"(1, 0, 0, 2, 1, 0)"`` as
in the benchmark files; the benchmark's own string ``"64-41414-1_00_210"`` is accepted too. The space is
bound to one *task*, which sets the decoder and the ground truth: ``tnb101-micro`` is ``class_scene`` (Taskonomy
scene classification, 63 classes, top-1 accuracy); ``TNB101MicroSpace(task=...)`` picks another, and the
ground truth of every task is available as a truth source named after it (``--truth benchmark:jigsaw``).
Models are built for the classification tasks (``class_scene``, ``class_object``); the other tasks' decoders
(generative, segmentation, siamese, regression) are not built here. Inputs are 256×256 RGB images; no
Taskonomy images are available, so proxies run on synthetic or resized CIFAR-10 inputs (say so with results).
:meth:`TNB101MicroSpace.canonical` follows NB201's isomorphism convention (same cell graph and node sums).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from torch import nn

from archrank.spaces.base import SearchSpace, TruthSource
from archrank.spaces.nb201 import NB201Arch, canonical_key
from archrank.spaces.tnb101_model import BASE_CHANNELS, EDGES, OPS, SKELETON, TNB101MicroNetwork

TASKS: tuple[str, ...] = (
    "class_scene", "class_object", "jigsaw", "room_layout", "segmentsemantic", "autoencoder", "normal",
)
CLASSES = {"class_scene": 63, "class_object": 100}
_METRIC_LABELS = {
    "class_scene": "top-1 accuracy (%)", "class_object": "top-1 accuracy (%)", "jigsaw": "accuracy (%)",
    "segmentsemantic": "pixel accuracy (%)", "autoencoder": "SSIM", "normal": "SSIM",
    "room_layout": "negative L2 loss",
}
_BENCH_RE = re.compile(rf"^{BASE_CHANNELS}-{SKELETON}-([0-3])_([0-3]{{2}})_([0-3]{{3}})$")

TNB101Arch = tuple[int, int, int, int, int, int]


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown TransNAS-Bench-101 task {task!r}; tasks: {', '.join(TASKS)}")
    return task


def task_truth_sources(kind: str, task: str) -> tuple[TruthSource, ...]:
    """Ground truth of every task of the ``kind`` ("micro" or "macro") space, ``task`` first: the all-cell CSV
    (sources named after the task) and the Suite-Zero subset (``suite-zero-<task>``)."""
    every = ("transnas", f"tnb101_{kind}_all.csv")
    suite_zero = ("transnas", f"suite_zero_tnb101_{kind}.json")
    size = "4096" if kind == "micro" else "3256"
    tasks = (task, *(t for t in TASKS if t != task))
    csv = tuple(
        TruthSource(t, every, "archrank.bench.truth_spaces:read_tnb101_csv", "val_metric",
                    f"TransNAS-Bench-101 {kind} (all {size}), task {t}: final validation {_METRIC_LABELS[t]}",
                    _METRIC_LABELS[t], (("task", t),))
        for t in tasks)
    suite = tuple(
        TruthSource(f"suite-zero-{t}", suite_zero, "archrank.bench.truth_spaces:read_suite_zero", "val_accuracy",
                    f"NAS-Bench-Suite-Zero TNB101 {kind} subset, task {t}: validation {_METRIC_LABELS[t]}",
                    _METRIC_LABELS[t], (("dataset", t),))
        for t in tasks)
    return csv + suite


class TNB101MicroSpace(SearchSpace):
    """TransNAS-Bench-101 micro cells for one task (default ``class_scene``); ``len() == 4096``."""

    has_naslib = True
    input_shape = (3, 256, 256)

    def __init__(self, task: str = "class_scene") -> None:
        self.task = check_task(task)
        self.name = "tnb101-micro" if task == "class_scene" else f"tnb101-micro-{task}"
        self.num_classes = CLASSES.get(task, 0)

    def decisions(self) -> tuple[int, ...]:
        return (len(OPS),) * len(EDGES)

    def from_decisions(self, choices: Sequence[int]) -> TNB101Arch:
        return self._check(tuple(int(c) for c in choices))

    def to_decisions(self, arch: TNB101Arch) -> tuple[int, ...]:
        return self._check(arch)

    def to_str(self, arch: TNB101Arch) -> str:
        return str(self._check(arch))

    def from_str(self, text: str) -> TNB101Arch:
        if not isinstance(text, str):
            raise ValueError(f"TransNAS-Bench-101 key must be a str, got {type(text).__name__}")
        body = text.strip()
        match = _BENCH_RE.match(body)
        if match is not None:
            return self._check(tuple(int(c) for c in "".join(match.groups())))
        if not (body.startswith("(") and body.endswith(")")):
            raise ValueError(f"malformed TransNAS-Bench-101 micro key {text!r}: expected '(a, b, c, d, e, f)' "
                             f"or '{BASE_CHANNELS}-{SKELETON}-a_bc_def'")
        try:
            codes = tuple(int(part) for part in body[1:-1].split(",") if part.strip())
        except ValueError:
            raise ValueError(f"malformed TransNAS-Bench-101 micro key {text!r}: entries must be integers") from None
        return self._check(codes)

    def parse(self, ref: Any) -> TNB101Arch:
        """A key string, the benchmark's ``64-41414-a_bc_def`` string, or a tuple of 6 op codes."""
        return self.from_str(ref) if isinstance(ref, str) else self._check(tuple(int(c) for c in ref))

    def to_naslib(self, arch: TNB101Arch) -> TNB101Arch:
        return self._check(arch)

    def from_naslib(self, code: Sequence[int]) -> TNB101Arch:
        return self._check(tuple(int(c) for c in code))

    def benchmark_string(self, arch: TNB101Arch) -> str:
        """The benchmark's own architecture string, e.g. ``64-41414-1_00_210``."""
        a, b, c, d, e, f = self._check(arch)
        return f"{BASE_CHANNELS}-{SKELETON}-{a}_{b}{c}_{d}{e}{f}"

    def canonical(self, arch: TNB101Arch) -> str:
        return canonical_key(NB201Arch(tuple(OPS[c] for c in self._check(arch))))

    def describe(self, arch: TNB101Arch) -> list[tuple[str, Any]]:
        ops = ", ".join(f"{OPS[c]} {src}->{dst}" for (dst, src), c in zip(EDGES, self._check(arch), strict=True))
        return [*super().describe(arch), ("benchmark string", self.benchmark_string(arch)), ("task", self.task),
                ("edges", ops)]

    def build(self, arch: TNB101Arch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """The benchmark's encoder + linear decoder of the task (classification tasks); option ``in_channels``."""
        classes = self.num_classes if num_classes is None else num_classes
        if classes < 1:
            raise ValueError(f"TransNAS-Bench-101 task {self.task!r} has no classification decoder here: "
                             f"build for {', '.join(CLASSES)} or pass num_classes")
        return TNB101MicroNetwork(self._check(arch), num_classes=classes, **kwargs)

    def truth_sources(self) -> tuple[TruthSource, ...]:
        return task_truth_sources("micro", self.task)

    @staticmethod
    def _check(arch: Any) -> TNB101Arch:
        if (not isinstance(arch, tuple) or len(arch) != len(EDGES)
                or any(not isinstance(c, int) or not 0 <= c < len(OPS) for c in arch)):
            raise ValueError(f"TransNAS-Bench-101 micro cell must be {len(EDGES)} op codes in 0..{len(OPS) - 1}, "
                             f"got {arch!r}")
        return arch  # type: ignore[return-value]
