"""The ``synflow`` pass (Tanaka et al., NeurIPS 2020): float64, BatchNorm removed, |θ|, one all-ones input."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn.modules.batchnorm import _BatchNorm

from archrank.proxies.hooks import forward_hooks
from archrank.proxies.passes.base import Needs, register_pass

if TYPE_CHECKING:
    from archrank.proxies.probe import Probe

__all__ = ["synflow_pass"]


def _skip(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> Any:
    """Forward hook making a module the identity (its own output is discarded)."""
    return inputs[0]


@register_pass("synflow", bn_mode="off", needs=Needs(gradients=True, double=True))
def synflow_pass(probe: Probe, wanted: frozenset[str]) -> dict[str, dict[str, torch.Tensor]]:
    """Per conv/linear layer the tensor |W ⊙ ∂R/∂W| with R = Σ output, in float64.

    The network is the probe's private model run in eval mode (dropout off) through ``functional_call`` with every
    parameter and floating buffer replaced by its absolute value in float64 (as in the reference), and every
    BatchNorm made the identity by a forward hook (the reference removes BatchNorm): the same computation as a
    converted copy, without copying the model. A float64 overflow of R raises ``OverflowError``.
    """
    if probe.input_shape is None:
        raise ValueError("synflow needs the input shape: pass a batch or input_shape")
    probe.set_layout(probe.channels_last)
    net = probe.model
    tensors: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        for name, param in net.named_parameters():
            tensors[name] = param.detach().abs().double().requires_grad_(True) if param.is_floating_point() else param
        for name, buffer in net.named_buffers():
            tensors[name] = buffer.abs().double() if buffer.is_floating_point() else buffer
    layers = probe.weighted_layers()
    # A weight that is not a registered parameter (e.g. computed by a hook) gets no gradient, as in a copy.
    weights = [tensors.get(f"{name}.weight") for name, _ in layers]
    targets = [w for w in weights if w is not None]
    ones = probe.fmt(torch.ones((1, *probe.input_shape), dtype=torch.float64, device=probe.device))
    bns = [(m, _skip) for m in net.modules() if isinstance(m, _BatchNorm)]
    net.eval()
    try:
        with forward_hooks(bns), torch.enable_grad():
            out = functional_call(net, tensors, (ones,))
            total = out.sum()
            if not torch.isfinite(total):
                raise OverflowError("float64 overflow in the synflow forward pass")
            grads = iter(torch.autograd.grad(total, targets, allow_unused=True))
    finally:
        net.train()
    result = {}
    for (name, module), weight in zip(layers, weights, strict=True):
        if weight is None:
            result[name] = torch.zeros_like(module.weight.detach(), dtype=torch.float64)
            continue
        grad = next(grads)
        weight = weight.detach()
        result[name] = torch.zeros_like(weight) if grad is None else (weight * grad).abs()
    return {"synflow": result}
