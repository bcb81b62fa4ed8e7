"""Network statistics for EZNAS programs: the 22 tensors of every ReLU–Conv–BN block, extracted once and cached.

EZNAS (Akhauri et al., NeurIPS 2022) scores a network by applying a program to each ReLU-Conv2d-BatchNorm2d
("RCB") block and averaging over blocks. Networks without RCB blocks (NB101, the NDS ResNet/ResNeXt/Vanilla stage
networks) are read at their Conv2d-BatchNorm2d-ReLU ("CBR") blocks instead, as the reference does for NDS
networks (:func:`find_blocks`: one kind per network, RCB first). The statistics are positional, as in the
reference: ``input`` is the block's first module's input, ``preact`` its middle module's input, ``act`` its last
module's output; so in a CBR block ``input`` is the conv input, ``preact`` the conv output (BN input) and ``act``
the ReLU output, and ``weight`` is the conv weight in both kinds (the reference reads the BN's γ there for CBR
blocks, an artefact of its position ``3i+1``; see ``docs/results/eznas/blocks.md``). Below, for RCB blocks, the
program may read (names as in the reference code):

- ``weight``: the conv weight (after the reference initialisation, see :class:`StatsConfig`);
- ``weight_grad``: its gradient; ``input``: the block input (the ReLU's input) and ``input_grad``, the gradient
  with respect to it *through this block* (ReLU backward of ``preact_grad``), as the reference's backward hook on
  the ReLU sees it — not the total gradient of the cell node, which also flows through the node's other edges;
- ``preact``: the conv input (= ReLU output; the reference calls it "preact") and ``preact_grad``;
- ``act``: the block output (BatchNorm output) and ``act_grad``;

each of the seven non-weight tensors for three inputs: a data batch (``_data``), Gaussian noise of the same shape
(``_noise``), and the data plus N(0, 0.01) noise, stored as its difference from the data case (``_perturb``) — 22
tensors in all (:data:`TERMINALS`). Gradients are of Σ output, no labels: by default the output is the input of the
last ``nn.Linear`` (the pooled features, which is what the reference differentiates: xautodl's NB201 network returns
``(features, logits)`` and the reference calls ``features.backward(ones)``); ``grad_target="logits"`` uses Σ logits.

Everything runs on a deep copy of the model (ReLUs set non-inplace, re-initialised when ``init="eznas"``, train mode
so BatchNorm uses batch statistics as in the reference); the caller's model is never touched, and gradients come
from :func:`torch.autograd.grad`, not ``.grad``.

Large tensors can be summarised to bounded size (:class:`Summary`): the first ``max_samples`` samples, the first
``max_channels`` channels (output and input channels for weights) and a centred ``max_spatial``×``max_spatial``
window; 0 keeps a dimension whole. Summaries are deterministic crops, so a program evaluated on summarised statistics
is still a well-defined function of the network, and :class:`StatsCache` stores them on disk per architecture
(keyed by architecture key, seed, batch hash, extraction config and summary).
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from archrank.seeding import derive_seed, seeded_global_rng
from archrank.store.file import replaced_whole

__all__ = [
    "BLOCK_KINDS",
    "KINDS",
    "PASSES",
    "STATS_FORMAT_VERSION",
    "TERMINALS",
    "Block",
    "CBRBlock",
    "NetworkStats",
    "RCBBlock",
    "StatsCache",
    "StatsConfig",
    "Summary",
    "extract_stats",
    "extract_stats_views",
    "find_blocks",
    "find_cbr_blocks",
    "find_rcb_blocks",
    "input_noise_seed",
    "reference_init",
]

PASSES: tuple[str, ...] = ("data", "noise", "perturb")
KINDS: tuple[str, ...] = ("weight_grad", "input", "input_grad", "preact", "preact_grad", "act", "act_grad")
TERMINALS: tuple[str, ...] = (
    "weight",
    *(f"weight_grad_{p}" for p in PASSES),
    *(f"{kind}_{p}" for kind in KINDS[1:] for p in PASSES),
)
"""The 22 program inputs, in the reference's static-address order (weight, weight grads, input, input grads, ...)."""
STATS_FORMAT_VERSION = 2
"""Version of what the statistics mean and how they are stored (2: ``input_grad`` through the block only, issue 17);
part of every cache key and of the GP's fitness spec, so statistics or fitness values of another version are never
reused."""


