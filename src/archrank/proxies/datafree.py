"""Data-free proxies: they need the architecture (and for some the input shape), never the batch's values.

``params`` and ``flops`` come from :mod:`archrank.proxies.cost` (NASLib's counting convention, exact against the
NAS-Bench-201 table); ``synflow`` and ``zen`` run their own passes on further copies of the probe's model.
"""

from __future__ import annotations

import math

import torch

from archrank.proxies.cost import count_flops, count_params
from archrank.proxies.probe import Probe
from archrank.proxies.registry import ScoreNaN, register_proxy


@register_proxy(
    "synflow",
    requires=("synflow",),
    citation="Tanaka et al., Pruning neural networks without any data by iteratively conserving synaptic flow, "
    "NeurIPS 2020; Abdelfattah et al., ICLR 2021",
    infinite_values=True,
)
def synflow(probe: Probe, *, log: bool = True) -> float:
    """synflow: Σ |W ⊙ ∂R/∂W| over conv/linear weights, R = Σ output of the network with BatchNorm removed, every
    parameter replaced by |θ|, in float64, on one all-ones input of the batch's input shape (Tanaka et al.,
    NeurIPS 2020; Abdelfattah et al., ICLR 2021).

    Reported as the natural **log** of that sum by default (``log=True``), as NASLib/Suite-Zero report it: the raw
    sum grows exponentially with depth (≈e^40–e^115 on NAS-Bench-201) and would overflow float32 storage; the log
    preserves the ranking. A sum of exactly 0 (the output does not depend on the weights, e.g. a NAS-Bench-201
    cell cut off from its input) is a valid, known score — the worst possible: 0 with ``log=False`` and
    log 0 = **−inf** with ``log=True``, both status ``ok`` (NASLib writes 0; archrank never turns a known value
    into NaN). A float64 overflow in the forward pass is status ``failed`` with that reason. The pass uses a
    private copy in eval mode (dropout off), so nothing needs restoring.
    """
    per_layer = probe.get("synflow")
    total = sum(float(t.sum(dtype=torch.float64)) for t in per_layer.values())
    if not math.isfinite(total):
        raise ScoreNaN(f"synflow sum is not finite in float64 ({total})")
    if not log:
        return total
    return math.log(total) if total > 0.0 else -math.inf


@register_proxy(
    "zen",
    requires=("zen",),
    needs_data=False,
    citation="Lin et al., Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition, ICCV 2021",
)
def zen(
    probe: Probe,
    *,
    mixup_gamma: float = 1e-2,
    batch_size: int = 0,
    bn_stat: str = "running",
    feature_module: str = "",
) -> float:
    """zen (Zen-score): log E‖f(x) − f(x + γε)‖₁ + Σ_BN log σ̄ (Lin et al., ICCV 2021).

    On a private copy re-initialised as in the paper (conv/linear weights N(0, 1), biases 0, BatchNorm γ=1, β=0),
    in train mode: x and ε are standard Gaussian inputs of the batch's shape (``batch_size`` 0 = the batch's size,
    64 without a batch), γ = ``mixup_gamma``; f is the feature map before global average pooling (the input of
    the last global pooling layer, or ``feature_module``); the difference is summed per sample and averaged.
    σ̄ of each BatchNorm layer is sqrt(mean over channels of its variance). ``bn_stat="running"`` (default)
    follows the official code (ZenNAS, NASLib): ``running_var`` after both forwards from a reset state, with
    the model's momentum (PyTorch default 0.1). ``bn_stat="batch"`` is the paper's wording (the clean pass's
    mini-batch variance); it is −inf for any BatchNorm that only sees zeros — on NAS-Bench-201 every op fed by
    a ``none``-only node — so those architectures get status ``nan``. Data-free: the batch's values are not
    used. Dropout is off in both forwards (they must differ by the perturbation only).
    """
    parts = probe.get(
        "zen",
        mixup_gamma=float(mixup_gamma),
        batch_size=int(batch_size),
        bn_stat=str(bn_stat),
        feature_module=str(feature_module),
    )
    delta = parts["delta"]
    return float(torch.log(delta) + sum(parts["log_sigma"], torch.zeros((), device=delta.device)))


@register_proxy(
    "l2_norm",
    requires=(),
    needs_data=False,
    citation="Abdelfattah et al., ICLR 2021; Krishnakumar et al., NAS-Bench-Suite-Zero, NeurIPS 2022",
)
def l2_norm(probe: Probe) -> float:
    """l2_norm: Σ over conv/linear layers of ‖W‖₂ at initialisation (NAS-Bench-Suite-Zero). Data-free."""
    return sum(float(torch.linalg.vector_norm(w.detach().to(torch.float64))) for w in probe.weights().values())


@register_proxy("params", requires=(), needs_data=False, citation="NAS-Bench-Suite-Zero (Krishnakumar et al., 2022)")
def params(probe: Probe) -> float:
    """params: number of parameters (BatchNorm affine included, running statistics excluded), as a count.

    NASLib/Suite-Zero store the same figure in millions (count / 1e6).
    """
    return float(count_params(probe.model))


@register_proxy("flops", requires=(), needs_data=False, citation="NAS-Bench-Suite-Zero (Krishnakumar et al., 2022)")
def flops(probe: Probe, *, convention: str = "naslib") -> float:
    """flops: FLOPs of one forward pass for one input of the batch's shape (or ``input_shape``), counted by
    :func:`archrank.proxies.cost.count_flops` (``convention="naslib"``: NASLib's, equal to NAS-Bench-201's
    ``flops_M`` ×1e6; ``"macs"``: conv/linear multiply-accumulates only). As a count, not in millions."""
    if probe.input_shape is None:
        raise ValueError("flops needs the input shape: pass a batch or input_shape")
    return float(count_flops(probe.model, probe.input_shape, convention=convention))
