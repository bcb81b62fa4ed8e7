"""The ``zen`` pass (Lin et al., ICCV 2021): a Gaussian-initialised copy, a clean and a perturbed forward."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from archrank.proxies.hooks import PreGapCapture
from archrank.proxies.passes.base import Needs, register_pass
from archrank.proxies.torchutil import NORM_TYPES, WEIGHTED_TYPES, fill_

if TYPE_CHECKING:
    from archrank.proxies.probe import Probe

__all__ = ["zen_pass"]


@register_pass("zen", bn_mode="train", needs=Needs())
def zen_pass(
    probe: Probe,
    wanted: frozenset[str],
    *,
    mixup_gamma: float = 1e-2,
    batch_size: int = 0,
    bn_stat: str = "running",
    feature_module: str = "",
) -> dict[str, dict[str, Any]]:
    """``{"delta": E‖f(x) − f(x + γε)‖₁, "log_sigma": [log σ̄ of each BatchNorm]}`` (tensors); see
    :func:`archrank.proxies.datafree.zen` for the definition and the options."""
    if probe.input_shape is None:
        raise ValueError("zen needs the input shape: pass a batch or input_shape")
    if bn_stat not in ("batch", "running"):
        raise ValueError(f"bn_stat must be 'batch' or 'running', got {bn_stat!r}")
    size = int(batch_size) or (probe.batch_size or 64)
    net = probe.fresh_copy().train()
    for module in net.modules():  # two forwards must differ by the input perturbation only
        if isinstance(module, nn.modules.dropout._DropoutNd):
            module.eval()
    gen = probe.generator("zen")
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, WEIGHTED_TYPES):
                fill_(module.weight, lambda t: nn.init.normal_(t, 0.0, 1.0, generator=gen))
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, NORM_TYPES):
                if module.weight is not None:
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)
                if isinstance(module, _BatchNorm):
                    module.reset_running_stats()
    shape = (size, *probe.input_shape)
    x1 = probe.fmt(torch.randn(shape, generator=gen, device=probe.device))
    x2 = probe.fmt(torch.randn(shape, generator=gen, device=probe.device))
    mixed = x1 + mixup_gamma * x2
    bns = [m for m in net.modules() if isinstance(m, _BatchNorm)]
    log_sigma: list[torch.Tensor] = []
    handles = []
    if bn_stat == "batch":
        # momentum 1 on the private copy: running_var becomes the clean batch's (unbiased) variance, which
        # BatchNorm computes anyway; layers without running statistics get a pre-hook instead.
        for m in bns:
            if m.track_running_stats and m.running_var is not None:
                m.momentum = 1.0

        def var_hook(module: nn.Module, inputs: tuple[Any, ...]) -> None:
            if capture.recording_first:
                inp = inputs[0].detach()
                dims = [d for d in range(inp.dim()) if d != 1]
                log_sigma.append(0.5 * torch.log(inp.var(dim=dims, unbiased=True).mean()))

        handles = [m.register_forward_pre_hook(var_hook) for m in bns if m.running_var is None]
    capture = PreGapCapture(net, feature_module)
    try:
        with torch.no_grad():
            capture.recording_first = True
            f1 = capture.run(x1)
            capture.recording_first = False
            if bn_stat == "batch":
                log_sigma += [0.5 * torch.log(m.running_var.mean()) for m in bns if m.running_var is not None]
            f2 = capture.run(mixed)
    finally:
        for handle in handles:
            handle.remove()
        capture.close()
    delta = (f1 - f2).abs().reshape(f1.shape[0], -1).sum(1).mean()
    if bn_stat == "running":
        log_sigma = [0.5 * torch.log(m.running_var.mean()) for m in bns if m.running_var is not None]
    return {"zen": {"delta": delta, "log_sigma": log_sigma}}