@dataclass(frozen=True)
class StatsConfig:
    """How statistics are extracted. ``init``: ``"eznas"`` re-initialises the copy as the reference does (conv
    Kaiming-normal fan-out, BN γ=1 β=0, linear N(0, 0.01²)), ``"none"`` keeps the model's weights. ``grad_target``:
    ``"features"`` (Σ input of the last ``nn.Linear``, the reference) or ``"logits"`` (Σ output). ``perturb_var``:
    variance of the noise added to the data for the ``_perturb`` statistics (reference 0.01)."""

    grad_target: str = "features"
    init: str = "eznas"
    perturb_var: float = 0.01

    def __post_init__(self) -> None:
        if self.grad_target not in ("features", "logits"):
            raise ValueError(f"grad_target must be 'features' or 'logits', got {self.grad_target!r}")
        if self.init not in ("eznas", "none"):
            raise ValueError(f"init must be 'eznas' or 'none', got {self.init!r}")
        if not self.perturb_var >= 0:
            raise ValueError(f"perturb_var must be >= 0, got {self.perturb_var}")


@dataclass(frozen=True)
class Summary:
    """Bounded crops of the statistics (0 = keep the dimension whole); see the module docstring."""

    max_samples: int = 0
    max_channels: int = 0
    max_spatial: int = 0

    def __post_init__(self) -> None:
        if min(self.max_samples, self.max_channels, self.max_spatial) < 0:
            raise ValueError(f"summary sizes must be >= 0, got {self}")

    @property
    def is_full(self) -> bool:
        return self.max_samples == self.max_channels == self.max_spatial == 0

    def crop(self, name: str, t: torch.Tensor) -> torch.Tensor:
        """The summary of statistic ``name`` (weight-shaped if it starts with ``weight``)."""
        if self.is_full:
            return t
        k = self.max_channels or None
        if name.startswith("weight"):
            out = t[:k, :k] if t.dim() >= 2 else t[:k]
        else:
            index: list[slice] = [slice(0, self.max_samples or None)]
            if t.dim() >= 2:
                index.append(slice(0, k))
            for size in t.shape[2:]:
                p = self.max_spatial
                start = (size - p) // 2 if p and size > p else 0
                index.append(slice(start, start + p) if p and size > p else slice(None))
            out = t[tuple(index)]
        return out.clone()


@dataclass(frozen=True)
class RCBBlock:
    """A ReLU → Conv2d → BatchNorm2d block: consecutive children of a container module."""

    name: str
    relu: nn.ReLU
    conv: nn.Conv2d
    bn: nn.BatchNorm2d
    kind: ClassVar[str] = "relu-conv-bn"

    @property
    def modules(self) -> tuple[nn.Module, nn.Module, nn.Module]:
        """(first, middle, last): ``input`` is the first's input, ``preact`` the middle's input, ``act`` the last's
        output (the reference's positions ``3i``, ``3i+1``, ``3i+2``)."""
        return (self.relu, self.conv, self.bn)


@dataclass(frozen=True)
class CBRBlock:
    """A Conv2d → BatchNorm2d → ReLU block: the BN reads the conv's output, the ReLU the BN's output, directly or
    through residual additions (``relu(bn(conv(x)) + shortcut)``). Several blocks may share the ReLU."""

    name: str
    conv: nn.Conv2d
    bn: nn.BatchNorm2d
    relu: nn.ReLU
    kind: ClassVar[str] = "conv-bn-relu"

    @property
    def modules(self) -> tuple[nn.Module, nn.Module, nn.Module]:
        """(first, middle, last), as :attr:`RCBBlock.modules`: the conv, the BN, the ReLU."""
        return (self.conv, self.bn, self.relu)


Block = RCBBlock | CBRBlock
"""A block the statistics are read from; ``block.kind`` is one of :data:`BLOCK_KINDS`."""
BLOCK_KINDS: tuple[str, ...] = (RCBBlock.kind, CBRBlock.kind)


