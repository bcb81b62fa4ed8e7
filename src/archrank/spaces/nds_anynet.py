"""The NDS stage networks (ResNet, ResNeXt, Vanilla design spaces) at ImageNet size, as trained by NDS in pycls.

An NDS stage record lists, per entry, a depth ``ds``, a width ``ws``, a stride ``ss`` and (ResNeXt only) a
bottleneck multiplier ``bot_muls`` and a group count ``num_gs``. Entry 0 is the stem (depth 1):

- ResNet / Vanilla (stride 4): conv7x7 (3 -> w0, stride 2, no bias) + BN + ReLU + max-pool 3x3 stride 2;
- ResNeXt (stride 8): three conv3x3 + BN + ReLU with stride 2 (3 -> 32 -> 64 -> w0 = 64 channels), the
  stem of the NDS cell networks, so that all ImageNet models of NDS see the same input resolution.

Entries 1.. are stages of ``d`` blocks (the first with the stage stride and the width change):

- ``res_basic_block``: x + [conv3x3-BN-ReLU, conv3x3-BN](x), ReLU; a conv1x1 (strided) + BN projection when
  the shape changes;
- ``res_bottleneck_block``: the same with conv1x1-BN-ReLU, grouped conv3x3 (``num_gs`` groups, stride)-BN-ReLU,
  conv1x1-BN on a bottleneck of ``round(w * bot_mul)`` channels;
- ``double_plain_block`` (Vanilla): conv3x3-BN-ReLU twice, no shortcut.

Head: global average pooling and a linear classifier (bias). Parameter counts equal the NDS records'
``params`` (see ``benchmarks/nds_exactness.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from archrank.spaces.base import StagedNetwork

BLOCK_TYPES: tuple[str, ...] = ("res_basic_block", "res_bottleneck_block", "double_plain_block")


def conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Sequential:
    """Conv2d (no bias, "same" padding) -> BN [-> ReLU]."""
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=False))
    return nn.Sequential(*layers)


class ResidualBlock(nn.Module):
    """``relu(shortcut(x) + f(x))`` with a conv1x1-BN projection shortcut when width or resolution changes."""

    def __init__(self, f: nn.Module, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.f = f
        self.proj = conv_bn(c_in, c_out, 1, stride, relu=False) if c_in != c_out or stride != 1 else None
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.proj is None else self.proj(x)
        return self.relu(shortcut + self.f(x))


def make_block(
    block_type: str, c_in: int, c_out: int, stride: int, bot_mul: float | None, groups: int | None
) -> nn.Module:
    """One block of an NDS stage network."""
    if block_type == "double_plain_block":
        return nn.Sequential(conv_bn(c_in, c_out, 3, stride), conv_bn(c_out, c_out, 3))
    if block_type == "res_basic_block":
        basic = nn.Sequential(conv_bn(c_in, c_out, 3, stride), conv_bn(c_out, c_out, 3, relu=False))
        return ResidualBlock(basic, c_in, c_out, stride)
    if block_type == "res_bottleneck_block":
        if bot_mul is None or groups is None:
            raise ValueError("a bottleneck block needs a bottleneck multiplier and a group count")
        inner = round(c_out * bot_mul)
        if inner < 1 or inner % groups:
            raise ValueError(f"bottleneck width {inner} (= round({c_out} * {bot_mul})) is not divisible "
                             f"into {groups} groups")
        transform = nn.Sequential(
            conv_bn(c_in, inner, 1),
            conv_bn(inner, inner, 3, stride, groups=groups),
            conv_bn(inner, c_out, 1, relu=False),
        )
        return ResidualBlock(transform, c_in, c_out, stride)
    raise ValueError(f"unknown NDS block type {block_type!r}; expected one of {', '.join(BLOCK_TYPES)}")


def make_stem(block_type: str, width: int, stride: int, in_channels: int = 3) -> nn.Sequential:
    """The stem: stride 4 is the ResNet 7x7 + max-pool stem, stride 8 the three-conv NDS cell-network stem."""
    if stride == 4:
        return nn.Sequential(conv_bn(in_channels, width, 7, 2), nn.MaxPool2d(3, stride=2, padding=1))
    if stride == 8:
        return nn.Sequential(
            conv_bn(in_channels, width // 2, 3, 2), conv_bn(width // 2, width, 3, 2), conv_bn(width, width, 3, 2)
        )
    raise ValueError(f"NDS stage networks have a stem of stride 4 or 8, got {stride} ({block_type})")


class NDSStageNetwork(StagedNetwork):
    """Stem, the stages of an NDS stage record, global average pooling and a linear classifier.

    ``forward_features`` returns each stage's output. Any input size works (the stem reduces it 4x or 8x and
    each stage by its stride; adaptive pooling takes whatever is left).
    """

    def __init__(
        self,
        block_type: str,
        ds: Sequence[int],
        ws: Sequence[int],
        ss: Sequence[int],
        bot_muls: Sequence[float] = (),
        num_gs: Sequence[int] = (),
        num_classes: int = 1000,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if not len(ds) == len(ws) == len(ss) or len(ds) < 2:
            raise ValueError("ds, ws and ss must have the same length (stem + at least one stage)")
        bottleneck = block_type == "res_bottleneck_block"
        if bottleneck and not len(bot_muls) == len(num_gs) == len(ds):
            raise ValueError("a bottleneck network needs one bot_mul and one num_gs per entry")
        self.stem = make_stem(block_type, int(ws[0]), int(ss[0]), in_channels)
        stages: list[nn.Module] = []
        c_prev = int(ws[0])
        for i in range(1, len(ds)):
            blocks = [
                make_block(
                    block_type,
                    c_prev if j == 0 else int(ws[i]),
                    int(ws[i]),
                    int(ss[i]) if j == 0 else 1,
                    float(bot_muls[i]) if bottleneck else None,
                    int(num_gs[i]) if bottleneck else None,
                )
                for j in range(int(ds[i]))
            ]
            stages.append(nn.Sequential(*blocks))
            c_prev = int(ws[i])
        self.stages = nn.ModuleList(stages)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)


    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(self.forward_features(x)[-1]).flatten(1))
