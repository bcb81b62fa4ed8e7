"""The NDS cell network (Radosavovic et al., "On Network Design Spaces", ICCV 2019) at ImageNet size.

The five NDS cell families (DARTS, ENAS, PNAS, NASNet, Amoeba) share one DARTS-style network; only the op set
and the number of nodes per cell differ. The layout, as trained by NDS in pycls:

- stem0: conv3x3 (3 -> C/2, stride 2) + BN + ReLU + conv3x3 (C/2 -> C, stride 2) + BN;
  stem1: ReLU + conv3x3 (C -> C, stride 2) + BN (overall stride 8);
- ``depth`` cells; cells ``depth // 3`` and ``2 * depth // 3`` are reduction cells that double the width;
  every cell reads the two previous outputs, preprocessed by ReLU-conv1x1-BN (or a factorized reduction when
  the previous cell halved the resolution), and concatenates the nodes named by its ``concat`` list;
- global average pooling and a linear classifier (bias); optionally, the DARTS ImageNet auxiliary head on
  the output of cell ``2 * depth // 3`` (its logits come from ``forward_with_aux`` in training mode).

Each node sums two ops applied to earlier states; ops reading a cell input (state 0 or 1) of a reduction
cell have stride 2. Drop path (``drop_prob``) applies in training mode to every non-identity op output.
Parameter counts equal the NDS records' ``params`` (see ``benchmarks/nds_exactness.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

CellSpec = tuple[tuple[tuple[str, int], ...], tuple[int, ...]]  # ((op, input) per op, concat nodes)


class Zero(nn.Module):
    """The ``none`` op: zeros of the (strided) input shape, so the node keeps its shape and graph."""

    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            return x.mul(0.0)
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution with two offset stride-2 1x1 convs (C_out/2 each), concatenated, then BN."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        if c_out % 2:
            raise ValueError(f"factorized reduction needs an even channel count, got {c_out}")
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(x)
        shifted = nn.functional.pad(x, (0, 1, 0, 1))[:, :, 1:, 1:]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def relu_conv_bn(c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int = 1) -> nn.Sequential:
    """ReLU -> Conv2d (no bias, "same" padding) -> BN."""
    k_h, k_w = (kernel, kernel) if isinstance(kernel, int) else kernel
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, (k_h, k_w), stride=stride, padding=(k_h // 2, k_w // 2), bias=False),
        nn.BatchNorm2d(c_out),
    )


def _depthwise_pointwise(channels: int, kernel: int, stride: int, dilation: int) -> list[nn.Module]:
    """ReLU, depthwise k x k conv (dilated), pointwise 1x1 conv, BN: one half of a separable conv."""
    return [
        nn.ReLU(inplace=False),
        nn.Conv2d(
            channels,
            channels,
            kernel,
            stride=stride,
            padding=dilation * (kernel - 1) // 2,
            dilation=dilation,
            groups=channels,
            bias=False,
        ),
        nn.Conv2d(channels, channels, 1, bias=False),
        nn.BatchNorm2d(channels),
    ]


def separable(channels: int, kernel: int, stride: int, dilation: int = 1, repeats: int = 2) -> nn.Sequential:
    """``repeats`` depthwise-pointwise halves; only the first is strided (DARTS ``sep_conv`` / ``dil_conv``)."""
    layers: list[nn.Module] = []
    for i in range(repeats):
        layers.extend(_depthwise_pointwise(channels, kernel, stride if i == 0 else 1, dilation))
    return nn.Sequential(*layers)


def factorized_conv(channels: int, kernel: int, stride: int) -> nn.Sequential:
    """ReLU, 1 x k conv (horizontal stride), k x 1 conv (vertical stride), BN: the ``conv_kx1_1xk`` ops."""
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(channels, channels, (1, kernel), stride=(1, stride), padding=(0, kernel // 2), bias=False),
        nn.Conv2d(channels, channels, (kernel, 1), stride=(stride, 1), padding=(kernel // 2, 0), bias=False),
        nn.BatchNorm2d(channels),
    )


def _avg_pool(kernel: int) -> Callable[[int, int], nn.Module]:
    padding = kernel // 2 if kernel % 2 else 0
    return lambda channels, stride: nn.AvgPool2d(kernel, stride, padding, count_include_pad=False)


def _max_pool(kernel: int) -> Callable[[int, int], nn.Module]:
    return lambda channels, stride: nn.MaxPool2d(kernel, stride, kernel // 2 if kernel % 2 else 0)


def _skip(channels: int, stride: int) -> nn.Module:
    return nn.Identity() if stride == 1 else FactorizedReduce(channels, channels)


# Every op any NDS cell family uses: name -> builder(channels, stride).
OPS: dict[str, Callable[[int, int], nn.Module]] = {
    "none": lambda channels, stride: Zero(stride),
    "skip_connect": _skip,
    "avg_pool_2x2": _avg_pool(2),
    "avg_pool_3x3": _avg_pool(3),
    "avg_pool_5x5": _avg_pool(5),
    "max_pool_2x2": _max_pool(2),
    "max_pool_3x3": _max_pool(3),
    "max_pool_5x5": _max_pool(5),
    "max_pool_7x7": _max_pool(7),
    "conv_1x1": lambda channels, stride: relu_conv_bn(channels, channels, 1, stride),
    "conv_3x3": lambda channels, stride: relu_conv_bn(channels, channels, 3, stride),
    "sep_conv_3x3": lambda channels, stride: separable(channels, 3, stride),
    "sep_conv_5x5": lambda channels, stride: separable(channels, 5, stride),
    "sep_conv_7x7": lambda channels, stride: separable(channels, 7, stride),
    "dil_conv_3x3": lambda channels, stride: separable(channels, 3, stride, dilation=2, repeats=1),
    "dil_conv_5x5": lambda channels, stride: separable(channels, 5, stride, dilation=2, repeats=1),
    "dil_sep_conv_3x3": lambda channels, stride: separable(channels, 3, stride, dilation=2),
    "conv_3x1_1x3": lambda channels, stride: factorized_conv(channels, 3, stride),
    "conv_7x1_1x7": lambda channels, stride: factorized_conv(channels, 7, stride),
}


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob`` and rescale the rest (a new tensor; ``x`` is kept)."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Cell(nn.Module):
    """One NDS cell: node ``i + 2`` = op(state a) + op(state b); output = concat of the ``concat`` nodes."""

    def __init__(
        self, spec: CellSpec, c_prev_prev: int, c_prev: int, channels: int, reduction: bool, reduction_prev: bool
    ) -> None:
        super().__init__()
        pairs, concat = spec
        self.preprocess0 = (
            FactorizedReduce(c_prev_prev, channels)
            if reduction_prev
            else relu_conv_bn(c_prev_prev, channels, 1)
        )
        self.preprocess1 = relu_conv_bn(c_prev, channels, 1)
        self.inputs = tuple(index for _, index in pairs)
        self.concat = tuple(concat)
        self.ops = nn.ModuleList(
            OPS[name](channels, 2 if reduction and index < 2 else 1) for name, index in pairs
        )
        self.out_channels = len(self.concat) * channels

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, drop_prob: float = 0.0) -> torch.Tensor:
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        for node in range(len(self.ops) // 2):
            total: torch.Tensor | None = None
            for slot in (2 * node, 2 * node + 1):
                op = self.ops[slot]
                out = op(states[self.inputs[slot]])
                if self.training and drop_prob > 0.0 and not isinstance(op, nn.Identity):
                    out = drop_path(out, drop_prob)
                total = out if total is None else total + out
            assert total is not None  # every node has two ops
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHeadImageNet(nn.Module):
    """The DARTS ImageNet auxiliary classifier (NDS trains it without the BN after the 2x2 conv)."""

    def __init__(self, channels: int, num_classes: int) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.AvgPool2d(5, stride=2, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False),
            nn.BatchNorm2d(128),
            nn.ReLU(inplace=False),
            nn.Conv2d(128, 768, 2, bias=False),
            nn.ReLU(inplace=False),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x).flatten(1))


class NDSCellNetwork(nn.Module):
    """The NDS ImageNet cell network for one (normal, reduce) genotype.

    ``forward`` returns logits (plus auxiliary logits in training mode when ``aux``); ``forward_features``
    the output of the last cell of each of the three resolutions. Any input size whose stem output is at
    least 4x4 works (224 for ImageNet; 32 for CIFAR-sized probes).
    """

    def __init__(
        self,
        normal: CellSpec,
        reduce: CellSpec,
        width: int,
        depth: int,
        num_classes: int = 1000,
        aux: bool = False,
        drop_prob: float = 0.0,
        in_channels: int = 3,
    ) -> None:
        super().__init__()
        if width < 2 or width % 2 or depth < 3 or num_classes < 1:
            raise ValueError(
                f"NDS cell network needs an even width >= 2, depth >= 3, num_classes >= 1; "
                f"got {width=}, {depth=}, {num_classes=}"
            )
        self.depth = depth
        self.aux = aux
        self.drop_prob = float(drop_prob)
        self.stem0 = nn.Sequential(
            nn.Conv2d(in_channels, width // 2, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width // 2),
            nn.ReLU(inplace=False),
            nn.Conv2d(width // 2, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
        )
        self.stem1 = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False),
            nn.BatchNorm2d(width),
        )
        self.reduction_cells = (depth // 3, 2 * depth // 3)
        c_prev_prev, c_prev, channels = width, width, width
        reduction_prev = True
        cells: list[Cell] = []
        aux_channels = 0
        for i in range(depth):
            reduction = i in self.reduction_cells
            channels = channels * 2 if reduction else channels
            cell = Cell(reduce if reduction else normal, c_prev_prev, c_prev, channels, reduction, reduction_prev)
            cells.append(cell)
            reduction_prev = reduction
            c_prev_prev, c_prev = c_prev, cell.out_channels
            if i == 2 * depth // 3:
                aux_channels = c_prev
        self.cells = nn.ModuleList(cells)
        self.auxiliary_head = AuxiliaryHeadImageNet(aux_channels, num_classes) if aux else None
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_prev, num_classes)

    def _cells(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor | None]:
        """Run stem and cells; return the last output at each resolution and the auxiliary logits."""
        s0 = self.stem0(x)
        s1 = self.stem1(s0)
        feats: list[torch.Tensor] = []
        aux_logits = None
        for i, cell in enumerate(self.cells):
            if i in self.reduction_cells:
                feats.append(s1)
            s0, s1 = s1, cell(s0, s1, self.drop_prob)
            if i == 2 * self.depth // 3 and self.auxiliary_head is not None and self.training:
                aux_logits = self.auxiliary_head(s1)
        feats.append(s1)
        return feats, aux_logits

    def forward_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at the end of each resolution (before each reduction cell, and the last cell)."""
        return self._cells(x)[0]

    def forward_with_aux(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and the auxiliary head's logits (``None`` unless ``aux`` and in training mode)."""
        feats, aux_logits = self._cells(x)
        return self.classifier(self.global_pooling(feats[-1]).flatten(1)), aux_logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits only, in every mode (so proxies see one output); training code wanting the auxiliary
        loss calls :meth:`forward_with_aux`."""
        return self.forward_with_aux(x)[0]


def cell_spec(pairs: Sequence[tuple[str, int]], concat: Sequence[int]) -> CellSpec:
    """Normalise a genotype half (``(op, input)`` pairs) and its concat list to a :data:`CellSpec`."""
    return tuple((str(op), int(index)) for op, index in pairs), tuple(int(i) for i in concat)
