"""The standard NAS-Bench-101 network around one cell, with the benchmark's channel-splitting rules.

Stem conv3x3 (3 -> 128, no bias) + BN + ReLU; 3 stacks of 3 cells; 2×2 max-pooling (stride 2) before stacks 2
and 3, which also double the cells' output channels (128, 256, 512); global average pooling; a linear
classifier. Inside a cell (benchmark's ``build_module``): the output channels are split evenly among the
vertices that feed the output (the first ``remainder`` of them get one extra), every other interior vertex
takes the largest width of the vertices it feeds; an edge from the input goes through a 1×1 conv-BN-ReLU
projection to the vertex's width, an edge between interior vertices keeps the first channels of the source;
inputs of a vertex are summed, then its op runs (``conv3x3-bn-relu``, ``conv1x1-bn-relu`` or ``maxpool3x3``);
the output concatenates its interior inputs and adds a projection of the cell input when that edge exists.
Parameter counts equal the benchmark's (``benchmarks/spaces_exactness.py``).
"""

from __future__ import annotations

import torch
from torch import nn

from archrank.spaces.nb101_spec import CONV1X1, CONV3X3, MAXPOOL3X3, CellSpec


class ConvBNReLU(nn.Sequential):
    """Conv2d (no bias, 'same' padding) -> BatchNorm2d -> ReLU, the benchmark's conv op and projection."""

    def __init__(self, c_in: int, c_out: int, kernel: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=False),
        )


def vertex_channels(c_in: int, c_out: int, spec: CellSpec) -> list[int]:
    """Channels of every vertex of the cell (input ``c_in``, output ``c_out``), as the benchmark sets them."""
    n = spec.num_vertices
    channels = [0] * n
    channels[0], channels[n - 1] = c_in, c_out
    if n == 2:
        return channels
    feeding = [v for v in range(1, n - 1) if spec.edge(v, n - 1)]
    share, extra = divmod(c_out, len(feeding))
    for rank, v in enumerate(feeding):
        channels[v] = share + (1 if rank < extra else 0)
    for v in range(n - 2, 0, -1):
        if not spec.edge(v, n - 1):
            channels[v] = max(channels[d] for d in range(v + 1, n - 1) if spec.edge(v, d))
    return channels


def _vertex_op(op: str, channels: int) -> nn.Module:
    if op == CONV3X3:
        return ConvBNReLU(channels, channels, 3)
    if op == CONV1X1:
        return ConvBNReLU(channels, channels, 1)
    if op == MAXPOOL3X3:
        return nn.MaxPool2d(3, stride=1, padding=1)
    raise ValueError(f"unknown NB101 op {op!r}")


class NB101Cell(nn.Module):
    """One NB101 module (cell) from ``c_in`` to ``c_out`` channels; ``spec`` must be pruned."""

    def __init__(self, spec: CellSpec, c_in: int, c_out: int) -> None:
        super().__init__()
        self.spec = spec
        n = spec.num_vertices
        self.channels = vertex_channels(c_in, c_out, spec)
        self.projections = nn.ModuleDict()
        self.ops = nn.ModuleDict()
        for v in range(1, n - 1):
            if spec.edge(0, v):
                self.projections[str(v)] = ConvBNReLU(c_in, self.channels[v], 1)
            self.ops[str(v)] = _vertex_op(spec.ops[v], self.channels[v])
        if spec.edge(0, n - 1):
            self.projections[str(n - 1)] = ConvBNReLU(c_in, c_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec, n = self.spec, self.spec.num_vertices
        values: list[torch.Tensor] = [x]
        for v in range(1, n - 1):
            width = self.channels[v]
            inputs = [values[s][:, :width] for s in range(1, v) if spec.edge(s, v)]
            if spec.edge(0, v):
                inputs.append(self.projections[str(v)](x))
            total = inputs[0]
            for extra in inputs[1:]:
                total = total + extra
            values.append(self.ops[str(v)](total))
        feeding = [values[v] for v in range(1, n - 1) if spec.edge(v, n - 1)]
        out = torch.cat(feeding, dim=1) if feeding else None
        if spec.edge(0, n - 1):
            projected = self.projections[str(n - 1)](x)
            out = projected if out is None else out + projected
        assert out is not None  # a valid spec always connects the input to the output
        return out


class NB101Network(nn.Module):
    """The NB101 skeleton around one (pruned) cell; ``forward`` returns logits, ``forward_features`` the stack
    outputs. Global average pooling is a plain mean over the spatial axes, as in the benchmark's graph."""

    def __init__(
        self,
        spec: CellSpec,
        num_classes: int = 10,
        stem_channels: int = 128,
        num_stacks: int = 3,
        cells_per_stack: int = 3,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if min(num_classes, stem_channels, num_stacks, cells_per_stack, in_channels) < 1:
            raise ValueError("NB101 network sizes must all be >= 1")
        self.stem = ConvBNReLU(in_channels, stem_channels, 3)
        stacks: list[nn.Module] = []
        channels = stem_channels
        widths = []
        for stack in range(num_stacks):
            layers: list[nn.Module] = []
            c_out = channels if stack == 0 else 2 * channels
            if stack > 0:
                layers.append(nn.MaxPool2d(2, stride=2))
            for _ in range(cells_per_stack):
                layers.append(NB101Cell(spec, channels, c_out))
                channels = c_out
            stacks.append(nn.Sequential(*layers))
            widths.append(channels)
        self.stacks = nn.ModuleList(stacks)
        self.stage_channels = tuple(widths)
        self.classifier = nn.Linear(channels, num_classes)

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at the end of each stack."""
        feats = []
        out = self.stem(x)
        for stack in self.stacks:
            out = stack(out)
            feats.append(out)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.forward_features(x)[-1]
        return self.classifier(out.mean(dim=(2, 3)))