def find_rcb_blocks(model: nn.Module) -> list[RCBBlock]:
    """Every ReLU-Conv2d-BatchNorm2d triple of consecutive children, in module order (NB201's ``ReLUConvBN``)."""
    blocks: list[RCBBlock] = []
    for name, module in model.named_modules():
        children = list(module.named_children())
        for i in range(len(children) - 2):
            (_, a), (_, b), (_, c) = children[i : i + 3]
            if isinstance(a, nn.ReLU) and isinstance(b, nn.Conv2d) and isinstance(c, nn.BatchNorm2d):
                blocks.append(RCBBlock(f"{name}.{children[i][0]}" if name else children[i][0], a, b, c))
    return blocks


def _through_additions(node: Any) -> list[Any]:
    """``node`` and every autograd node reached from it through residual additions (``AddBackward0``) only."""
    seen: list[Any] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        if current.name() == "AddBackward0":
            stack.extend(child for child, _ in current.next_functions)
    return seen


def _trace_cbr_blocks(net: nn.Module, x: torch.Tensor) -> list[CBRBlock]:
    """The CBR blocks of ``net``, found from one forward pass of (at most two samples of) ``x``. Runs ``net`` as it
    is (a train-mode pass updates BN running statistics), so it is only called on a private copy."""
    names = {id(m): n for n, m in net.named_modules()}
    alive: list[Any] = []  # the traced tensors and autograd nodes, so that no id() is reused during the pass
    conv_of_output: dict[int, nn.Conv2d] = {}
    conv_bn_of_node: dict[int, tuple[nn.Conv2d, nn.BatchNorm2d]] = {}
    conv_order: dict[int, int] = {}
    found: dict[tuple[int, int, int], CBRBlock] = {}

    def on_conv(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        alive.append(out)
        conv_of_output[id(out)] = m
        conv_order.setdefault(id(m), len(conv_order))

    def on_bn(m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        conv, node = conv_of_output.get(id(inp[0])), out.grad_fn
        if conv is not None and node is not None:
            alive.extend((out, node))
            conv_bn_of_node[id(node)] = (conv, m)

    def on_relu(m: nn.Module, inp: tuple[torch.Tensor, ...]) -> None:  # a pre-hook: before an in-place ReLU
        for node in _through_additions(inp[0].grad_fn):
            pair = conv_bn_of_node.get(id(node))
            if pair is not None:
                conv, bn = pair
                found.setdefault((id(conv), id(bn), id(m)), CBRBlock(names[id(conv)], conv, bn, m))

    handles = []
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(on_conv))
        elif isinstance(m, nn.BatchNorm2d):
            handles.append(m.register_forward_hook(on_bn))
        elif isinstance(m, nn.ReLU):
            handles.append(m.register_forward_pre_hook(on_relu))
    try:
        with torch.enable_grad():
            net(x[:2])
    finally:
        for handle in handles:
            handle.remove()
    return sorted(found.values(), key=lambda b: conv_order[id(b.conv)])


def find_cbr_blocks(model: nn.Module, x: torch.Tensor) -> list[CBRBlock]:
    """Every Conv2d → BatchNorm2d → ReLU block of ``model`` (see :class:`CBRBlock`), in the order the convs run.

    Found by dataflow, from one forward pass of ``x`` on a private copy (the caller's model is not run): a BN whose
    input is a conv's output, and a ReLU whose input is that BN's output or a sum that includes it (the ReLU after
    a residual addition, as in ResNet blocks). Returned blocks hold ``model``'s own modules."""
    net = copy.deepcopy(model)
    for p in net.parameters():
        p.requires_grad_(True)
    name_in_copy = {id(m): n for n, m in net.named_modules()}
    own = dict(model.named_modules())
    return [
        CBRBlock(b.name, own[b.name], own[name_in_copy[id(b.bn)]], own[name_in_copy[id(b.relu)]])
        for b in _trace_cbr_blocks(net, x.detach())
    ]


def find_blocks(model: nn.Module, x: torch.Tensor) -> list[Block]:
    """The blocks EZNAS statistics are read from: the ReLU-Conv-BN blocks if the model has any, else its
    Conv-BN-ReLU blocks (one kind per network, as the reference: its module-order ReLU-Conv-BN triples first, its
    Conv-BN-ReLU pattern only for networks where those do not fit). ``x`` is needed only to trace CBR blocks."""
    rcb = find_rcb_blocks(model)
    return list(rcb) if rcb else list(find_cbr_blocks(model, x))


@dataclass
class NetworkStats:
    """Per-block statistics of one network: ``layers[i]`` maps terminal names to tensors; ``meta`` says how."""

    layers: list[dict[str, torch.Tensor]]
    layer_names: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def terminals(self) -> frozenset[str]:
        """The statistics present in every layer."""
        if not self.layers:
            return frozenset(TERMINALS)
        return frozenset.intersection(*(frozenset(layer) for layer in self.layers))

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for layer in self.layers for t in layer.values())

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically (temporary file + rename), so a killed run never leaves a truncated file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {"version": STATS_FORMAT_VERSION, "layers": self.layers, "names": self.layer_names, "meta": self.meta}
        with replaced_whole(path) as tmp:
            torch.save(payload, tmp)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NetworkStats:
        payload = torch.load(Path(path), map_location="cpu", weights_only=True)
        if payload.get("version") != STATS_FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported statistics format {payload.get('version')!r}")
        return cls(list(payload["layers"]), list(payload["names"]), dict(payload["meta"]))


