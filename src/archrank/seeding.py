"""Seeds: the one derivation of independent seeds from a run's seed, and the one seeded-model builder.

Every random draw archrank makes (a model's initial weights, a proxy pass's noise, Eproxy's targets, EZNAS's
inputs) comes from the run's seed through these functions, never from global state, so a value does not depend
on the order or the process that computed it.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

_MODULUS = 2**63 - 1


def derive_seed(seed: int, *tags: object) -> int:
    """A 63-bit seed from ``seed`` and tags (``/``-joined), stable across runs, processes and platforms."""
    text = "/".join(str(t) for t in tags)
    return (int(seed) * 1_000_003 + zlib.crc32(text.encode())) % _MODULUS


def seeded_generator(seed: int, *tags: object) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded with :func:`derive_seed` of ``seed`` and ``tags``."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(derive_seed(seed, *tags))
    return gen


@contextmanager
def seeded_global_rng(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Fork torch's global CPU generator (and ``device``'s CUDA generator) and seed them with ``seed`` for the block:
    layers that draw from the global generator (dropout) are then deterministic, and the caller's generator state
    is restored on exit."""
    dev = torch.device(device)
    index = (dev.index if dev.index is not None else torch.cuda.current_device()) if dev.type == "cuda" else None
    with torch.random.fork_rng(devices=[] if index is None else [index]):
        torch.random.default_generator.manual_seed(int(seed))
        if index is not None:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(int(seed))
        yield


def build_seeded(space: Any, arch: Any, seed: int = 0, num_classes: int = 10, **build_kwargs: Any) -> nn.Module:
    """``space.build(arch)`` with weights initialised from ``seed`` alone (the caller's RNG state is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return space.build(arch, num_classes=num_classes, **build_kwargs)
