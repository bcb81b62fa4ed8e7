"""Eproxy scoring: few-shot training of backbone + heads against fixed synthetic targets (Li et al.,
"Extensible Proxy for Efficient NAS", arXiv 2210.09459).

:func:`eproxy_score` deep-copies the model (the caller's model is never touched), extracts stage features
(:mod:`archrank.eproxy.features`), attaches one head + frozen barrier per branch (:mod:`archrank.eproxy.head`) and
runs ``steps`` iterations of SGD on one fixed batch against the targets of :mod:`archrank.eproxy.targets`. The
training loss is the plain sum of the branches' MSEs; the reported loss is ``Σ_i branch_decay**i · MSE_i`` of the
last iteration's forward pass (as in the authors' code, which logs each iteration's loss before its update, so the
last backward pass is skipped: it cannot change the score). Weight decay applies to conv/linear weights only.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archrank.eproxy.config import EproxyConfig
from archrank.eproxy.features import make_extractor
from archrank.eproxy.head import EproxyHead, init_weights
from archrank.eproxy.presets import resolve_config
from archrank.eproxy.targets import derive_seed, make_targets, seeded_generator
from archrank.proxies.cost import count_flops
from archrank.proxies.probe import unpack_batch
from archrank.seeding import seeded_global_rng

__all__ = ["EproxyResult", "EproxyRun", "InputIndependent", "eproxy_inputs", "eproxy_score", "run_eproxy"]

DEFAULT_INPUT_SHAPE = (3, 32, 32)


class InputIndependent(ValueError):
    """The model's stage features are identical for every input: it cannot learn any input-dependent task."""


@dataclass(frozen=True)
class EproxyResult:
    """One Eproxy evaluation. ``score`` = ``loss · (1 − α·macs/macs_ref)`` (lower is better); ``value`` = −score,
    the registered, higher-is-better orientation. ``losses``: the weighted loss of every iteration; ``macs`` in
    millions (None when α = 0); ``seconds``: wall time of the whole evaluation; ``reason``: why the value is
    undefined (NaN), e.g. features that do not depend on the input or a diverging loss."""

    value: float
    score: float
    loss: float
    losses: tuple[float, ...]
    branch_losses: tuple[float, ...]
    macs: float | None
    seconds: float
    reason: str = ""

    @property
    def ok(self) -> bool:
        return math.isfinite(self.value)


@dataclass
class EproxyRun:
    """An evaluation with its trained private modules (for inspection and tests)."""

    result: EproxyResult
    model: nn.Module
    head: EproxyHead | None
    targets: list[torch.Tensor] = field(default_factory=list)


def eproxy_inputs(config: EproxyConfig, batch: Any = None, input_shape: Sequence[int] | None = None) -> torch.Tensor:
    """The fixed input batch: a copy of the first ``batch_size`` samples of the caller's batch (``inputs="batch"``;
    a copy, so a model that writes into its input cannot change the caller's data) or seeded standard-normal inputs
    of ``input_shape`` (default: the batch's shape, else 3×32×32; ``inputs="synthetic"``)."""
    x, _ = unpack_batch(batch)
    if config.inputs == "batch":
        if x is None:
            raise ValueError("Eproxy with inputs='batch' needs a data batch (or use inputs='synthetic')")
        if x.shape[0] < config.batch_size:
            raise ValueError(f"Eproxy needs a batch of at least {config.batch_size} inputs, got {x.shape[0]}")
        return x[: config.batch_size].detach().to(torch.float32, copy=True)
    shape = tuple(input_shape) if input_shape is not None else (tuple(x.shape[1:]) if x is not None else None)
    shape = shape or DEFAULT_INPUT_SHAPE
    gen = seeded_generator(config.target_seed, "synthetic-inputs")
    return torch.randn((config.batch_size, *shape), generator=gen)


def _param_groups(params: Sequence[nn.Parameter], weight_decay: float) -> list[dict[str, Any]]:
    decay = [p for p in params if p.requires_grad and p.dim() > 1]
    no_decay = [p for p in params if p.requires_grad and p.dim() <= 1]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _input_independent(feature: torch.Tensor) -> bool:
    """Whether a (N, ...) feature map is the same for every input (up to float rounding)."""
    f = feature.detach()
    spread = (f - f[:1]).abs().amax()
    return bool(spread <= 1e-6 * f.abs().amax() + 1e-12)


