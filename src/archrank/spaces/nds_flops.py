"""FLOPs as the NDS records count them, for checking our builds against the records' ``flops``.

The records' figures are multiply-adds of conv and linear layers plus, measured on the stage networks
(ResNet, ResNeXt, Vanilla: exact on every record), the linear layer's bias and 5 operations per
BatchNorm element (normalise and affine). The cell networks' records follow no convention we could
reconstruct exactly (see ``docs/results/spaces/nds.md``); this count is the closest simple one there too.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from archrank.proxies.cost import count_flops

BN_FLOPS_PER_ELEMENT = 5


def count_nds_flops(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224)) -> int:
    """Conv and linear multiply-adds (:func:`count_flops`'s ``"macs"``) + linear biases + 5 per BN element."""
    return sum(nds_flop_terms(model, input_shape))


def nds_flop_terms(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224)) -> tuple[int, int]:
    """``(macs, extra)`` from one forward pass: conv + linear multiply-adds, and linear biases + 5 per BN
    element (their sum is :func:`count_nds_flops`)."""
    extra = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal extra
        if isinstance(module, nn.BatchNorm2d):
            extra += BN_FLOPS_PER_ELEMENT * inputs[0].numel()
        elif isinstance(module, nn.Linear) and module.bias is not None:
            extra += output.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.BatchNorm2d | nn.Linear)]
    try:
        macs = count_flops(model, input_shape, "macs")
    finally:
        for handle in handles:
            handle.remove()
    return int(macs), int(extra)
