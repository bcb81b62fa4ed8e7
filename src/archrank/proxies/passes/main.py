"""The ``main`` pass: one train-mode forward on the batch and the backward passes its requested products need.

BatchNorm uses batch statistics, as in the reference code; forward hooks live on the probe's private copy only.
Products (computed together, only those requested):

- ``weight_grads``: ∂L/∂W of every conv/linear weight (loss = ``loss_fn(logits, y)``, default cross-entropy);
- ``act_grads``: per-sample, per-channel Σ_spatial a·∂L/∂a of every conv/linear output (Fisher);
- ``hessian``: the Hessian-gradient product H·g over conv/linear weights (GraSP), from the *same* forward: the
  loss backward is built with ``create_graph`` and differentiated once more;
- ``jacobian``: per-sample input gradients of Σ logits (jacob_cov, EPE-NAS), a second backward of the same graph
  that computes input gradients only;
- ``relu_gram``: the NASWOT kernel K (agreements of binary ReLU codes between samples), accumulated layer by layer;
- ``relu_patterns``: sample-wise activation patterns, one packed code per ReLU unit (SWAP);
- ``meco``: the output of every module call for the first sample, as (channels, positions) (MeCo);
- ``logits``.

Weights are never written (gradients come from :func:`torch.autograd.grad`, not ``.grad``). An out-of-memory
error splits the batch into chunks (BatchNorm statistics per chunk, with a note) and retries.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd

from archrank.proxies.hooks import ReluCodes, forward_hooks
from archrank.proxies.passes.base import Needs, register_pass
from archrank.proxies.torchutil import RELU_TYPES, flat_samples, is_oom

if TYPE_CHECKING:
    from archrank.proxies.probe import Probe

__all__ = ["ActGrad", "main_pass"]

_LOSS = Needs(data=True, labels=True, gradients=True)
PRODUCTS: dict[str, Needs] = {
    "weight_grads": _LOSS,
    "act_grads": _LOSS,
    "hessian": Needs(data=True, labels=True, gradients=True, hessian=True),
    "jacobian": Needs(data=True, gradients=True, input_gradients=True),
    "relu_gram": Needs(data=True),
    "relu_patterns": Needs(data=True),
    "meco": Needs(data=True),
    "logits": Needs(data=True),
}


@dataclass
class ActGrad:
    """One call of a conv/linear layer in the main pass: per-sample, per-channel Σ_spatial a·∂L/∂a."""

    name: str
    module: nn.Module
    g_nk: torch.Tensor  # (N, C)


@register_pass("main", bn_mode="train", products=PRODUCTS)
def main_pass(probe: Probe, wanted: frozenset[str]) -> dict[str, Any]:
    """Compute the ``wanted`` products in one forward (+ backward); split the batch after an out-of-memory error."""
    x, _ = probe.require_data("the main pass", labels=bool(wanted & {"weight_grads", "act_grads", "hessian"}))
    n = x.shape[0]
    split = 1
    while True:
        try:
            products = _run(probe, set(wanted), split)
        except Exception as exc:
            if not is_oom(exc) or split >= n:
                raise
            if probe.device.type == "cuda":
                torch.cuda.empty_cache()
            split = min(n, split * 2)
            continue
        if split > 1:
            probe.note(f"out of memory: batch split into {split} chunks (BatchNorm statistics per chunk)")
        return products


def _run(probe: Probe, components: set[str], split: int) -> dict[str, Any]:
    x, y = probe.x, probe.y
    assert x is not None
    # The double backward of GraSP is faster in the contiguous layout on CPU (measured ~25%); everything
    # else prefers channels-last. Not with dropout: its random mask follows the memory layout, and a proxy's
    # value must not depend on which other proxies share the pass.
    hessian_contiguous = "hessian" in components and probe.memory_format == "auto" and not probe.has_dropout
    probe.set_layout(probe.channels_last and not hessian_contiguous)
    model = probe.model
    n = x.shape[0]
    bounds = [(c * n // split, (c + 1) * n // split) for c in range(split)]
    bounds = [(s, e) for s, e in bounds if e > s]
    layers = probe.weighted_layers()
    weights = [m.weight for _, m in layers]
    want_hessian = "hessian" in components
    want_grads = want_hessian or "weight_grads" in components
    want_act = "act_grads" in components
    want_loss = want_grads or want_act
    want_jac = "jacobian" in components
    jac_error: Exception | None = None
    if want_jac and not x.is_floating_point():
        jac_error = TypeError(f"input gradients need floating-point inputs; the batch's inputs are {x.dtype}")
        want_jac = False
    want_codes = bool(components & {"relu_gram", "relu_patterns"})
    want_meco = "meco" in components
    inline_hessian = want_hessian and len(bounds) == 1

    state = {"active": True, "chunk": 0, "relu_call": 0}
    acts: list[tuple[str, nn.Module, torch.Tensor]] = []
    codes = ReluCodes(
        n_chunks=len(bounds), want_gram="relu_gram" in components, want_patterns="relu_patterns" in components
    )
    meco_feats: list[torch.Tensor] = []

    def act_hook(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if state["active"] and isinstance(output, torch.Tensor) and output.requires_grad:
                acts.append((name, module, output))

        return hook

    def relu_hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if not state["active"] or not inputs or not isinstance(inputs[0], torch.Tensor):
            return
        inp = inputs[0].detach()
        call = state["relu_call"]
        state["relu_call"] += 1
        codes.add(call, flat_samples(inp > 0), spatial=inp.dim() == 4)

    def meco_hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if not state["active"] or state["chunk"] != 0 or not isinstance(output, torch.Tensor):
            return
        if output.dim() < 1 or output.shape[0] == 0:
            return
        feature = output[0].detach()
        feature = feature.reshape(feature.shape[0], -1) if feature.dim() > 0 else feature.reshape(1, 1)
        meco_feats.append(feature)

    hooks: list[tuple[nn.Module, Callable[..., None]]] = []
    if want_act:
        hooks += [(module, act_hook(name)) for name, module in layers]
    if want_codes:
        hooks += [(module, relu_hook) for module in model.modules() if isinstance(module, RELU_TYPES)]
    if want_meco:
        hooks += [(module, meco_hook) for module in model.modules()]

    grad_sum: list[torch.Tensor] | None = None
    hess_sum: list[torch.Tensor] | None = None
    g_nk: dict[int, list[torch.Tensor]] = defaultdict(list)
    act_meta: list[tuple[str, nn.Module]] = []
    jac_rows: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    try:
        # Forward-only products (NASWOT, SWAP, MeCo, logits) need no autograd graph: the same forward under
        # no_grad gives the same values, faster and with less memory.
        grad_mode = torch.enable_grad() if (want_loss or want_jac) else torch.no_grad()
        with forward_hooks(hooks), grad_mode:
            for chunk, (start, end) in enumerate(bounds):
                state["chunk"], state["relu_call"] = chunk, 0
                acts.clear()
                xc = probe.fmt(x[start:end])
                if want_jac:
                    xc = xc.detach().clone().requires_grad_(True)
                out = model(xc)
                if not isinstance(out, torch.Tensor):
                    raise TypeError(f"model must return a tensor of logits, got {type(out).__name__}")
                logits.append(out.detach())
                if want_loss:
                    assert y is not None
                    loss = probe.loss_fn(out, y[start:end]) * ((end - start) / n)
                    act_tensors = [a for _, _, a in acts] if want_act else []
                    targets = (weights if want_grads else []) + act_tensors
                    grads = torch.autograd.grad(
                        loss,
                        targets,
                        retain_graph=want_jac or inline_hessian,
                        create_graph=inline_hessian,
                        allow_unused=True,
                    )
                    w_grads = list(grads[: len(weights)]) if want_grads else []
                    a_grads = list(grads[len(weights) :]) if want_grads else list(grads)
                    if want_grads:
                        detached = [
                            torch.zeros_like(w) if g is None else g.detach()
                            for w, g in zip(weights, w_grads, strict=True)
                        ]
                        if grad_sum is None:
                            grad_sum = detached
                        else:
                            grad_sum = [a + b for a, b in zip(grad_sum, detached, strict=True)]
                    if want_act:
                        if chunk == 0:
                            act_meta = [(name, module) for name, module, _ in acts]
                        elif len(acts) != len(act_meta):
                            raise RuntimeError("the model called its layers differently on two chunks")
                        for i, ((_, _, a), g) in enumerate(zip(acts, a_grads, strict=True)):
                            g = torch.zeros_like(a) if g is None else g.detach()
                            prod = a.detach() * g
                            if prod.dim() > 2 and isinstance(act_meta[i][1], _ConvNd):
                                prod = prod.sum(dim=tuple(range(2, prod.dim())))
                            elif prod.dim() > 2:  # Linear on (N, ..., C): channels last
                                prod = prod.sum(dim=tuple(range(1, prod.dim() - 1)))
                            g_nk[i].append(prod)
                    if inline_hessian:
                        z = sum(
                            ((g.detach() * g).sum() for g in w_grads if g is not None and g.requires_grad),
                            torch.zeros((), device=probe.device),
                        )
                        if z.requires_grad:
                            hv = torch.autograd.grad(z, weights, retain_graph=want_jac, allow_unused=True)
                            hess_sum = [
                                torch.zeros_like(w) if h is None else h.detach()
                                for w, h in zip(weights, hv, strict=True)
                            ]
                        else:
                            hess_sum = [torch.zeros_like(w) for w in weights]
                    del grads, w_grads, a_grads
                if want_jac:
                    (jac,) = torch.autograd.grad(out.sum(), xc, allow_unused=True)
                    jac = torch.zeros_like(xc) if jac is None else jac
                    jac_rows.append(jac.detach().reshape(jac.shape[0], -1))
                del out
                acts.clear()

            if want_hessian and not inline_hessian:
                # Chunked (after an out-of-memory error): H·g needs the full-batch g first, as in the reference.
                state["active"] = False
                assert grad_sum is not None and y is not None
                hess_sum = [torch.zeros_like(w) for w in weights]
                for start, end in bounds:
                    out = model(probe.fmt(x[start:end]))
                    loss = probe.loss_fn(out, y[start:end]) * ((end - start) / n)
                    g_f = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
                    z = sum(
                        ((gw * gf).sum() for gw, gf in zip(grad_sum, g_f, strict=True) if gf is not None),
                        torch.zeros((), device=probe.device),
                    )
                    if z.requires_grad:
                        hv = torch.autograd.grad(z, weights, allow_unused=True)
                        hess_sum = [h if v is None else h + v.detach() for h, v in zip(hess_sum, hv, strict=True)]
    finally:
        acts.clear()

    names = [name for name, _ in layers]
    products: dict[str, Any] = {}
    if "logits" in components:
        products["logits"] = torch.cat(logits, 0)
    if "weight_grads" in components:
        assert grad_sum is not None
        products["weight_grads"] = dict(zip(names, grad_sum, strict=True))
    if want_hessian:
        assert hess_sum is not None
        products["hessian"] = dict(zip(names, hess_sum, strict=True))
    if want_act:
        products["act_grads"] = [
            ActGrad(name, module, torch.cat(g_nk[i], 0)) for i, (name, module) in enumerate(act_meta)
        ]
    if want_jac:
        products["jacobian"] = torch.cat(jac_rows, 0)
    elif jac_error is not None:
        products["jacobian"] = jac_error
    if "relu_gram" in components:
        if codes.pending:
            raise RuntimeError("the model called its ReLUs differently on two chunks")
        if codes.gram is None:
            raise ValueError("no ReLU-family module ran in the forward pass (NASWOT needs nn.ReLU modules)")
        products["relu_gram"] = codes.gram
    if "relu_patterns" in components:
        products["relu_patterns"] = codes.patterns
    if want_meco:
        products["meco"] = meco_feats
    return products
