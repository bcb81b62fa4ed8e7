"""FLOPs as the NDS records count them, for checking our builds against the records' ``flops``.

The NDS files use two conventions, one per network kind, both reconstructed exactly from the records
(``benchmarks/nds_exactness.py`` checks every record):

``"nds-stage"`` (ResNet, ResNeXt, Vanilla): conv and linear multiply-adds, plus the linear bias, plus 5 per
    BatchNorm element (normalise and affine);
``"nds-cell"`` (DARTS, ENAS, PNAS, NASNet, Amoeba): conv multiply-adds with each conv's output size computed
    *ignoring dilation* (``(h + 2p - k) // s + 1``: a dilated 3x3 with padding 2 counts at h + 2), plus 1 per
    ReLU input element, plus kernel area x output elements for every pooling (an adaptive average pool
    counts its input elements), plus linear multiply-adds and bias; BatchNorm counts nothing.

Neither is the plain "conv + linear multiply-adds" (``"macs"``, as ``count_flops(..., "macs")``), which falls
short of every record.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

NDS_FLOP_CONVENTIONS = ("nds-stage", "nds-cell")
BN_FLOPS_PER_ELEMENT = 5  # nds-stage


def _conv_macs(module: nn.Conv2d, inp: torch.Tensor, h_out: int, w_out: int) -> int:
    k_h, k_w = module.kernel_size
    return k_h * k_w * (module.in_channels // module.groups) * module.out_channels * h_out * w_out * inp.shape[0]


def _module_counts(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> tuple[int, int, int]:
    """This module's (macs, nds-stage, nds-cell) FLOPs."""
    if isinstance(module, nn.Conv2d):
        macs = _conv_macs(module, inp, out.shape[2], out.shape[3])
        (k_h, k_w), (s_h, s_w), padding = module.kernel_size, module.stride, module.padding
        if isinstance(padding, str):
            raise ValueError("the nds-cell FLOP count needs numeric conv padding")
        h_out = (inp.shape[2] + 2 * padding[0] - k_h) // s_h + 1  # dilation ignored, as NDS counted
        w_out = (inp.shape[3] + 2 * padding[1] - k_w) // s_w + 1
        return macs, macs, _conv_macs(module, inp, h_out, w_out)
    if isinstance(module, nn.Linear):
        macs = (out.numel() // module.out_features) * module.in_features * module.out_features
        bias = out.numel() if module.bias is not None else 0
        return macs, macs + bias, macs + bias
    if isinstance(module, nn.BatchNorm2d):
        return 0, BN_FLOPS_PER_ELEMENT * inp.numel(), 0
    if isinstance(module, nn.ReLU):
        return 0, 0, inp.numel()
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        kernel = module.kernel_size
        area = kernel * kernel if isinstance(kernel, int) else kernel[0] * kernel[1]
        return 0, 0, area * out.numel()
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return 0, 0, inp.numel()
    return 0, 0, 0


def nds_flop_counts(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224)) -> dict[str, int]:
    """``{"macs", "nds-stage", "nds-cell"}`` FLOPs of one image, from one forward pass of a zero image in
    eval mode (works on the ``meta`` device; the model's mode is restored)."""
    totals = [0, 0, 0]

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        for i, value in enumerate(_module_counts(module, inputs[0], output)):
            totals[i] += int(value)

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return dict(zip(("macs", *NDS_FLOP_CONVENTIONS), totals, strict=True))


def count_nds_flops(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224),
                    convention: str = "nds-stage") -> int:
    """FLOPs of one image of shape ``input_shape`` under an NDS convention (module docstring)."""
    if convention not in NDS_FLOP_CONVENTIONS:
        raise ValueError(f"unknown NDS FLOP convention {convention!r}; choose one of "
                         f"{', '.join(NDS_FLOP_CONVENTIONS)}")
    return nds_flop_counts(model, input_shape)[convention]
