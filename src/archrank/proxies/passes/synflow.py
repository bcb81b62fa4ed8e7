"""The ``synflow`` pass (Tanaka et al., NeurIPS 2020): float64, BatchNorm removed, |θ|, one all-ones input."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from archrank.proxies.passes.base import Needs, register_pass
from archrank.proxies.torchutil import remove_batchnorm, weighted_layers

if TYPE_CHECKING:
    from archrank.proxies.probe import Probe

__all__ = ["synflow_pass"]


@register_pass("synflow", bn_mode="off", needs=Needs(gradients=True, double=True))
def synflow_pass(probe: Probe, wanted: frozenset[str]) -> dict[str, dict[str, torch.Tensor]]:
    """Per conv/linear layer the tensor |W ⊙ ∂R/∂W| with R = Σ output, on a private float64 copy.

    The copy is evaluated in eval mode (dropout off); every parameter and floating buffer is replaced by its
    absolute value, as in the reference. A float64 overflow of R raises ``OverflowError``.
    """
    if probe.input_shape is None:
        raise ValueError("synflow needs the input shape: pass a batch or input_shape")
    net = probe.fresh_copy()
    remove_batchnorm(net)
    net = net.double().eval()
    with torch.no_grad():
        for tensor in list(net.parameters()) + list(net.buffers()):
            if tensor.is_floating_point():
                tensor.abs_()
    layers = weighted_layers(net)
    ones = probe.fmt(torch.ones((1, *probe.input_shape), dtype=torch.float64, device=probe.device))
    with torch.enable_grad():
        out = net(ones)
        total = out.sum()
        if not torch.isfinite(total):
            raise OverflowError("float64 overflow in the synflow forward pass")
        grads = torch.autograd.grad(total, [m.weight for _, m in layers], allow_unused=True)
    result = {}
    for (name, module), grad in zip(layers, grads, strict=True):
        weight = module.weight.detach()
        result[name] = torch.zeros_like(weight) if grad is None else (weight * grad).abs()
    return {"synflow": result}