def _train(
    net: nn.Module, x: torch.Tensor, targets: list[torch.Tensor], cfg: EproxyConfig, seed: int, nodes: Sequence[str]
) -> tuple[EproxyHead | None, list[float], list[float]]:
    extract = make_extractor(net, nodes)
    head: EproxyHead | None = None
    optimizer: torch.optim.Optimizer | None = None
    weights = [cfg.branch_decay**i for i in range(len(cfg.branches))]
    losses: list[float] = []
    branch: list[float] = []
    for step in range(cfg.steps):
        feats = extract(x)
        try:
            chosen = [feats[b.stage] for b in cfg.branches]
        except IndexError:
            stages = [b.stage for b in cfg.branches]
            raise ValueError(f"branch stages {stages} but the model gives {len(feats)} stage features") from None
        if head is None:
            if all(_input_independent(f) for f in chosen):
                raise InputIndependent("the stage features do not depend on the input (e.g. no path from input)")
            head = EproxyHead(cfg, [f.shape[1] for f in chosen], seed).to(x.device)
            if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
                head = head.to(memory_format=torch.channels_last)
            params = list(net.parameters()) + head.trainable_parameters()
            optimizer = torch.optim.SGD(_param_groups(params, cfg.weight_decay), lr=cfg.lr, momentum=cfg.momentum)
        outputs = head(chosen)
        mses = [F.mse_loss(o.float(), t) for o, t in zip(outputs, targets, strict=True)]
        branch = [float(m.detach()) for m in mses]
        losses.append(sum(w * m for w, m in zip(weights, branch, strict=True)))
        if not math.isfinite(losses[-1]):
            break
        if step < cfg.steps - 1:
            assert optimizer is not None
            optimizer.zero_grad(set_to_none=True)
            torch.stack(mses).sum().backward()
            optimizer.step()
    return head, losses, branch


def run_eproxy(
    model: nn.Module,
    config: Any = None,
    batch: Any = None,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    feature_nodes: Sequence[str] = (),
    input_shape: Sequence[int] | None = None,
) -> EproxyRun:
    """Evaluate Eproxy on a private copy of ``model`` and return the result with the trained modules.

    ``config``: anything :func:`~archrank.eproxy.presets.resolve_config` accepts. ``batch``: ``(x, y)``, ``x`` or a
    ``Batch`` (labels are ignored; not needed with ``inputs="synthetic"``). ``seed`` fixes the heads, barriers,
    re-initialisations and any randomness in the model's forward; targets and synthetic inputs depend only on the
    config (``target_seed``), so every architecture sees the same task.
    """
    start = time.perf_counter()
    cfg = resolve_config(config)
    dev = torch.device(device)
    x_cpu = eproxy_inputs(cfg, batch, input_shape).cpu()
    targets = [t.to(dev) for t in make_targets(cfg, x_cpu)]
    net = copy.deepcopy(model).to(dev).train()
    for p in net.parameters():
        p.requires_grad_(True)
    init_weights(net, cfg.init_backbone, torch.Generator().manual_seed(derive_seed(seed, "eproxy-backbone-init")))
    macs = count_flops(net, tuple(x_cpu.shape[1:]), convention="macs") / 1e6 if cfg.alpha != 0 else None
    x = x_cpu.to(dev)
    channels_last = dev.type == "cpu" and x.dim() == 4
    reason = ""
    head, losses, branch = None, [], []
    with seeded_global_rng(derive_seed(seed, "eproxy-forward"), dev):
        try:
            head, losses, branch, net = _train_any_layout(net, x, targets, cfg, seed, feature_nodes, channels_last)
        except InputIndependent as exc:
            reason = str(exc)
    loss = losses[-1] if losses and len(losses) == cfg.steps else math.nan
    if not reason and not math.isfinite(loss):
        reason = f"non-finite loss {losses}"
    factor = 1.0 - cfg.alpha * (macs / cfg.macs_ref) if macs is not None else 1.0
    score = loss * factor
    result = EproxyResult(
        value=-score if math.isfinite(score) else math.nan,
        score=score,
        loss=loss,
        losses=tuple(losses),
        branch_losses=tuple(branch),
        macs=macs,
        seconds=time.perf_counter() - start,
        reason=reason,
    )
    return EproxyRun(result=result, model=net, head=head, targets=targets)


def _train_any_layout(
    net: nn.Module,
    x: torch.Tensor,
    targets: list[torch.Tensor],
    cfg: EproxyConfig,
    seed: int,
    nodes: Sequence[str],
    channels_last: bool,
) -> tuple[EproxyHead | None, list[float], list[float], nn.Module]:
    """Train in channels-last layout on CPU (same values, about 2x faster convolutions), falling back to the
    contiguous layout when the model's forward objects (e.g. a ``.view``)."""
    if channels_last:
        try:
            trained = copy.deepcopy(net).to(memory_format=torch.channels_last)
            head, losses, branch = _train(
                trained, x.contiguous(memory_format=torch.channels_last), targets, cfg, seed, nodes
            )
            return head, losses, branch, trained
        except RuntimeError as exc:
            if "channels" not in str(exc) and "view" not in str(exc) and "stride" not in str(exc):
                raise
    head, losses, branch = _train(net, x, targets, cfg, seed, nodes)
    return head, losses, branch, net


def eproxy_score(
    model: nn.Module,
    config: Any = None,
    batch: Any = None,
    *,
    seed: int = 0,
    device: str | torch.device = "cpu",
    feature_nodes: Sequence[str] = (),
    input_shape: Sequence[int] | None = None,
) -> EproxyResult:
    """Eproxy on ``model`` (see :func:`run_eproxy`); the caller's model is never modified."""
    return run_eproxy(
        model, config, batch, seed=seed, device=device, feature_nodes=feature_nodes, input_shape=input_shape
    ).result
