"""FLOPs as the NDS records count them, for checking our builds against the records' ``flops``.

The NDS files use two conventions, one per network kind, both reconstructed exactly from the records
(``benchmarks/nds_exactness.py`` checks every record):

``"nds-stage"`` (ResNet, ResNeXt, Vanilla): conv and linear multiply-adds, plus the linear bias, plus 5 per
    BatchNorm element (normalise and affine);
``"nds-cell"`` (DARTS, ENAS, PNAS, NASNet, Amoeba): conv multiply-adds with each conv's output size computed
    *ignoring dilation* (``(h + 2p - k) // s + 1``: a dilated 3x3 with padding 2 counts at h + 2), plus 1 per
    ReLU input element, plus kernel area x output elements for every pooling (an adaptive average pool
    counts its input elements), plus linear multiply-adds and bias; BatchNorm counts nothing.

Neither is the plain "conv + linear multiply-adds" (``count_flops(..., "macs")``), which falls 0.3-12 % short.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from archrank.proxies.cost import count_flops

NDS_FLOP_CONVENTIONS = ("nds-stage", "nds-cell")
BN_FLOPS_PER_ELEMENT = 5  # nds-stage


def _stage_extra(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, nn.BatchNorm2d):
        return BN_FLOPS_PER_ELEMENT * inp.numel()
    if isinstance(module, nn.Linear) and module.bias is not None:
        return out.numel()
    return 0


def _cell_count(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    if isinstance(module, nn.Conv2d):
        (k_h, k_w), (s_h, s_w), padding = module.kernel_size, module.stride, module.padding
        if isinstance(padding, str):
            raise ValueError("the nds-cell FLOP count needs numeric conv padding")
        h_out = (inp.shape[2] + 2 * padding[0] - k_h) // s_h + 1  # dilation ignored, as NDS counted
        w_out = (inp.shape[3] + 2 * padding[1] - k_w) // s_w + 1
        return k_h * k_w * (module.in_channels // module.groups) * module.out_channels * h_out * w_out * inp.shape[0]
    if isinstance(module, nn.ReLU):
        return inp.numel()
    if isinstance(module, nn.MaxPool2d | nn.AvgPool2d):
        kernel = module.kernel_size
        area = kernel * kernel if isinstance(kernel, int) else kernel[0] * kernel[1]
        return area * out.numel()
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return inp.numel()
    if isinstance(module, nn.Linear):
        return (out.numel() // module.out_features) * module.in_features * module.out_features + (
            out.numel() if module.bias is not None else 0
        )
    return 0


def _hooked_sum(model: nn.Module, counter: Callable[[nn.Module, torch.Tensor, torch.Tensor], int],
                run: Callable[[], object]) -> int:
    """Run ``run()`` with a forward hook on every module adding ``counter`` to a total; the total."""
    total = 0

    def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        nonlocal total
        total += int(counter(module, inputs[0], output))

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        run()
    finally:
        for handle in handles:
            handle.remove()
    return total


def nds_flop_terms(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224)) -> tuple[int, int]:
    """``(macs, extra)`` of the ``nds-stage`` count from one forward pass: conv + linear multiply-adds, and
    linear biases + 5 per BN element."""
    macs = 0

    def run() -> None:
        nonlocal macs
        macs = count_flops(model, input_shape, "macs")

    extra = _hooked_sum(model, _stage_extra, run)
    return int(macs), int(extra)


def count_nds_flops(model: nn.Module, input_shape: Sequence[int] = (3, 224, 224),
                    convention: str = "nds-stage") -> int:
    """FLOPs of one image of shape ``input_shape`` under an NDS convention (module docstring)."""
    if convention == "nds-stage":
        return sum(nds_flop_terms(model, input_shape))
    if convention == "nds-cell":
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        was_training = model.training
        model.eval()

        def run() -> None:
            with torch.no_grad():
                model(torch.zeros(1, *input_shape, device=device))

        try:
            return _hooked_sum(model, _cell_count, run)
        finally:
            model.train(was_training)
    raise ValueError(f"unknown NDS FLOP convention {convention!r}; choose one of {', '.join(NDS_FLOP_CONVENTIONS)}")
