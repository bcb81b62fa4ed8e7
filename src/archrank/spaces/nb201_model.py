"""The canonical NAS-Bench-201 network (Dong & Yang, ICLR 2020), built for one cell only (no supernet).

Stem conv3x3 (no bias) + BN; N cells at C channels; a ResNet basic block with stride 2; N cells at 2C; another
basic block; N cells at 4C; BN + ReLU; global average pooling; linear classifier. Each cell edge holds the one
chosen op: ``nor_conv_kxk`` = ReLU -> conv (no bias) -> BN, ``avg_pool_3x3`` = AvgPool2d(3, 1, 1,
count_include_pad=False), ``skip_connect`` = identity, ``none`` = no module (the edge contributes zero).
Parameter counts equal the benchmark's ``params_M`` for all 15625 cells (see ``benchmarks/nb201_exactness.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from archrank.spaces.base import StagedNetwork

# (destination node, source node) of each edge, in arch-string order.
EDGES: tuple[tuple[int, int], ...] = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


class ReLUConvBN(nn.Sequential):
    """ReLU -> Conv2d (no bias) -> BatchNorm2d, the benchmark's convolution op."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1) -> None:
        super().__init__(
            nn.ReLU(inplace=False),
            nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
        )


def make_op(name: str, channels: int) -> nn.Module:
    """The module of one cell edge (``none`` edges get no module: see :class:`Cell`)."""
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(channels, channels, 3)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"unknown NB201 op {name!r}")


class Cell(nn.Module):
    """A 4-node NB201 cell: node j sums op(node i) over its incoming edges; node 3 is the output."""

    def __init__(self, ops: tuple[str, ...], channels: int) -> None:
        super().__init__()
        self.ops = tuple(ops)
        self.edges = nn.ModuleDict()
        for (dst, src), op in zip(EDGES, self.ops, strict=True):
            if op != "none":
                self.edges[f"{dst}_{src}"] = make_op(op, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for dst in (1, 2, 3):
            total: torch.Tensor | None = None
            for src in range(dst):
                name = f"{dst}_{src}"
                if name not in self.edges:  # a `none` edge contributes nothing
                    continue
                out = self.edges[name](nodes[src])
                total = out if total is None else total + out
            # A node without live inputs is zero; multiplying keeps the graph connected like the reference.
            nodes.append(total if total is not None else x.mul(0.0))
        return nodes[3]


class ResNetBasicBlock(nn.Module):
    """The reduction block between stages: two ReLUConvBN (first with stride 2) + pooled 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.conv_a = ReLUConvBN(c_in, c_out, 3, stride=2)
        self.conv_b = ReLUConvBN(c_out, c_out, 3, stride=1)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(c_in, c_out, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


class NB201Network(StagedNetwork):
    """The NB201 macro skeleton around one cell. ``forward`` returns logits; ``forward_features`` stage maps."""

    def __init__(
        self, ops: tuple[str, ...], C: int = 16, N: int = 5, num_classes: int = 10, in_channels: int = 3
    ) -> None:
        super().__init__()
        if C < 1 or N < 1 or num_classes < 1:
            raise ValueError(f"NB201 network needs C, N, num_classes >= 1, got C={C}, N={N}, {num_classes=}")
        self.ops = tuple(ops)
        self.stem = nn.Sequential(nn.Conv2d(in_channels, C, 3, padding=1, bias=False), nn.BatchNorm2d(C))
        stages: list[nn.Module] = []
        c_prev = C
        for stage, width in enumerate((C, 2 * C, 4 * C)):
            blocks: list[nn.Module] = []
            if stage > 0:
                blocks.append(ResNetBasicBlock(c_prev, width))
            blocks.extend(Cell(self.ops, width) for _ in range(N))
            stages.append(nn.Sequential(*blocks))
            c_prev = width
        self.stages = nn.ModuleList(stages)
        self.lastact = nn.Sequential(nn.BatchNorm2d(c_prev), nn.ReLU(inplace=False))
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)
        self.stage_channels = (C, 2 * C, 4 * C)


    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stem(x)
        for stage in self.stages:
            out = stage(out)
        out = self.global_pooling(self.lastact(out)).flatten(1)
        return self.classifier(out)
