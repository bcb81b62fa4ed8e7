"""TransNAS-Bench-101's networks (Duan et al., CVPR 2021) for its classification tasks: micro and macro spaces.

The encoder is the benchmark's ``MacroNet`` with the fixed skeleton ``64-41414``: stem conv3×3 stride 2 (3 -> 32,
no bias) + BN, then ReLU-conv3×3-BN stride 2 (32 -> 64); five stages of 2 cells whose codes ``4 1 4 1 4`` mean
"halve the resolution and double the width" (4) or "keep both" (1): widths 128, 128, 256, 256, 512. A cell is a
4-node DAG, node ``j`` summing one op per earlier node; ops ``0`` zero, ``1`` skip (a factorized reduce when
the stride or width changes), ``2`` ReLU-conv1×1-BN, ``3`` ReLU-conv3×3-BN; edges from the cell input carry the
cell's stride and width change. The classification decoder (``class_scene``: 63 classes, ``class_object``: 100)
is global average pooling + a linear layer. The macro space keeps the stem and decoder, fixes the cell to a
ResNet basic block (two ReLU-conv3×3-BN, a 1×1 conv + BN shortcut where the shape changes) and searches the
skeleton: 4 to 6 stages of 2 blocks, codes as above plus ``2`` (double the width only) and ``3`` (halve the
resolution only). These are the networks NASLib builds for those tasks, whose parameter counts are
Suite-Zero's ``params`` (``benchmarks/spaces_exactness.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from archrank.spaces.base import StagedNetwork

BASE_CHANNELS = 64
SKELETON = "41414"
#: (destination node, source node) of each op, in the order of NASLib's tuple (node by node).
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))
OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3")


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


class FactorizedReduce(nn.Module):
    """Skip connection across a stride or width change: two offset 1×1 convs (zero-padded), concatenated, BN."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=stride, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=stride, bias=False)
        self.pad = nn.ConstantPad2d((0, 1, 0, 1), 0.0)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(self.pad(x)[:, :, 1:, 1:])], dim=1))


def make_op(code: int, c_in: int, c_out: int, stride: int) -> nn.Module | None:
    """The module of one cell edge; ``None`` for the zero op (the edge contributes nothing)."""
    if code == 0:
        return None
    if code == 1:
        return nn.Identity() if stride == 1 and c_in == c_out else FactorizedReduce(c_in, c_out, stride)
    if code in (2, 3):
        return ReLUConvBN(c_in, c_out, 1 if code == 2 else 3, stride)
    raise ValueError(f"TransNAS-Bench-101 op code must be 0..3, got {code}")


class MicroCell(nn.Module):
    """A 4-node cell from ``c_in`` to ``c_out`` channels at ``stride``."""

    def __init__(self, codes: Sequence[int], c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.edges = nn.ModuleDict()
        self.stride, self.c_out = stride, c_out
        for (dst, src), code in zip(EDGES, codes, strict=True):
            op = make_op(int(code), c_in, c_out, stride) if src == 0 else make_op(int(code), c_out, c_out, 1)
            if op is not None:
                self.edges[f"{dst}_{src}"] = op

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        zero = x.new_zeros(n, self.c_out, (h + self.stride - 1) // self.stride, (w + self.stride - 1) // self.stride)
        nodes = [x]
        for dst in (1, 2, 3):
            total = zero
            for src in range(dst):
                name = f"{dst}_{src}"
                if name in self.edges:
                    total = total + self.edges[name](nodes[src])
            nodes.append(total)
        return nodes[3]


class BasicBlock(nn.Module):
    """The macro space's fixed cell: ResNet basic block with a 1×1 conv + BN shortcut where the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.body = nn.Sequential(ReLUConvBN(c_in, c_out, 3, stride), ReLUConvBN(c_out, c_out, 3, 1))
        changes = stride != 1 or c_in != c_out
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),
                                      nn.BatchNorm2d(c_out)) if changes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


class TNB101MicroNetwork(StagedNetwork):
    """Encoder (``64-41414`` around one cell, or a ``skeleton`` of basic blocks) + linear classification decoder.

    ``codes`` is the micro cell (6 op codes); with ``skeleton`` (the macro space's stage codes) the cells are
    basic blocks and ``codes`` is ignored."""

    def __init__(self, codes: Sequence[int] | None, num_classes: int = 63, in_channels: int = 3,
                 skeleton: Sequence[int] | None = None) -> None:
        super().__init__()
        half = BASE_CHANNELS // 2
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, half, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(half),
            ReLUConvBN(half, BASE_CHANNELS, 3, 2),
        )
        stages: list[nn.Module] = []
        channels, widths = BASE_CHANNELS, []
        for code in (skeleton if skeleton is not None else [int(c) for c in SKELETON]):
            layer = int(code)
            c_out = channels * 2 if layer % 2 == 0 else channels
            stride = 2 if layer > 2 else 1
            if skeleton is not None:
                stages.append(nn.Sequential(BasicBlock(channels, c_out, stride), BasicBlock(c_out, c_out, 1)))
            else:
                assert codes is not None
                stages.append(nn.Sequential(MicroCell(codes, channels, c_out, stride),
                                            MicroCell(codes, c_out, c_out, 1)))
            channels = c_out
            widths.append(channels)
        self.stages = nn.ModuleList(stages)
        self.stage_channels = tuple(widths)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)


    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.global_pooling(self.forward_features(x)[-1]).flatten(1))
