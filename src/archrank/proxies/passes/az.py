"""The ``az`` pass of AZ-NAS (Lee & Ham, CVPR 2024): block features of a Kaiming-initialised copy and block-wise
vector-Jacobian products; the proxies' formulas are in :mod:`archrank.proxies.aznas`.

Inputs are standard Gaussian noise of the batch's shape by default (the official NAS-Bench-201 code); ``inputs=
"data"`` feeds the probe's batch. The pass yields, per block feature (stem, cells, residual blocks on NB201), the
channel covariance (positions × samples as observations, float64) and, for each consecutive pair of blocks, the
cross-moment E[g_in g_outᵀ] of the block's vector-Jacobian product for a Rademacher g_out (``None`` where the
block is the identity: g_in = g_out exactly).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from archrank.proxies.hooks import forward_hooks
from archrank.proxies.passes.base import Needs, register_pass
from archrank.proxies.torchutil import NORM_TYPES, WEIGHTED_TYPES, fill_

if TYPE_CHECKING:
    from archrank.proxies.probe import Probe

__all__ = ["az_pass", "default_blocks"]


def default_blocks(model: nn.Module) -> tuple[list[tuple[str, nn.Module, bool]], bool]:
    """Blocks whose outputs AZ-NAS compares: the model's top-level children with containers of composite modules
    expanded (NB201: stem, the 17 cells and residual blocks). Returns (name, module, came-from-a-container) and
    whether trailing top-level modules after the last container block (the head) are to be cut."""
    out: list[tuple[str, nn.Module, bool]] = []

    def expand(module: nn.Module, prefix: str, inner: bool) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
            if isinstance(child, containers) and any(len(list(g.children())) > 0 for g in child.children()):
                expand(child, full + ".", True)
            else:
                out.append((full, child, inner))

    expand(model, "", False)
    return out, any(inner for _, _, inner in out)


PRODUCTS: dict[str, Needs] = {
    "az": Needs(data=True, gradients=True),
    "az_covariances": Needs(data=True),
    "az_cross_moments": Needs(data=True, gradients=True),
}


@register_pass("az", bn_mode="train", products=PRODUCTS)
def az_pass(
    probe: Probe,
    wanted: frozenset[str],
    *,
    init: str = "kaiming_normal_fan_in",
    blocks: tuple[str, ...] = (),
    inputs: str = "gaussian",
    batch_size: int = 0,
) -> dict[str, Any]:
    """Products ``az_covariances`` (``{"covariances", "blocks"}``: one forward, no gradients),
    ``az_cross_moments`` (``{"cross_moments", "blocks"}``: a forward with gradients and one vector-Jacobian
    product per block pair, from the last pair to the first) and ``az`` (all three keys). ``batch_size`` 0 = the
    batch's size (64 without a batch)."""
    if inputs == "data":
        x, _ = probe.require_data("AZ-NAS with inputs='data'")
    elif inputs == "gaussian":
        if probe.input_shape is None:
            raise ValueError("AZ-NAS needs the input shape: pass a batch or input_shape")
        size = int(batch_size) or (probe.batch_size or 64)
        x = torch.randn((size, *probe.input_shape), generator=probe.generator("az:inputs"), device=probe.device)
    else:
        raise ValueError(f"unknown AZ-NAS inputs {inputs!r} (use 'gaussian' or 'data')")
    if init not in ("kaiming_normal_fan_in", "none", ""):
        raise ValueError(f"unknown AZ-NAS init {init!r} (use 'kaiming_normal_fan_in' or 'none')")
    want_vjps = bool(wanted & {"az", "az_cross_moments"})
    want_cov = bool(wanted & {"az", "az_covariances"})
    probe.set_layout(probe.channels_last)
    net = probe.model
    gen = probe.generator("az")
    tensors = _kaiming_tensors(net, gen) if init == "kaiming_normal_fan_in" else {}
    named = dict(net.named_modules())
    if blocks:
        missing = [b for b in blocks if b not in named]
        if missing:
            raise KeyError(f"AZ-NAS blocks not found in the model: {missing}")
        block_modules = [(b, named[b], True) for b in blocks]
        head_cut = False
    else:
        block_modules, head_cut = default_blocks(net)
    feats: list[tuple[str, torch.Tensor, bool]] = []  # name, output, from an expanded container

    def hook_for(name: str, inner: bool) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                feats.append((name, output, inner))

        return hook

    # Without trainability no gradient is needed: the same forward without autograd's bookkeeping (equal values).
    grad_mode = torch.enable_grad() if want_vjps else torch.no_grad()
    with forward_hooks((m, hook_for(name, inner)) for name, m, inner in block_modules), grad_mode:
        functional_call(net, tensors, (probe.fmt(x),), strict=False)
    if head_cut and any(inner for _, _, inner in feats):
        last_inner = max(i for i, (_, _, inner) in enumerate(feats) if inner)
        feats = feats[: last_inner + 1]
    features = [f for _, f, _ in feats]
    if not features:
        raise ValueError("AZ-NAS found no 4-D block outputs in the model")
    names = [n for n, _, _ in feats]
    result: dict[str, Any] = {}
    covariances = [channel_covariance(f.detach()) for f in features] if want_cov else []
    if want_cov:
        result["az_covariances"] = {"covariances": covariances, "blocks": names}
    if want_vjps:
        cross_moments: list[torch.Tensor | None] = []
        with torch.enable_grad():
            for i in reversed(range(1, len(features))):
                f_out, f_in = features[i], features[i - 1]
                g_out = probe.fmt(rademacher(f_out, gen))
                if not f_out.requires_grad or not f_in.requires_grad:
                    g_in = torch.zeros_like(f_in)
                else:
                    (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
                    g_in = torch.zeros_like(f_in) if g_in is None else g_in
                cross_moments.append(vjp_cross_moment(g_out, g_in))
        result["az_cross_moments"] = {"cross_moments": cross_moments, "blocks": names}
        if "az" in wanted:
            result["az"] = {"covariances": covariances, "cross_moments": cross_moments, "blocks": names}
    return result


def _kaiming_tensors(net: nn.Module, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """New parameters for the AZ-NAS initialisation of ``net``, by name: conv/linear weights Kaiming-normal (fan-in,
    ReLU gain) drawn in module order from ``gen``, their biases 0, normalisation γ=1, β=0. The private model's own
    parameters are left untouched (the forward uses these through ``functional_call``), so no copy is needed."""
    tensors: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for prefix, module in net.named_modules():
            dot = f"{prefix}." if prefix else ""
            if isinstance(module, WEIGHTED_TYPES):
                weight = torch.empty_like(module.weight)
                fill_(weight, lambda t: nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu", generator=gen))
                tensors[dot + "weight"] = weight.requires_grad_(True)
                if getattr(module, "bias", None) is not None:
                    tensors[dot + "bias"] = torch.zeros_like(module.bias).requires_grad_(True)
            elif isinstance(module, NORM_TYPES) and module.weight is not None:
                tensors[dot + "weight"] = torch.ones_like(module.weight).requires_grad_(True)
                tensors[dot + "bias"] = torch.zeros_like(module.bias).requires_grad_(True)
    return tensors


def rademacher(like: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """±1 with probability ½ each, shaped like ``like`` (contiguous), drawn from ``gen`` exactly as
    ``(torch.bernoulli(full(0.5)) − 0.5)·2`` (the official code's draw). On CPU in float32 the same numbers come
    from ``torch.rand(...) < 0.5`` (both draw one float32 uniform per element from the same Mersenne Twister
    stream, in order), about twice as fast; elsewhere ``bernoulli`` itself is used."""
    if like.device.type == "cpu" and like.dtype == torch.float32:
        uniform = torch.rand(like.shape, generator=gen, dtype=torch.float32)
        return (uniform < 0.5).to(torch.float32) * 2.0 - 1.0
    half = torch.full(like.shape, 0.5, dtype=like.dtype, device=like.device)
    return (torch.bernoulli(half, generator=gen) - 0.5) * 2


def channel_covariance(feature: torch.Tensor) -> torch.Tensor:
    """(C, C) float64 covariance of a (B, C, H, W) feature over its B·H·W positions (population normalisation)."""
    b, c, h, w = feature.shape
    flat = feature.permute(0, 2, 3, 1).reshape(b * h * w, c).to(torch.float64)
    flat = flat - flat.mean(dim=0, keepdim=True)
    return flat.T @ flat / flat.shape[0]


def vjp_cross_moment(g_out: torch.Tensor, g_in: torch.Tensor) -> torch.Tensor | None:
    """E[g_in g_outᵀ] over positions (float64), g_in pixel-unshuffled to g_out's resolution; ``None`` for an
    identity block (g_in equals g_out exactly)."""
    if g_out.shape == g_in.shape and torch.equal(g_in, g_out):
        return None
    if g_out.shape[2:] != g_in.shape[2:]:
        stride = g_in.shape[2] // g_out.shape[2]
        g_in = F.pixel_unshuffle(g_in, stride)
    bo, co, ho, wo = g_out.shape
    ci = g_in.shape[1]
    go = g_out.permute(0, 2, 3, 1).reshape(bo * ho * wo, co).to(torch.float64)
    gi = g_in.permute(0, 2, 3, 1).reshape(-1, ci).to(torch.float64)
    return gi.T @ go / (bo * ho * wo)