def _reinit(net: nn.Module, gen: torch.Generator) -> None:
    """The reference initialisation (``initialize_module`` in the EZNAS code). Random weights are drawn on the CPU
    from ``gen`` and copied to the weight's device, so a network on a GPU gets the same values as on the CPU (a CPU
    generator cannot fill a CUDA tensor)."""

    def drawn(weight: torch.Tensor, init: Any, **kwargs: Any) -> None:
        values = torch.empty(weight.shape, dtype=weight.dtype)
        init(values, generator=gen, **kwargs)
        weight.copy_(values)

    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv2d):
                drawn(m.weight, nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                drawn(m.weight, nn.init.normal_, mean=0.0, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


def input_noise_seed(seed: int) -> int:
    """Seed of the CPU generator that draws the noise input, then the perturbation (in that order)."""
    return derive_seed(seed, "inputs")


def reference_init(net: nn.Module, seed: int) -> None:
    """Re-initialise ``net`` in place exactly as :func:`extract_stats` does with ``init="eznas"`` and ``seed``
    (so a caller can hold the very weights the statistics are computed from, e.g. to run other code on them)."""
    _reinit(net, torch.Generator(device="cpu").manual_seed(derive_seed(seed, "init")))


def _needed_kinds(terminals: Collection[str]) -> dict[str, set[str]]:
    """Pass -> statistic kinds to capture (the perturb difference needs the data kind too)."""
    kinds: dict[str, set[str]] = {p: set() for p in PASSES}
    for name in terminals:
        if name == "weight":
            continue
        kind, _, pas = name.rpartition("_")
        kinds[pas].add(kind)
        if pas == "perturb":
            kinds["data"].add(kind)
    return kinds


def _run_pass(
    net: nn.Module, blocks: list[Block], x: torch.Tensor, kinds: set[str], grad_target: str
) -> list[dict[str, torch.Tensor]]:
    """One forward + backward of Σ target; per block the requested full tensors (detached). The input requires
    gradients, as in the reference, so a block that reads the network input (a CBR stem) has an input gradient."""
    captured: list[dict[str, torch.Tensor]] = [{} for _ in blocks]
    features: list[torch.Tensor] = []
    handles = []

    def keep(i: int, key: str, value: torch.Tensor) -> None:
        captured[i].setdefault(key, value)  # first call of a shared module only

    def own_input(i: int, inp: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        # The block input is usually shared (a cell node feeds several edges); the block's first module (ReLU or
        # conv) gets a private alias so that the gradient taken with respect to it is the one through this block
        # only, as in the reference (its backward hook on that module), not the node's total gradient over all its
        # consumers.
        alias = inp[0].view_as(inp[0])
        keep(i, "input", alias)
        return (alias, *inp[1:])

    bn_nodes: list[Any] = [None] * len(blocks)

    def keep_bn(i: int, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        keep(i, "preact", inp[0])
        if bn_nodes[i] is None:
            bn_nodes[i] = out.grad_fn

    def keep_relu(i: int, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        # a CBR block's ReLU may be one module called several times (torchvision's BasicBlock reuses `self.relu`):
        # the block's `act` is the output of the call that reads this block's BN output
        node = bn_nodes[i]
        if node is not None and any(n is node for n in _through_additions(inp[0].grad_fn)):
            keep(i, "act", out)

    for i, blk in enumerate(blocks):
        first, middle, last = blk.modules
        handles.append(first.register_forward_pre_hook(lambda m, inp, i=i: own_input(i, inp)))
        if isinstance(blk, CBRBlock):
            handles.append(middle.register_forward_hook(lambda m, inp, out, i=i: keep_bn(i, inp, out)))
            handles.append(last.register_forward_hook(lambda m, inp, out, i=i: keep_relu(i, inp, out)))
        else:
            handles.append(middle.register_forward_hook(lambda m, inp, out, i=i: keep(i, "preact", inp[0])))
            handles.append(last.register_forward_hook(lambda m, inp, out, i=i: keep(i, "act", out)))
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    if grad_target == "features" and linears:
        handles.append(linears[-1].register_forward_hook(lambda m, inp, out: features.append(inp[0])))
    try:
        with torch.enable_grad():
            out = net(x.detach().requires_grad_(True))
            if isinstance(out, (tuple, list)):
                out = out[0]
            target = (features[-1] if features else out).sum()
            wanted: list[tuple[int, str, torch.Tensor]] = []
            for i, (blk, cap) in enumerate(zip(blocks, captured, strict=True)):
                for kind in ("input", "preact", "act"):
                    if f"{kind}_grad" in kinds and kind in cap:
                        wanted.append((i, f"{kind}_grad", cap[kind]))
                if "weight_grad" in kinds:
                    wanted.append((i, "weight_grad", blk.conv.weight))
            differentiable = [w for w in wanted if w[2].requires_grad]
            # An output that depends on no block (e.g. a cell of only `none` edges) has zero gradients everywhere,
            # the same zeros `allow_unused` gives one unused tensor: not an error.
            grads = (
                torch.autograd.grad(target, [w[2] for w in differentiable], allow_unused=True)
                if differentiable and target.requires_grad
                else (None,) * len(differentiable)
            )
    finally:
        for handle in handles:
            handle.remove()
    by_id = {(i, key): g for (i, key, _), g in zip(differentiable, grads, strict=True)}
    result: list[dict[str, torch.Tensor]] = []
    for i, cap in enumerate(captured):
        layer: dict[str, torch.Tensor] = {}
        for kind in kinds:
            if kind.endswith("_grad"):
                base = blocks[i].conv.weight if kind == "weight_grad" else cap.get(kind[: -len("_grad")])
                if base is None:
                    continue
                grad = by_id.get((i, kind))
                layer[kind] = (torch.zeros_like(base) if grad is None else grad).detach()
            elif kind in cap:
                layer[kind] = cap[kind].detach()
        result.append(layer)
    return result


def extract_stats_views(
    model: nn.Module,
    x: torch.Tensor,
    views: Mapping[str, tuple[Summary, Collection[str] | None]],
    *,
    seed: int = 0,
    config: StatsConfig | None = None,
    device: str | torch.device = "cpu",
) -> dict[str, NetworkStats]:
    """Extract statistics once and return several views of them: ``views[name] = (summary, terminals)``
    (``terminals`` None = all 22). Only the passes and tensors some view needs are computed and kept."""
    config = config or StatsConfig()
    wanted = {name: frozenset(TERMINALS if terms is None else terms) for name, (_, terms) in views.items()}
    for name, terms in wanted.items():
        unknown = sorted(terms - set(TERMINALS))
        if unknown:
            raise ValueError(f"view {name!r}: unknown statistics {unknown}; known: {', '.join(TERMINALS)}")
    dev = torch.device(device)
    # contiguous layout: the sign of near-zero gradients (which programs such as EZNAS-A read) depends on the
    # kernel, so the result must not depend on the caller's memory format
    net = copy.deepcopy(model).to(dev, memory_format=torch.contiguous_format)
    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    for p in net.parameters():
        p.requires_grad_(True)
    net.train()
    if config.init == "eznas":
        reference_init(net, seed)
        net.to(dev)
    x = x.detach().to(dev, torch.float32).contiguous()
    rcb = find_rcb_blocks(net)
    if rcb:
        blocks: list[Block] = list(rcb)
    else:
        with seeded_global_rng(derive_seed(seed, "global", "trace"), dev):
            blocks = list(_trace_cbr_blocks(net, x))  # the rule of find_blocks
    gen = torch.Generator(device="cpu").manual_seed(input_noise_seed(seed))
    inputs = {
        "data": x,
        "noise": torch.randn(x.shape, generator=gen).to(dev),
        "perturb": x + math.sqrt(config.perturb_var) * torch.randn(x.shape, generator=gen).to(dev),
    }
    all_terms = frozenset().union(*wanted.values()) if wanted else frozenset()
    kinds = _needed_kinds(all_terms)
    out = {name: [dict[str, torch.Tensor]() for _ in blocks] for name in views}
    data_kept: dict[str, list[dict[str, torch.Tensor]]] = {name: [{} for _ in blocks] for name in views}
    for pas in PASSES:
        if not kinds[pas]:
            continue
        with seeded_global_rng(derive_seed(seed, "global", pas), dev):  # dropout masks from the seed and pass alone
            full = _run_pass(net, blocks, inputs[pas], kinds[pas], config.grad_target)
        for name, (summary, _) in views.items():
            for i, layer in enumerate(full):
                for kind, tensor in layer.items():
                    term = f"{kind}_{pas}"
                    crop = summary.crop(term, tensor).float().cpu()
                    if pas == "data" and f"{kind}_perturb" in wanted[name]:
                        data_kept[name][i][kind] = crop
                    if pas == "perturb":
                        if term in wanted[name]:
                            out[name][i][term] = crop - data_kept[name][i][kind]
                    elif term in wanted[name]:
                        out[name][i][term] = crop
        del full
    result: dict[str, NetworkStats] = {}
    for name, (summary, _) in views.items():
        if "weight" in wanted[name]:
            for i, blk in enumerate(blocks):
                out[name][i]["weight"] = summary.crop("weight", blk.conv.weight.detach()).float().cpu()
        layers = [{t: layer[t] for t in TERMINALS if t in layer} for layer in out[name]]
        meta = {
            "seed": int(seed),
            "config": asdict(config),
            "summary": asdict(summary),
            "batch_shape": list(x.shape),
            "block_kind": blocks[0].kind if blocks else "none",
        }
        result[name] = NetworkStats(layers, [b.name for b in blocks], meta)
    return result


def extract_stats(
    model: nn.Module,
    x: torch.Tensor,
    *,
    seed: int = 0,
    config: StatsConfig | None = None,
    summary: Summary | None = None,
    terminals: Collection[str] | None = None,
    device: str | torch.device = "cpu",
) -> NetworkStats:
    """Statistics of every block of ``model`` (:func:`find_blocks`) on batch ``x`` (see the module docstring);
    ``terminals`` limits what is computed and kept (default: all 22). ``seed`` seeds the re-initialisation and the
    noise inputs."""
    views = {"stats": (summary or Summary(), terminals)}
    return extract_stats_views(model, x, views, seed=seed, config=config, device=device)["stats"]


class StatsCache:
    """One file of statistics per (space, architecture, seed, batch hash, config, summary) under ``root``."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    @staticmethod
    def key(space: str, arch_key: str, seed: int, batch_hash: str, config: StatsConfig, summary: Summary) -> str:
        payload = {
            "space": space,
            "arch": arch_key,
            "seed": int(seed),
            "batch": batch_hash,
            "config": asdict(config),
            "summary": asdict(summary),
            "version": STATS_FORMAT_VERSION,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def path(self, space: str, key: str) -> Path:
        return self.root / space / key[:2] / f"{key}.pt"

    def get(self, space: str, key: str) -> NetworkStats | None:
        """The cached statistics, or None (also for an unreadable file, which is then recomputed, and for the empty
        statistics that code without Conv-BN-ReLU blocks stored for such a network: no ``block_kind`` in ``meta``).
        Statistics of ReLU-Conv-BN networks did not change with the CBR rule, so their files stay valid."""
        path = self.path(space, key)
        if not path.is_file():
            return None
        try:
            stats = NetworkStats.load(path)
        except (OSError, ValueError, RuntimeError, KeyError, EOFError):
            return None
        return stats if stats.layers or "block_kind" in stats.meta else None

    def put(self, space: str, key: str, stats: NetworkStats) -> Path:
        path = self.path(space, key)
        stats.save(path)
        return path
