"""A DARTS-cell network (Liu et al., ICLR 2019) in NB301's configuration, as NAS-Bench-Suite-Zero built it.

NB301 trained every cell at C = 32 with 8 cells; Suite-Zero scored them with NASLib's
``NasBench301SearchSpace`` graph discretised to one genotype, at that width: stem conv3×3 (3 -> 3C, no bias)
+ BN; 8 cells (normal ×2, reduction, normal ×2, reduction, normal ×2) at C, 2C, 4C channels; each cell
preprocesses its two inputs (the outputs of the previous two cells) with ReLU-conv1×1-BN, or a factorized
reduce when the older input is at twice the resolution; node ``k`` sums two ops of earlier nodes; the cell
outputs the concatenation of its 4 nodes (4C channels); global average pooling
and a linear classifier (no auxiliary head). Ops inside cells have *non-affine* BatchNorm, as in NASLib
(pooling ops are followed by a non-affine BN; ``skip_connect`` on a stride-2 edge is a non-affine factorized
reduce). Parameter counts and FLOPs equal Suite-Zero's NB301 ``params``/``flops``
(``benchmarks/spaces_exactness.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

#: NASLib's compact op indices (NB301 keys): position = index.
DARTS_OPS: tuple[str, ...] = (
    "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5",
)
NODES = 4
STEM_MULTIPLIER = 3
#: cell types of the 8-cell network: reduction cells at 1/3 and 2/3 of the depth.
LAYOUT: tuple[bool, ...] = (False, False, True, False, False, True, False, False)

Cell = Sequence[tuple[int, int]]  # 8 (input, op index) pairs, two per node in node order


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, affine: bool = True) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out, affine=affine),
        )


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1×1 convs, concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int, affine: bool = True) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"factorized reduce needs an even output width, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_a = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_b = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        return self.bn(torch.cat([self.conv_a(x), self.conv_b(x[:, :, 1:, 1:])], dim=1))


def _sep_conv(c: int, kernel: int, stride: int) -> nn.Module:
    pad = kernel // 2
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, kernel, stride, pad, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c, affine=False),
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, kernel, 1, pad, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c, affine=False),
    )


def _dil_conv(c: int, kernel: int, stride: int) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c, c, kernel, stride, padding=kernel - 1, dilation=2, groups=c, bias=False),
        nn.Conv2d(c, c, 1, bias=False),
        nn.BatchNorm2d(c, affine=False),
    )


def make_op(name: str, c: int, stride: int) -> nn.Module:
    """One cell op at ``c`` channels (``stride`` 2 on the input edges of a reduction cell)."""
    if name == "max_pool_3x3":
        return nn.Sequential(nn.MaxPool2d(3, stride, padding=1), nn.BatchNorm2d(c, affine=False))
    if name == "avg_pool_3x3":
        return nn.Sequential(nn.AvgPool2d(3, stride, padding=1, count_include_pad=False),
                             nn.BatchNorm2d(c, affine=False))
    if name == "skip_connect":
        return nn.Identity() if stride == 1 else FactorizedReduce(c, c, affine=False)
    if name in ("sep_conv_3x3", "sep_conv_5x5"):
        return _sep_conv(c, int(name[-1]), stride)
    if name in ("dil_conv_3x3", "dil_conv_5x5"):
        return _dil_conv(c, int(name[-1]), stride)
    raise ValueError(f"unknown DARTS op {name!r}")


class DartsCell(nn.Module):
    """One cell: preprocess both inputs to ``c`` channels, 4 nodes of 2 ops each, concatenate the nodes."""

    def __init__(self, genotype: Cell, c_older: int, c_prev: int, c: int, reduction: bool,
                 reduction_prev: bool) -> None:
        super().__init__()
        self.pre_older = FactorizedReduce(c_older, c) if reduction_prev else ReLUConvBN(c_older, c)
        self.pre_prev = ReLUConvBN(c_prev, c)
        self.inputs = tuple(int(src) for src, _ in genotype)
        self.ops = nn.ModuleList(
            make_op(DARTS_OPS[int(op)], c, 2 if reduction and int(src) < 2 else 1) for src, op in genotype
        )

    def forward(self, older: torch.Tensor, prev: torch.Tensor) -> torch.Tensor:
        states = [self.pre_older(older), self.pre_prev(prev)]
        for node in range(NODES):
            a, b = 2 * node, 2 * node + 1
            states.append(self.ops[a](states[self.inputs[a]]) + self.ops[b](states[self.inputs[b]]))
        return torch.cat(states[2:], dim=1)


class DartsNetwork(nn.Module):
    """DARTS cells in NASLib's NB301 macro-structure; ``forward`` returns logits."""

    def __init__(self, normal: Cell, reduce: Cell, C: int = 32, num_classes: int = 10, in_channels: int = 3,
                 layout: Sequence[bool] = LAYOUT) -> None:
        super().__init__()
        c_stem = STEM_MULTIPLIER * C
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_stem, 3, padding=1, bias=False), nn.BatchNorm2d(c_stem))
        cells = []
        c_older, c_prev, c, reduction_prev = c_stem, c_stem, C, False
        for reduction in layout:
            if reduction:
                c *= 2
            cells.append(DartsCell(reduce if reduction else normal, c_older, c_prev, c, reduction, reduction_prev))
            c_older, c_prev, reduction_prev = c_prev, NODES * c, reduction
        self.cells = nn.ModuleList(cells)
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        older = prev = self.stem(x)
        for cell in self.cells:
            older, prev = prev, cell(older, prev)
        return self.classifier(self.global_pooling(prev).flatten(1))
