"""Model cost: parameter count and FLOPs, the two cost "proxies".

Two FLOP conventions, both counted with temporary forward hooks on modules (functional calls such as
``F.relu`` inside a user's ``forward`` are invisible to hooks and therefore not counted):

``"naslib"`` (default) — the convention of NASLib / NAS-Bench-Suite-Zero (tensorwatch's torchstat), whose
    figures are the ``flops_M`` column of the NB201 table: Conv2d = k_h*k_w*C_in/groups*C_out per output
    position (+C_out per position with a bias); Linear = in*out (bias not counted); BatchNorm2d = 2 per input
    element when affine, else 1; ReLU-family = 1 per input element; Avg/MaxPool2d = k_h*k_w per output
    element; adaptive pools = Σ over output cells of C*(span_h+1)*(span_w+1). Our figures equal the table's
    for every one of the 15625 NB201 cells (``benchmarks/nb201_exactness.py``).
``"macs"`` — multiply-accumulates of Conv2d and Linear only (NAS-Bench-201's own ``get_model_infos`` sum).

A multiply-accumulate counts as one FLOP in both. Figures are per input image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

FLOP_CONVENTIONS = ("naslib", "macs")
_RELUS = (nn.ReLU, nn.ReLU6, nn.PReLU, nn.ELU, nn.LeakyReLU)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (BN affine included, running statistics excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (int(value), int(value)) if isinstance(value, int) else (int(value[0]), int(value[1]))


def _conv(module: nn.Conv2d, inp: torch.Tensor, out: torch.Tensor) -> int:
    positions = out.shape[0] * out.shape[2] * out.shape[3]
    k_h, k_w = module.kernel_size
    flops = k_h * k_w * (module.in_channels // module.groups) * module.out_channels * positions
    return flops + (module.out_channels * positions if module.bias is not None else 0)


def _linear(module: nn.Linear, inp: torch.Tensor, out: torch.Tensor) -> int:
    return (out.numel() // module.out_features) * module.in_features * module.out_features


def _batchnorm(module: nn.BatchNorm2d, inp: torch.Tensor, out: torch.Tensor) -> int:
    return inp.numel() * (2 if module.affine else 1)


def _elementwise(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    return inp.numel()


def _pool(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    k_h, k_w = _pair(module.kernel_size)
    return out.numel() * k_h * k_w


def _adaptive_pool(module: nn.Module, inp: torch.Tensor, out: torch.Tensor) -> int:
    rows, cols = inp.shape[0] * inp.shape[1], (inp.shape[2], inp.shape[3])
    total = 0
    for i in range(out.shape[2]):
        span_h = math.ceil((i + 1) * cols[0] / out.shape[2]) - math.floor(i * cols[0] / out.shape[2])
        for j in range(out.shape[3]):
            span_w = math.ceil((j + 1) * cols[1] / out.shape[3]) - math.floor(j * cols[1] / out.shape[3])
            total += rows * (span_h + 1) * (span_w + 1)
    return total


_Counter = Callable[[nn.Module, torch.Tensor, torch.Tensor], int]
_RULES: dict[str, tuple[tuple[type | tuple[type, ...], _Counter], ...]] = {
    "macs": ((nn.Conv2d, _conv), (nn.Linear, _linear)),
    "naslib": (
        (nn.Conv2d, _conv),
        (nn.Linear, _linear),
        (nn.BatchNorm2d, _batchnorm),
        (_RELUS, _elementwise),
        ((nn.AvgPool2d, nn.MaxPool2d), _pool),
        ((nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d), _adaptive_pool),
    ),
}


def count_flops(model: nn.Module, input_shape: Sequence[int] = (3, 32, 32), convention: str = "naslib") -> int:
    """FLOPs of one forward pass for one input of shape ``input_shape`` (C, H, W) under ``convention``.

    Runs one forward pass of a single zero image in eval mode with temporary forward hooks; the model's
    training mode, parameters and buffers are left exactly as they were.
    """
    if convention not in _RULES:
        raise ValueError(f"unknown FLOP convention {convention!r}; choose one of {', '.join(FLOP_CONVENTIONS)}")
    total = 0

    def make_hook(counter: _Counter) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
            nonlocal total
            total += int(counter(module, inputs[0], output))

        return hook

    handles = []
    for module in model.modules():
        for kinds, counter in _RULES[convention]:
            if isinstance(module, kinds):
                handles.append(module.register_forward_hook(make_hook(counter)))
                break
    was_training = model.training
    model.eval()  # eval mode: the probe pass must not update BatchNorm running statistics
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        with torch.no_grad():
            model(torch.zeros(1, *input_shape, device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return int(total)
