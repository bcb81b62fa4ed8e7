"""The ``zico`` pass (Li et al., ICLR 2023): loss gradients of separate, equal chunks of the batch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from archrank.proxies.passes.base import Needs, register_pass

if TYPE_CHECKING:
    from archrank.proxies.probe import Probe

__all__ = ["zico_pass"]


@register_pass("zico", bn_mode="train", needs=Needs(data=True, labels=True, gradients=True))
def zico_pass(probe: Probe, wanted: frozenset[str], *, num_chunks: int = 2) -> dict[str, dict[str, torch.Tensor]]:
    """Per conv/linear layer a (chunks, numel) tensor: the loss gradient of each of ``num_chunks`` equal parts of
    the batch, each its own train-mode forward + backward (BatchNorm statistics per chunk)."""
    x, y = probe.require_data("zico", labels=True)
    assert y is not None
    n = x.shape[0]
    k = int(num_chunks)
    if not 2 <= k <= n:
        raise ValueError(f"zico needs 2 <= num_chunks <= batch size ({n}), got {k}")
    probe.set_layout(probe.channels_last)
    layers = probe.weighted_layers()
    weights = [m.weight for _, m in layers]
    per_layer: list[list[torch.Tensor]] = [[] for _ in layers]
    with torch.enable_grad():
        for c in range(k):
            start, end = c * n // k, (c + 1) * n // k
            out = probe.model(probe.fmt(x[start:end]))
            loss = probe.loss_fn(out, y[start:end])
            grads = torch.autograd.grad(loss, weights, allow_unused=True)
            for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
                per_layer[i].append((torch.zeros_like(w) if g is None else g).detach().reshape(-1))
    return {"zico": {name: torch.stack(gs, 0) for (name, _), gs in zip(layers, per_layer, strict=True)}}
