"""Small torch helpers shared by the probe engine and its passes.

Which layers the proxies score (conv of any dimension and ``nn.Linear``), which modules count as ReLUs, how a batch
is unpacked, how an out-of-memory error is recognised, how seeds for per-pass generators are derived, and how a
parameter is (re-)initialised so that its random values do not depend on its memory layout.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

__all__ = [
    "NORM_TYPES",
    "RELU_TYPES",
    "WEIGHTED_TYPES",
    "fill_",
    "flat_samples",
    "freeze",
    "is_oom",
    "remove_batchnorm",
    "seed_for",
    "unpack_batch",
    "weighted_layers",
]

WEIGHTED_TYPES: tuple[type[nn.Module], ...] = (_ConvNd, nn.Linear)
RELU_TYPES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU)
NORM_TYPES: tuple[type[nn.Module], ...] = (_BatchNorm, nn.GroupNorm)
_OOM_TYPES: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if t
)


def is_oom(exc: BaseException) -> bool:
    """Whether ``exc`` is an out-of-memory error (CUDA or allocator)."""
    return isinstance(exc, _OOM_TYPES) or (isinstance(exc, RuntimeError) and "out of memory" in str(exc))


def weighted_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Conv (any dimension) and Linear modules with a weight, the layers the reference code scores."""
    return [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, WEIGHTED_TYPES) and isinstance(getattr(m, "weight", None), torch.Tensor)
    ]


def unpack_batch(batch: Any) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """Accept ``(x, y)``, ``(x,)``, a bare tensor ``x``, an object with ``.x``/``.y`` (e.g. ``Batch``) or None."""
    if batch is None:
        return None, None
    if isinstance(batch, torch.Tensor):
        return batch, None
    if isinstance(getattr(batch, "x", None), torch.Tensor):
        return batch.x, getattr(batch, "y", None)
    if isinstance(batch, (tuple, list)):
        if len(batch) == 0:
            return None, None
        x = batch[0]
        y = batch[1] if len(batch) > 1 else None
        return x, y
    raise TypeError(f"batch must be (x, y), a tensor or None, got {type(batch).__name__}")


def seed_for(seed: int, tag: str) -> int:
    """A 63-bit seed derived from the probe's ``seed`` and a pass's ``tag``: passes draw independent numbers."""
    return (int(seed) * 1_000_003 + zlib.crc32(tag.encode())) % (2**63 - 1)


def fill_(param: torch.Tensor, init: Callable[[torch.Tensor], Any]) -> None:
    """Initialise ``param`` through a contiguous buffer, so that random values do not depend on its layout."""
    buffer = torch.empty(param.shape, dtype=param.dtype, device=param.device)
    init(buffer)
    param.copy_(buffer)


def flat_samples(t: torch.Tensor) -> torch.Tensor:
    """(N, everything else) without a copy when ``t`` is channels-last (unit order is irrelevant to callers)."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
    return t.reshape(t.shape[0], -1)


def remove_batchnorm(model: nn.Module) -> int:
    """Replace every BatchNorm module of ``model`` (a private copy!) by ``nn.Identity``; returns how many."""
    count = 0
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, _BatchNorm):
                setattr(module, child_name, nn.Identity())
                count += 1
    return count


def freeze(value: Any) -> Any:
    """A hashable form of a pass option (lists become tuples, dicts sorted tuples of pairs)."""
    if isinstance(value, list):
        return tuple(freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, freeze(v)) for k, v in value.items()))
    return value
