"""Many NAS-Bench-201 networks of one reduced setting trained at once as one stacked network.

A reduced training (EcoNAS, Zhou et al., CVPR 2020) of a small NB201 network on CPU is dominated by the fixed cost
of each operator call, not by arithmetic: at ``c4r4`` a convolution sees 4 channels of 8×8 pixels. Here ``k``
networks of the same width are stacked along the channel axis: tensor channels ``[j·C, (j+1)·C)`` belong to network
``j``. Every layer the networks share in structure (stem, reduction blocks, final BatchNorm) becomes one grouped
convolution (``groups=k``) or one BatchNorm over ``k·C`` channels; on each cell edge the networks that chose the same
op are gathered and served by one grouped call, and each node sums its incoming edges with one ``index_add``. So
every operator call serves many networks.

The stacked network computes exactly what the ``k`` separate networks compute: convolutions are grouped (no
network sees another's channels), BatchNorm statistics are per channel, the classifier is one matrix per network,
and the loss is the sum of the networks' mean cross-entropies, so each network's gradient is its own. Weights are
copied from ``k`` separately built (and seeded) networks, so a stacked training starts from the same initialisation
as the separate trainings. Only the floating-point summation order differs (grouped kernels), so results are not
bit-identical, and over thousands of SGD steps they drift apart like any two runs that differ in rounding.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archrank.econas.data import RawData, TrainData
from archrank.econas.setting import Setting, parse_setting
from archrank.econas.trainer import (
    Recipe,
    TrainResult,
    fit,
    make_optimizer,
    reduced_build_kwargs,
    seeded_model,
    training_setup,
    variant_tag,
)
from archrank.spaces import Arch, SearchSpace
from archrank.spaces.nb201_model import EDGES, Cell, NB201Network, ReLUConvBN, ResNetBasicBlock

CONV_OPS = ("nor_conv_3x3", "nor_conv_1x1")


def _stack_bn(norms: Sequence[nn.BatchNorm2d]) -> nn.BatchNorm2d:
    """One BatchNorm over the concatenated channels of ``norms`` (affine parameters and running statistics)."""
    first = norms[0]
    stacked = nn.BatchNorm2d(sum(n.num_features for n in norms), eps=first.eps, momentum=first.momentum)
    with torch.no_grad():
        stacked.weight.copy_(torch.cat([n.weight for n in norms]))
        stacked.bias.copy_(torch.cat([n.bias for n in norms]))
        stacked.running_mean.copy_(torch.cat([n.running_mean for n in norms]))
        stacked.running_var.copy_(torch.cat([n.running_var for n in norms]))
        stacked.num_batches_tracked.copy_(first.num_batches_tracked)
    return stacked


def _stack_conv(convs: Sequence[nn.Conv2d], shared_input: bool = False) -> nn.Conv2d:
    """One convolution equal to ``convs`` side by side: grouped (each network reads its own channels), or, when
    ``shared_input``, reading the same input (the stem) with the output channels concatenated."""
    first = convs[0]
    groups = 1 if shared_input else len(convs)
    in_channels = first.in_channels if shared_input else first.in_channels * len(convs)
    stacked = nn.Conv2d(
        in_channels, first.out_channels * len(convs), first.kernel_size, stride=first.stride,
        padding=first.padding, groups=groups, bias=False,
    )
    with torch.no_grad():
        stacked.weight.copy_(torch.cat([c.weight for c in convs]))
    return stacked


class DepthwiseAvgPool3x3(nn.Module):
    """``AvgPool2d(3, 1, 1, count_include_pad=False)`` as a fixed depthwise 3×3 box sum times 1/(window size).

    Same values up to float rounding; on CPU, on the wide stacked maps, PyTorch's average-pooling kernels (forward
    and backward) took about 7x longer than this depthwise convolution.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = channels
        self.register_buffer("box", torch.ones(channels, 1, 3, 3), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        counts = F.conv2d(x.new_ones(1, 1, h, w), self.box[:1], padding=1)
        return F.conv2d(x, self.box, padding=1, groups=self.channels) / counts


class StackedReLUConvBN(nn.Module):
    """ReLU -> grouped conv -> BatchNorm for ``m`` networks' :class:`ReLUConvBN` ops."""

    def __init__(self, ops: Sequence[ReLUConvBN]) -> None:
        super().__init__()
        self.conv = _stack_conv([op[1] for op in ops])
        self.bn = _stack_bn([op[2] for op in ops])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(F.relu(x)))


