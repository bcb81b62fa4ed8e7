"""NAS-Bench-Macro (Su et al., 2021): 8 searchable layers, 3 choices each, 6561 networks trained on CIFAR-10.

An architecture is the benchmark's digit string, e.g. ``"02012100"``: layer ``i`` takes choice ``0`` identity
(a 1×1 conv + BN projection when the stride or width changes), ``1`` a MobileNetV2 inverted residual with
expansion 3 and kernel 3, or ``2`` expansion 6 and kernel 5. The network: stem conv3×3 (3 -> 32, no bias) + BN +
ReLU; layers in stages of 2, 3, 3 whose first layer has stride 2 and doubles the width (32 -> 64 -> 128 -> 256);
head 1×1 conv to 1280 + BN + ReLU, global average pooling, linear classifier. Parameter counts equal the
benchmark's for all 6561 (``benchmarks/spaces_exactness.py``).

The benchmark trained one network per *distinct* function and copied its result to every string that only
moves identity layers within a stage: an identity at a non-first layer of a stage acts the same anywhere in
that stage. :meth:`MacroSpace.canonical` is that trained string (identities of a stage moved to its end).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from archrank.spaces.base import SearchSpace, StagedNetwork, TruthSource

STAGES: tuple[int, ...] = (2, 3, 3)
CHOICES: tuple[str, ...] = ("identity", "mbconv_t3_k3", "mbconv_t6_k5")
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
MACRO_FILE = ("macro", "nas-bench-macro_cifar10.json")
_ARCH_RE = re.compile(r"^[012]{8}$")


def _conv_bn(
    c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True
) -> list[nn.Module]:
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return layers


class IdentityLayer(nn.Module):
    """Choice 0: identity, or a 1×1 conv + BN projection where the stride or width changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        changes = stride != 1 or c_in != c_out
        self.project = nn.Sequential(*_conv_bn(c_in, c_out, 1, stride, relu=False)) if changes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.project is None else self.project(x)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1×1 expand-BN-ReLU, depthwise k×k-BN-ReLU, 1×1 project-BN; residual if shape kept."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int, kernel: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        self.body = nn.Sequential(
            *_conv_bn(c_in, hidden, 1),
            *_conv_bn(hidden, hidden, kernel, stride, groups=hidden),
            *_conv_bn(hidden, c_out, 1, relu=False),
        )
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return out + x if self.residual else out


def make_layer(choice: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    if choice == 0:
        return IdentityLayer(c_in, c_out, stride)
    if choice == 1:
        return InvertedResidual(c_in, c_out, stride, expansion=3, kernel=3)
    if choice == 2:
        return InvertedResidual(c_in, c_out, stride, expansion=6, kernel=5)
    raise ValueError(f"NAS-Bench-Macro choice must be 0, 1 or 2, got {choice}")


class MacroNetwork(StagedNetwork):
    """The NAS-Bench-Macro network for one choice string; ``forward_features`` gives each stage's output."""

    def __init__(self, choices: Sequence[int], num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(in_channels, STEM_CHANNELS, 3))
        stages: list[nn.Module] = []
        channels, position, widths = STEM_CHANNELS, 0, []
        for depth in STAGES:
            layers = []
            for i in range(depth):
                stride, c_out = (2, channels * 2) if i == 0 else (1, channels)
                layers.append(make_layer(int(choices[position]), channels, c_out, stride))
                channels, position = c_out, position + 1
            stages.append(nn.Sequential(*layers))
            widths.append(channels)
        self.stages = nn.ModuleList(stages)
        self.stage_channels = tuple(widths)
        self.head = nn.Sequential(*_conv_bn(channels, HEAD_CHANNELS, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(HEAD_CHANNELS, num_classes)


    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.head(self.forward_features(x)[-1]))


def trained_string(arch: str) -> str:
    """The string the benchmark trained for ``arch``: each stage's non-first identities moved to its end."""
    out, position = [], 0
    for depth in STAGES:
        stage = arch[position:position + depth]
        rest = [c for c in stage[1:] if c != "0"]
        out.append(stage[0] + "".join(rest) + "0" * (depth - 1 - len(rest)))
        position += depth
    return "".join(out)


class MacroSpace(SearchSpace):
    """NAS-Bench-Macro; architectures are the benchmark's 8-digit strings; ``len() == 6561``."""

    name = "macro"

    def decisions(self) -> tuple[int, ...]:
        return (len(CHOICES),) * sum(STAGES)

    def from_decisions(self, choices: Sequence[int]) -> str:
        if len(choices) != sum(STAGES) or any(not 0 <= int(c) < len(CHOICES) for c in choices):
            raise ValueError(f"NAS-Bench-Macro needs {sum(STAGES)} choices in 0..2, got {tuple(choices)}")
        return "".join(str(int(c)) for c in choices)

    def to_decisions(self, arch: str) -> tuple[int, ...]:
        return tuple(int(c) for c in self._check(arch))

    def to_str(self, arch: str) -> str:
        return self._check(arch)

    def from_str(self, text: str) -> str:
        return self._check(text.strip() if isinstance(text, str) else text)

    def canonical(self, arch: str) -> str:
        return trained_string(self._check(arch))

    def describe(self, arch: str) -> list[tuple[str, Any]]:
        layers = ", ".join(CHOICES[int(c)] for c in self._check(arch))
        return [*super().describe(arch), ("layers", layers)]

    def build(self, arch: str, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """The benchmark's network; keyword option ``in_channels`` (3)."""
        classes = self.num_classes if num_classes is None else num_classes
        return MacroNetwork(self.to_decisions(arch), num_classes=classes, **kwargs)

    def truth_sources(self) -> tuple[TruthSource, ...]:
        return (TruthSource(
            "macro", MACRO_FILE, "archrank.bench.truth_spaces:read_macro", "mean_acc",
            "NAS-Bench-Macro (all 6561): CIFAR-10 test accuracy, mean of 3 trainings", "CIFAR-10 test accuracy (%)"),)

    @staticmethod
    def _check(arch: Any) -> str:
        if not isinstance(arch, str) or _ARCH_RE.match(arch) is None:
            raise ValueError(f"malformed NAS-Bench-Macro architecture {arch!r}: expected 8 digits in 0..2, "
                             "e.g. '02012100'")
        return arch
