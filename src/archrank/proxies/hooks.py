"""Hook machinery of the probe: forward hooks that live only as long as one pass, and the accumulators they feed.

- :func:`forward_hooks` registers forward hooks on modules of the probe's private copy and removes them on exit,
  whatever happens inside;
- :class:`ReluCodes` turns the binary codes seen at ReLU inputs into the NASWOT kernel and the SWAP patterns as
  soon as every chunk of the batch has been seen (so the codes of a layer are not kept);
- :func:`pack_columns` packs each unit's codes over the samples into integers, exactly;
- :class:`PreGapCapture` captures the feature map before global pooling (Zen-score).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["PreGapCapture", "ReluCodes", "code_gram", "forward_hooks", "pack_columns"]

ForwardHook = Callable[[nn.Module, tuple[Any, ...], Any], Any]
_PACK_BITS = 52  # bits per float64 word when packing activation patterns (exact below 2**53)


@contextmanager
def forward_hooks(pairs: Iterable[tuple[nn.Module, ForwardHook]]) -> Iterator[None]:
    """Register ``hook`` on each ``module`` for the duration of the block; all are removed on exit."""
    handles: list[torch.utils.hooks.RemovableHandle] = []
    try:
        for module, hook in pairs:
            handles.append(module.register_forward_hook(hook))
        yield
    finally:
        for handle in handles:
            handle.remove()


@dataclass
class ReluCodes:
    """Binary ReLU codes of each hooked call, processed as soon as all chunks of the batch have been seen.

    ``gram`` accumulates the NASWOT kernel (agreements of codes between samples, float64); ``patterns`` collects the
    packed codes of every ReLU call with a 4-D input (SWAP).
    """

    n_chunks: int
    want_gram: bool
    want_patterns: bool
    pending: dict[int, list[torch.Tensor]] = field(default_factory=lambda: defaultdict(list))
    gram: torch.Tensor | None = None
    patterns: list[torch.Tensor] = field(default_factory=list)

    def add(self, call: int, codes: torch.Tensor, spatial: bool) -> None:
        """Codes (samples of this chunk × units, bool) of the ``call``-th ReLU call of the forward pass."""
        self.pending[call].append(codes)
        if len(self.pending[call]) == self.n_chunks:
            parts = self.pending.pop(call)
            self._process(torch.cat(parts, 0) if len(parts) > 1 else parts[0], spatial)

    def _process(self, codes: torch.Tensor, spatial: bool) -> None:
        if self.want_gram:
            # With c ∈ {0,1}: agreements = c cᵀ + (1−c)(1−c)ᵀ = 2 c cᵀ − r 1ᵀ − 1 rᵀ + units, r_i = (c cᵀ)_ii.
            g = code_gram(codes)
            r = torch.diagonal(g)
            agree = 2.0 * g - r[:, None] - r[None, :] + codes.shape[1]
            self.gram = agree if self.gram is None else self.gram + agree
        if self.want_patterns and spatial:
            self.patterns.append(pack_columns(codes))


def code_gram(codes: torch.Tensor) -> torch.Tensor:
    """c cᵀ (float64) for binary codes c (samples × units): the number of units on which two samples are both 1.

    One BLAS product, exact: every partial sum is an integer no larger than the unit count, so float32 holds it
    exactly below 2**24 units per layer (float64 above, exact below 2**53). An int8 × int8 → int32 product
    (``torch._int_mm``) is exact too but, on CPUs without int8 dot-product instructions, 10-30× slower than
    float32 at the skinny shapes of this kernel (64 samples × 10⁴-10⁵ units): ``benchmarks/naswot_kernel.py``.
    """
    c = codes.to(torch.float32 if codes.shape[1] < 2**24 else torch.float64)
    return (c @ c.T).to(torch.float64)


def pack_columns(codes: torch.Tensor, use_numpy: bool | None = None) -> torch.Tensor:
    """Pack each column of ``codes`` (one unit's binary codes over the N samples) into integers, exactly.

    N ≤ 64: one int64 key per unit, shape (units,); N > 64: (units, words). On CPU the bits are packed with
    ``numpy.packbits`` (8 samples per byte, one 64-bit word per 64 samples); elsewhere with an exact float64
    product with powers of two (52 bits per word).
    """
    n = codes.shape[0]
    if use_numpy if use_numpy is not None else codes.device.type == "cpu":
        n_bytes = 8 * ((n + 63) // 64)
        packed = np.packbits(codes.numpy(), axis=0)  # (ceil(n/8), units) uint8, big-endian bit order
        full = np.zeros((n_bytes, packed.shape[1]), dtype=np.uint8)
        full[: packed.shape[0]] = packed
        words = np.ascontiguousarray(full.T).view(np.int64)  # (units, n_bytes / 8)
        out = torch.from_numpy(words.copy())
        return out[:, 0] if out.shape[1] == 1 else out
    words = []
    for start in range(0, n, _PACK_BITS):
        block = codes[start : start + _PACK_BITS].to(torch.float64)
        pow2 = torch.pow(2.0, torch.arange(block.shape[0], dtype=torch.float64, device=codes.device))
        words.append((pow2 @ block).to(torch.int64))
    if n <= 64:
        key = words[0]
        if len(words) == 2:
            key = key + words[1] * (2**_PACK_BITS)  # int64 wrap-around: still injective
        return key
    return torch.stack(words, 1)


class PreGapCapture:
    """Capture the feature map before global pooling: the input of the last global pooling module that runs
    (or of ``feature_module`` when named), else the input of the last Linear layer."""

    def __init__(self, net: nn.Module, feature_module: str = "") -> None:
        self.net = net
        self.recording_first = False
        self._last: torch.Tensor | None = None
        self._fallback: torch.Tensor | None = None
        self._handles: list[torch.utils.hooks.RemovableHandle] = []
        if feature_module:
            modules = dict(net.named_modules())
            if feature_module not in modules:
                raise KeyError(f"zen feature_module {feature_module!r} not found in the model")
            self._handles.append(modules[feature_module].register_forward_hook(self._pool_hook))
            return
        for module in net.modules():
            if isinstance(module, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
                self._handles.append(module.register_forward_hook(self._pool_hook))
            elif isinstance(module, (nn.AvgPool2d, nn.AvgPool1d, nn.AvgPool3d)):
                self._handles.append(module.register_forward_hook(self._avgpool_hook))
            elif isinstance(module, nn.Linear):
                self._handles.append(module.register_forward_hook(self._linear_hook))

    def _pool_hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self._last = inputs[0]

    def _avgpool_hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.dim() >= 3 and all(s == 1 for s in output.shape[2:]):
            self._last = inputs[0]

    def _linear_hook(self, module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
        self._fallback = inputs[0]

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """Forward ``x`` and return the captured pre-GAP feature map (detached)."""
        self._last, self._fallback = None, None
        self.net(x)
        feature = self._last if self._last is not None else self._fallback
        if feature is None:
            raise ValueError("zen needs a global pooling layer or a final nn.Linear to find the pre-GAP features")
        return feature.detach()

    def close(self) -> None:
        """Remove the hooks."""
        for handle in self._handles:
            handle.remove()