class StackedResBlock(nn.Module):
    """The stride-2 residual block of ``k`` networks (every network has the same one)."""

    def __init__(self, blocks: Sequence[ResNetBasicBlock]) -> None:
        super().__init__()
        self.conv_a = StackedReLUConvBN([b.conv_a for b in blocks])
        self.conv_b = StackedReLUConvBN([b.conv_b for b in blocks])
        self.shortcut = _stack_conv([b.downsample[1] for b in blocks])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(F.avg_pool2d(x, 2, 2)) + self.conv_b(self.conv_a(x))


def _channel_index(models: Sequence[int], channels: int) -> torch.Tensor:
    return torch.cat([torch.arange(j * channels, (j + 1) * channels) for j in models]).long()


class StackedCell(nn.Module):
    """One NB201 cell position across ``k`` networks, each with its own ops on the 6 edges.

    Per source node, one ``index_select`` gathers the channels every outgoing edge op needs (grouped by op, so each
    op's networks are adjacent) and one ``split`` hands them out; per destination node, one ``cat`` and one
    ``index_add`` sum the edge outputs into each network's channels. So a cell costs a fixed number of operator
    calls whatever ``k`` is, and the backward pass never materialises a zero gradient per edge.
    """

    def __init__(self, cells: Sequence[Cell], channels: int) -> None:
        super().__init__()
        k = len(cells)
        self.ops = nn.ModuleList()  # in (src, dst, op) order of the gathers
        gather: dict[int, list[torch.Tensor]] = {0: [], 1: [], 2: []}
        scatter: dict[int, list[torch.Tensor]] = {1: [], 2: [], 3: []}
        self.plan: dict[int, list[tuple[int, int]]] = {0: [], 1: [], 2: []}  # src -> [(dst, piece size)]
        for src in (0, 1, 2):
            for position, (dst, edge_src) in enumerate(EDGES):
                if edge_src != src:
                    continue
                for op in (*CONV_OPS, "avg_pool_3x3", "skip_connect"):
                    models = [j for j, cell in enumerate(cells) if cell.ops[position] == op]
                    if not models:
                        continue
                    if op in CONV_OPS:
                        self.ops.append(StackedReLUConvBN([cells[j].edges[f"{dst}_{src}"] for j in models]))
                    elif op == "avg_pool_3x3":
                        self.ops.append(DepthwiseAvgPool3x3(len(models) * channels))
                    else:
                        self.ops.append(nn.Identity())
                    index = _channel_index(models, channels)
                    gather[src].append(index)
                    scatter[dst].append(index)
                    self.plan[src].append((dst, len(index)))
        self.identity_gather = {}
        for src, parts in gather.items():
            index = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
            self.register_buffer(f"gather_{src}", index, persistent=False)
            self.identity_gather[src] = torch.equal(index, torch.arange(k * channels))
        self.identity_scatter = {}
        for dst, parts in scatter.items():
            index = torch.cat(parts) if parts else torch.zeros(0, dtype=torch.long)
            self.register_buffer(f"scatter_{dst}", index, persistent=False)
            self.identity_scatter[dst] = torch.equal(index, torch.arange(k * channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        incoming: dict[int, list[torch.Tensor]] = {1: [], 2: [], 3: []}
        op_iter = iter(self.ops)
        for src in (0, 1, 2):
            plan = self.plan[src]
            if src > 0:
                nodes.append(self._sum(src, incoming[src], x))
            if not plan:
                continue
            source = nodes[src]
            picked = source if self.identity_gather[src] else source.index_select(1, getattr(self, f"gather_{src}"))
            pieces = picked.split([size for _, size in plan], dim=1) if len(plan) > 1 else (picked,)
            for (dst, _), piece in zip(plan, pieces, strict=True):
                incoming[dst].append(next(op_iter)(piece))
        return self._sum(3, incoming[3], x)

    def _sum(self, dst: int, pieces: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Node ``dst``: the sum of its incoming edge outputs per network (zero for a network with none). When the
        pieces hold every network's channels once, in order (one incoming edge per network, possibly from
        different nodes), the node is the pieces side by side."""
        if not pieces:
            return x.new_zeros(x.shape)
        source = torch.cat(pieces, dim=1) if len(pieces) > 1 else pieces[0]
        if self.identity_scatter[dst]:
            return source
        return x.new_zeros(x.shape).index_add(1, getattr(self, f"scatter_{dst}"), source)


class StackedNB201(nn.Module):
    """``k`` NB201 networks of equal width as one network: ``forward(x)`` returns logits of shape N×k×classes.

    Build it from separately constructed :class:`NB201Network` instances; their weights (and BatchNorm running
    statistics) are copied, the originals are not modified.
    """

    def __init__(self, networks: Sequence[NB201Network]) -> None:
        super().__init__()
        if not networks:
            raise ValueError("StackedNB201 needs at least one network")
        first = networks[0]
        shapes = {(n.stage_channels, len(n.stages[0]), n.classifier.out_features, n.stem[0].in_channels)
                  for n in networks}
        if len(shapes) != 1:
            raise ValueError("stacked NB201 networks must share width, depth, classes and input channels")
        self.k = len(networks)
        self.num_classes = first.classifier.out_features
        self.stem_conv = _stack_conv([n.stem[0] for n in networks], shared_input=True)
        self.stem_bn = _stack_bn([n.stem[1] for n in networks])
        stages = []
        for s, width in enumerate(first.stage_channels):
            blocks: list[nn.Module] = []
            for b, block in enumerate(first.stages[s]):
                parts = [n.stages[s][b] for n in networks]
                if isinstance(block, ResNetBasicBlock):
                    blocks.append(StackedResBlock(parts))
                else:
                    blocks.append(StackedCell(parts, width))
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.ModuleList(stages)
        self.last_bn = _stack_bn([n.lastact[0] for n in networks])
        self.classifier_weight = nn.Parameter(torch.stack([n.classifier.weight.detach().clone() for n in networks]))
        self.classifier_bias = nn.Parameter(torch.stack([n.classifier.bias.detach().clone() for n in networks]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.stem_bn(self.stem_conv(x))
        for stage in self.stages:
            out = stage(out)
        features = F.relu(self.last_bn(out)).mean(dim=(2, 3))  # N × k·C_last
        features = features.view(len(x), self.k, -1).transpose(0, 1)  # k × N × C_last
        logits = torch.baddbmm(self.classifier_bias.unsqueeze(1), features, self.classifier_weight.transpose(1, 2))
        return logits.transpose(0, 1)  # N × k × classes


def stacked_loss(logits: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Loss of a stacked batch: the sum over networks of each one's mean cross-entropy (so every network gets the
    gradient it would get alone), with each network's summed loss and correct count (detached, length ``k``)."""
    n, k, classes = logits.shape
    per_sample = F.cross_entropy(logits.reshape(n * k, classes), labels.repeat_interleave(k), reduction="none")
    per_sample = per_sample.view(n, k)
    loss = per_sample.mean(0).sum()
    correct = (logits.detach().argmax(2) == labels.unsqueeze(1)).sum(0)
    return loss, per_sample.detach().float().sum(0), correct


def train_stacked(
    space: SearchSpace,
    archs: Sequence[Arch | str],
    setting: str | Setting = "c4r4s0e10",
    data: RawData | TrainData | tuple[str, Any] | str = ("cifar10", None),
    seed: int = 0,
    device: str | torch.device = "cpu",
    recipe: Recipe | None = None,
    width_kwarg: Mapping[str, int] | None = None,
    build_kwargs: Mapping[str, Any] | None = None,
) -> list[TrainResult]:
    """Train NB201 ``archs`` under ``setting`` together as one :class:`StackedNB201`; one result per arch, in order.

    Each network is built and seeded exactly as :func:`archrank.econas.trainer.train` builds it and sees the same
    mini-batches, so each result is that of a separate training up to floating-point summation order. ``seconds``
    and ``cpu_seconds`` of each result are the stacked training's totals divided by the number of networks (the
    amortised cost per architecture). A network whose accuracy is not a number gets NaN; the others are unaffected
    (no operation mixes networks).
    """
    if space.name != "nb201":
        raise ValueError(f"stacked training supports the nb201 space only, not {space.name!r}; use train()")
    if not archs:
        return []
    setting = parse_setting(setting)
    recipe = recipe or Recipe()
    parsed = [space.parse(a) if isinstance(a, str) else a for a in archs]
    # Networks sharing ops on the first edges sit side by side, so their gathers are contiguous.
    order = sorted(range(len(parsed)), key=lambda i: parsed[i].ops)
    device = torch.device(device)
    prepared, kwargs, autocast, scaler, fmt = training_setup(
        space, setting, data, seed, device, recipe, width_kwarg, build_kwargs
    )

    wall0, cpu0 = time.perf_counter(), time.process_time()
    on_device = prepared.to(device)
    networks = [seeded_model(space, parsed[i], seed, prepared.num_classes, kwargs) for i in order]
    num_params = [sum(p.numel() for p in net.parameters()) for net in networks]
    model = StackedNB201(networks).to(device, memory_format=fmt)
    del networks
    optimizer = make_optimizer(model, recipe)
    stats = fit(model, optimizer, on_device, setting, recipe, seed, fmt, autocast, scaler, stacked_loss)
    accuracy = _stacked_accuracy(model, on_device.test_x.contiguous(memory_format=fmt), on_device.test_y,
                                 recipe.eval_batch_size, autocast)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    k = len(parsed)
    seconds, cpu_seconds = (time.perf_counter() - wall0) / k, (time.process_time() - cpu0) / k
    loss = stats.loss_sum.cpu().tolist() if stats.seen else [float("nan")] * k
    correct = stats.correct.cpu().tolist() if stats.seen else [float("nan")] * k
    tag = variant_tag(space, recipe, width_kwarg, build_kwargs)
    results = [
        TrainResult(
            space=space.name, arch_key=space.key(arch), setting=str(setting), seed=int(seed), data=prepared.key,
            device=str(device), accuracy=accuracy[j], seconds=seconds, cpu_seconds=cpu_seconds,
            epochs=setting.epochs, iterations=stats.iterations,
            final_train_loss=loss[j] / stats.seen if stats.seen else float("nan"),
            final_train_accuracy=100.0 * correct[j] / stats.seen if stats.seen else float("nan"),
            num_params=num_params[j], width=dict(reduced_build_kwargs(space, setting, width_kwarg)),
            resolution=prepared.side,
            train_samples=len(on_device.train_y), test_samples=len(on_device.test_y),
            threads=torch.get_num_threads(), recipe=tag, stack=k,
        )
        for j, arch in enumerate(parsed[i] for i in order)
    ]
    by_position = dict(zip(order, results, strict=True))
    return [by_position[i] for i in range(k)]


def _stacked_accuracy(
    model: StackedNB201, x: torch.Tensor, y: torch.Tensor, batch_size: int, autocast: Any
) -> list[float]:
    """Test accuracy (%) of each stacked network; NaN for a network whose logits are not all finite."""
    model.eval()
    correct = torch.zeros(model.k, dtype=torch.long, device=x.device)
    finite = torch.ones(model.k, dtype=torch.bool, device=x.device)
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            with autocast():
                logits = model(x[start : start + batch_size]).float()
            correct += (logits.argmax(2) == y[start : start + batch_size].unsqueeze(1)).sum(0)
            finite &= torch.isfinite(logits).all(dim=(0, 2))
    return [
        100.0 * int(c) / max(1, len(y)) if bool(ok) else float("nan") for c, ok in zip(correct, finite, strict=True)
    ]
