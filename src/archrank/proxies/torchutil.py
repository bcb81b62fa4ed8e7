"""Small torch helpers shared by the probe engine and its passes.

Which layers the proxies score (conv of any dimension and ``nn.Linear``), which modules count as ReLUs, how a batch
is unpacked, how an out-of-memory error is recognised, how seeds for per-pass generators are derived, and how a
parameter is (re-)initialised so that its random values do not depend on its memory layout.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from archrank.seeding import derive_seed as seed_for

__all__ = [
    "NORM_TYPES",
    "RELU_TYPES",
    "WEIGHTED_TYPES",
    "clone_module",
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


_ATOMIC: tuple[type, ...] = (int, float, bool, complex, str, bytes, type(None), torch.dtype, torch.device)
_MODULE_DICTS = ("_parameters", "_buffers", "_modules")


def clone_module(model: nn.Module) -> nn.Module:
    """``copy.deepcopy(model)``, about 2–4× faster for ordinary module trees.

    ``deepcopy`` spends most of its time in its generic machinery on the dozen (mostly empty) hook dictionaries of
    every module. For a module class that customises nothing about copying (no ``__deepcopy__``/``__reduce__``,
    ``nn.Module``'s own ``__getstate__``), this builds the copy directly: the same class, parameters and buffers
    deep-copied (``Parameter.__deepcopy__``), child modules cloned, immutable attributes shared and empty
    containers recreated (exactly what ``deepcopy`` returns for them), anything else through ``deepcopy`` with a
    shared memo (so tied weights stay tied). Any other class is copied by ``deepcopy`` itself.
    """
    return _clone(model, {})


def _plain_module_class(cls: type) -> bool:
    return (
        getattr(cls, "__deepcopy__", None) is None
        and cls.__reduce_ex__ is object.__reduce_ex__
        and cls.__reduce__ is object.__reduce__
        and cls.__getstate__ is nn.Module.__getstate__
        and cls.__setstate__ is nn.Module.__setstate__
    )


def _clone_value(value: Any, memo: dict[int, Any]) -> Any:
    kind = type(value)
    if kind in _ATOMIC or (kind is tuple and all(type(v) in _ATOMIC for v in value)):
        return value
    if kind in (dict, OrderedDict, set) and not value:
        return kind()
    if isinstance(value, nn.Module):
        return _clone(value, memo)
    return copy.deepcopy(value, memo)


def _clone(module: nn.Module, memo: dict[int, Any]) -> nn.Module:
    if id(module) in memo:
        return memo[id(module)]
    cls = type(module)
    if not _plain_module_class(cls):
        return copy.deepcopy(module, memo)
    new = cls.__new__(cls)
    memo[id(module)] = new
    state: dict[str, Any] = {}
    for key, value in module.__dict__.items():
        if key == "_compiled_call_impl":  # dropped by nn.Module.__getstate__, as deepcopy does
            continue
        if key in _MODULE_DICTS:
            state[key] = type(value)(
                (name, None if item is None else _clone_value(item, memo)) for name, item in value.items()
            )
        else:
            state[key] = _clone_value(value, memo)
    new.__setstate__(state)
    return new
