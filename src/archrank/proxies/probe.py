"""The probe: one private model copy, one fixed batch, each pass computed once and cached.

Published zero-cost-proxy code (Abdelfattah et al., ICLR 2021; NASLib) deep-copies the network and runs a full
forward + backward for every proxy separately. A :class:`Probe` instead runs the passes the requested proxies
declare, once each, and hands every proxy the products it asked for:

``main`` pass — one train-mode forward on the batch (BatchNorm uses batch statistics, as in the reference code),
with forward hooks on the private copy only, followed by the backward passes that are needed:

- ``weight_grads``: ∂L/∂W of every conv/linear weight (loss = ``loss_fn(logits, y)``, default cross-entropy);
- ``act_grads``: per-sample, per-channel Σ_spatial a·∂L/∂a of every conv/linear output (Fisher);
- ``hessian``: the Hessian-gradient product H·g over conv/linear weights (GraSP), from the *same* forward: the
  loss backward is built with ``create_graph`` and differentiated once more;
- ``jacobian``: per-sample input gradients of Σ logits (jacob_cov, EPE-NAS), a second backward of the same graph
  that computes input gradients only;
- ``relu_gram``: the NASWOT kernel K (agreements of binary ReLU codes between samples), accumulated layer by layer;
- ``relu_patterns``: sample-wise activation patterns, one packed code per ReLU unit (SWAP);
- ``meco``: the minimum eigenvalue of each module's channel-correlation matrix for the first sample (MeCo);
- ``logits``.

Separate passes, only where the computation truly differs: ``synflow`` (float64, BatchNorm removed, |W|, an
all-ones input), ``zen`` (Gaussian re-initialisation, Gaussian inputs and a perturbed copy), ``zico`` (loss
gradients of separate chunks of the batch), ``az`` (Kaiming re-initialisation, Gaussian inputs by default, block
features and block-wise vector-Jacobian products).

Nothing here touches the caller's model: the probe deep-copies it once; hooks live on the copy and are removed
after each pass; weights are never written (gradients come from :func:`torch.autograd.grad`, not ``.grad``).
Passes that change weights (synflow, zen, az) work on a further copy. New analyses (e.g. statistics extraction
for EZNAS or Eproxy) can reuse the probe through :meth:`Probe.get` and :meth:`Probe.cached`.
"""

from __future__ import annotations

import copy
import math
import time
import zlib
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd

from archrank.proxies.registry import MAIN_COMPONENTS

__all__ = [
    "RELU_TYPES",
    "WEIGHTED_TYPES",
    "ActGrad",
    "Probe",
    "is_oom",
    "unpack_batch",
    "weighted_layers",
]

T = TypeVar("T")

WEIGHTED_TYPES: tuple[type[nn.Module], ...] = (_ConvNd, nn.Linear)
RELU_TYPES: tuple[type[nn.Module], ...] = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU)
_OOM_TYPES: tuple[type[BaseException], ...] = tuple(
    t for t in (getattr(torch, "OutOfMemoryError", None), getattr(torch.cuda, "OutOfMemoryError", None)) if t
)
_PACK_BITS = 52  # bits per float64 word when packing activation patterns (exact below 2**53)


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


@dataclass
class ActGrad:
    """One call of a conv/linear layer in the main pass: per-sample, per-channel Σ_spatial a·∂L/∂a."""

    name: str
    module: nn.Module
    g_nk: torch.Tensor  # (N, C)


@dataclass
class _CodeAccumulator:
    """Binary ReLU codes of each hooked call, processed as soon as all chunks of the batch have been seen."""

    n_chunks: int
    want_gram: bool
    want_patterns: bool
    n_samples: int
    pending: dict[int, list[torch.Tensor]] = field(default_factory=lambda: defaultdict(list))
    spatial: dict[int, bool] = field(default_factory=dict)
    gram: torch.Tensor | None = None
    patterns: list[torch.Tensor] = field(default_factory=list)

    def add(self, call: int, codes: torch.Tensor, spatial: bool) -> None:
        self.pending[call].append(codes)
        self.spatial[call] = spatial
        if len(self.pending[call]) == self.n_chunks:
            parts = self.pending.pop(call)
            self._process(torch.cat(parts, 0) if len(parts) > 1 else parts[0], spatial)

    def _process(self, codes: torch.Tensor, spatial: bool) -> None:
        if self.want_gram:
            # With c ∈ {0,1}: agreements = c cᵀ + (1−c)(1−c)ᵀ = 2 c cᵀ − r 1ᵀ − 1 rᵀ + units, r_i = (c cᵀ)_ii.
            # One matmul, exact in float32 for fewer than 2**24 units per layer.
            c = codes.to(torch.float32)
            g = (c @ c.T).to(torch.float64)
            r = torch.diagonal(g)
            agree = 2.0 * g - r[:, None] - r[None, :] + codes.shape[1]
            self.gram = agree if self.gram is None else self.gram + agree
        if self.want_patterns and spatial:
            self.patterns.append(_pack_columns(codes))


def _pack_columns(codes: torch.Tensor, use_numpy: bool | None = None) -> torch.Tensor:
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


def _fill(param: torch.Tensor, init: Callable[[torch.Tensor], Any]) -> None:
    """Initialise ``param`` through a contiguous buffer, so that random values do not depend on its layout."""
    buffer = torch.empty(param.shape, dtype=param.dtype, device=param.device)
    init(buffer)
    param.copy_(buffer)


def _flat_samples(t: torch.Tensor) -> torch.Tensor:
    """(N, everything else) without a copy when ``t`` is channels-last (unit order is irrelevant to callers)."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
    return t.reshape(t.shape[0], -1)


def _seed_for(seed: int, tag: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(tag.encode())) % (2**63 - 1)


def remove_batchnorm(model: nn.Module) -> int:
    """Replace every BatchNorm module of ``model`` (a private copy!) by ``nn.Identity``; returns how many."""
    count = 0
    for module in list(model.modules()):
        for child_name, child in list(module.named_children()):
            if isinstance(child, _BatchNorm):
                setattr(module, child_name, nn.Identity())
                count += 1
    return count


class Probe:
    """A private copy of ``model`` plus one fixed batch; computes and caches the passes proxies declare.

    Parameters mirror :func:`archrank.proxies.score`. Products are read with :meth:`get` (main-pass products and
    the separate passes) and :meth:`cached` (anything keyed by the caller). Every computation is timed and the
    proxies using it are recorded, so that a shared pass's time can be split among its users.
    """

    def __init__(
        self,
        model: nn.Module,
        batch: Any = None,
        *,
        seed: int = 0,
        device: str | torch.device = "cpu",
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
        num_classes: int | None = None,
        input_shape: Sequence[int] | None = None,
        memory_format: str = "auto",
    ) -> None:
        if memory_format not in ("auto", "channels_last", "contiguous"):
            raise ValueError(f"memory_format must be 'auto', 'channels_last' or 'contiguous', got {memory_format!r}")
        self.device = torch.device(device)
        self.seed = int(seed)
        self.loss_fn = loss_fn if loss_fn is not None else F.cross_entropy
        self.num_classes = num_classes
        model_copy = copy.deepcopy(model).to(self.device)
        model_copy.train()
        for param in model_copy.parameters():
            param.requires_grad_(True)
        self.model: nn.Module = model_copy
        x, y = unpack_batch(batch)
        # inputs keep their dtype (integer token ids stay integers; proxies that need input gradients then fail)
        self.x: torch.Tensor | None = x.detach().to(self.device) if x is not None else None
        self.y: torch.Tensor | None = y.detach().to(self.device) if y is not None else None
        if self.x is not None and self.y is not None and self.y.shape[0] != self.x.shape[0]:
            raise ValueError(f"batch has {self.x.shape[0]} inputs but {self.y.shape[0]} labels")
        if input_shape is not None:
            self.input_shape: tuple[int, ...] | None = tuple(int(s) for s in input_shape)
        elif self.x is not None:
            self.input_shape = tuple(self.x.shape[1:])
        else:
            self.input_shape = None
        image_like = self.input_shape is not None and len(self.input_shape) == 3
        self.memory_format = memory_format
        self.channels_last = image_like and (
            memory_format == "channels_last" or (memory_format == "auto" and self.device.type == "cpu")
        )
        self._active_cl = False
        self._has_dropout = any(isinstance(m, nn.modules.dropout._DropoutNd) for m in self.model.modules())
        self._set_layout(self.channels_last)
        self._cache: dict[Hashable, Any] = {}
        self._errors: dict[Hashable, BaseException] = {}
        self._component_pass: dict[str, str] = {}
        self._planned: set[str] = set()
        self._main_runs = 0
        self.pass_seconds: dict[str, float] = {}
        self.pass_users: dict[str, set[str]] = defaultdict(set)
        self.notes: dict[str, str] = {}
        self._consumer: str | None = None
        self._inner_seconds = 0.0
        self._weighted: list[tuple[str, nn.Module]] | None = None

    # ------------------------------------------------------------------ bookkeeping
    @property
    def batch_size(self) -> int | None:
        return None if self.x is None else int(self.x.shape[0])

    def fmt(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the current pass's memory format (channels-last for images on CPU: same values up to float
        rounding, about twice as fast for convolutions and BatchNorm)."""
        if self._active_cl and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _set_layout(self, channels_last: bool) -> None:
        if channels_last != self._active_cl:
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            self.model.to(memory_format=fmt)
            self._active_cl = channels_last

    def _layout_retry(self, compute: Callable[[], T], pass_id: str) -> T:
        """Run ``compute``; if it fails in channels-last layout (e.g. a ``.view`` in the user's forward), switch
        the probe to the contiguous layout once and retry."""
        try:
            return compute()
        except RuntimeError as exc:
            if not self.channels_last or self.memory_format != "auto" or is_oom(exc):
                raise
            self.channels_last = False
            self._set_layout(False)
            self.notes[pass_id] = f"channels-last layout failed ({exc}); contiguous layout used"
            return compute()

    def generator(self, tag: str) -> torch.Generator:
        """A fresh generator on the probe's device, seeded from (seed, tag): independent of other passes."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(_seed_for(self.seed, tag))
        return gen

    def weighted_layers(self) -> list[tuple[str, nn.Module]]:
        """Conv/linear layers of the private copy (cached)."""
        if self._weighted is None:
            self._weighted = weighted_layers(self.model)
        return self._weighted

    def weights(self) -> dict[str, torch.Tensor]:
        """Conv/linear weights of the private copy, keyed by module name (never modify them)."""
        return {name: m.weight for name, m in self.weighted_layers()}

    @contextmanager
    def consuming(self, consumer: str) -> Iterator[None]:
        """Attribute the passes read inside this block to ``consumer`` (a proxy key)."""
        previous, previous_inner = self._consumer, self._inner_seconds
        self._consumer, self._inner_seconds = consumer, 0.0
        try:
            yield
        finally:
            self._consumer = previous
            self._inner_seconds = previous_inner

    @property
    def inner_seconds(self) -> float:
        """Seconds spent computing passes inside the current :meth:`consuming` block."""
        return self._inner_seconds

    def _use(self, pass_id: str) -> None:
        if self._consumer is not None:
            self.pass_users[pass_id].add(self._consumer)

    def _timed(self, pass_id: str, compute: Callable[[], T]) -> T:
        """Run one pass: timed, and with the global generator forked and seeded from (seed, pass) so that
        layers drawing from it (dropout) give the same result whatever else was computed before."""
        start = time.perf_counter()
        devices = []
        if self.device.type == "cuda":
            devices = [self.device.index if self.device.index is not None else torch.cuda.current_device()]
        try:
            with torch.random.fork_rng(devices=devices):
                torch.random.default_generator.manual_seed(_seed_for(self.seed, "global:" + pass_id.split("#")[0]))
                if self.device.type == "cuda":
                    torch.cuda.manual_seed(_seed_for(self.seed, "global:" + pass_id.split("#")[0]))
                return compute()
        finally:
            elapsed = time.perf_counter() - start
            self.pass_seconds[pass_id] = self.pass_seconds.get(pass_id, 0.0) + elapsed
            self._inner_seconds += elapsed

    def cached(self, key: Hashable, compute: Callable[[], T], pass_id: str | None = None) -> T:
        """Return ``compute()`` memoised under ``key``; a failure is memoised too and re-raised to every user."""
        pid = pass_id or (key if isinstance(key, str) else repr(key))
        self._use(pid)
        if key in self._cache:
            return self._cache[key]
        if key in self._errors:
            raise self._errors[key]
        try:
            value = self._timed(pid, lambda: self._layout_retry(compute, pid))
        except Exception as exc:
            self._errors[key] = exc
            raise
        self._cache[key] = value
        return value

    # ------------------------------------------------------------------ main pass
    def plan(self, components: Iterable[str]) -> None:
        """Declare main-pass products that will be read, so that one pass computes them all."""
        comps = set(components)
        unknown = comps - MAIN_COMPONENTS
        if unknown:
            raise ValueError(f"not main-pass products: {sorted(unknown)}")
        self._planned |= comps

    def run_planned(self) -> None:
        """Compute the planned main-pass products now (errors are kept for the proxies that read them)."""
        missing = {c for c in self._planned if c not in self._component_pass}
        if missing:
            self._run_main(missing)

    def get(self, component: str, **options: Any) -> Any:
        """A main-pass product (planned ones come from one shared pass) or a separate pass (with options)."""
        if component in MAIN_COMPONENTS:
            if component not in self._component_pass:
                missing = {c for c in self._planned | {component} if c not in self._component_pass}
                self._run_main(missing)
            pass_id = self._component_pass[component]
            self._use(pass_id)
            for key in (pass_id, (pass_id, component)):
                if key in self._errors:
                    raise self._errors[key]
            return self._cache[(pass_id, component)]
        runners: dict[str, Callable[..., Any]] = {
            "synflow": self._synflow_pass,
            "zen": self._zen_pass,
            "zico": self._zico_pass,
            "az": self._az_pass,
        }
        if component not in runners:
            raise KeyError(f"unknown probe product {component!r}")
        key = (component, tuple(sorted((k, _freeze(v)) for k, v in options.items())))
        return self.cached(key, lambda: runners[component](**options), pass_id=component)

    def _run_main(self, components: set[str]) -> None:
        self._main_runs += 1
        pass_id = "main" if self._main_runs == 1 else f"main#{self._main_runs}"
        for comp in components:
            self._component_pass[comp] = pass_id
        try:
            products = self._timed(
                pass_id, lambda: self._layout_retry(lambda: self._main_with_retry(components, pass_id), pass_id)
            )
        except Exception as exc:
            self._errors[pass_id] = exc
            return
        for comp, value in products.items():
            if isinstance(value, BaseException):  # this product alone could not be computed
                self._errors[(pass_id, comp)] = value
            else:
                self._cache[(pass_id, comp)] = value

    def _require_data(self, what: str, labels: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.x is None:
            raise ValueError(f"{what} needs a data batch (batch=None was given)")
        if labels and self.y is None:
            raise ValueError(f"{what} needs labels (the batch has none)")
        return self.x, self.y

    def _main_with_retry(self, components: set[str], pass_id: str) -> dict[str, Any]:
        x, _ = self._require_data("the main pass", labels=bool(components & {"weight_grads", "act_grads", "hessian"}))
        n = x.shape[0]
        split = 1
        while True:
            try:
                products = self._main_pass(components, split)
            except Exception as exc:
                if not is_oom(exc) or split >= n:
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                split = min(n, split * 2)
                continue
            if split > 1:
                self.notes[pass_id] = f"out of memory: batch split into {split} chunks (BatchNorm statistics per chunk)"
            return products

    def _main_pass(self, components: set[str], split: int) -> dict[str, Any]:
        x, y = self.x, self.y
        assert x is not None
        # The double backward of GraSP is faster in the contiguous layout on CPU (measured ~25%); everything
        # else prefers channels-last. Not with dropout: its random mask follows the memory layout, and a proxy's
        # value must not depend on which other proxies share the pass.
        hessian_contiguous = "hessian" in components and self.memory_format == "auto" and not self._has_dropout
        self._set_layout(self.channels_last and not hessian_contiguous)
        model = self.model
        n = x.shape[0]
        bounds = [(c * n // split, (c + 1) * n // split) for c in range(split)]
        bounds = [(s, e) for s, e in bounds if e > s]
        layers = self.weighted_layers()
        weights = [m.weight for _, m in layers]
        want_hessian = "hessian" in components
        want_grads = want_hessian or "weight_grads" in components
        want_act = "act_grads" in components
        want_loss = want_grads or want_act
        want_jac = "jacobian" in components
        jac_error: Exception | None = None
        if want_jac and not x.is_floating_point():
            jac_error = TypeError(f"input gradients need floating-point inputs; the batch's inputs are {x.dtype}")
            want_jac = False
        want_codes = bool(components & {"relu_gram", "relu_patterns"})
        want_meco = "meco" in components
        inline_hessian = want_hessian and len(bounds) == 1

        state = {"active": True, "chunk": 0, "relu_call": 0}
        acts: list[tuple[str, nn.Module, torch.Tensor]] = []
        codes = _CodeAccumulator(
            n_chunks=len(bounds),
            want_gram="relu_gram" in components,
            want_patterns="relu_patterns" in components,
            n_samples=n,
        )
        meco_feats: list[torch.Tensor] = []
        handles: list[torch.utils.hooks.RemovableHandle] = []

        def act_hook(name: str) -> Callable[..., None]:
            def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
                if state["active"] and isinstance(output, torch.Tensor) and output.requires_grad:
                    acts.append((name, module, output))

            return hook

        def relu_hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if not state["active"] or not inputs or not isinstance(inputs[0], torch.Tensor):
                return
            inp = inputs[0].detach()
            call = state["relu_call"]
            state["relu_call"] += 1
            codes.add(call, _flat_samples(inp > 0), spatial=inp.dim() == 4)

        def meco_hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
            if not state["active"] or state["chunk"] != 0 or not isinstance(output, torch.Tensor):
                return
            if output.dim() < 1 or output.shape[0] == 0:
                return
            feature = output[0].detach()
            feature = feature.reshape(feature.shape[0], -1) if feature.dim() > 0 else feature.reshape(1, 1)
            meco_feats.append(feature)

        try:
            if want_act:
                for name, module in layers:
                    handles.append(module.register_forward_hook(act_hook(name)))
            if want_codes:
                for module in model.modules():
                    if isinstance(module, RELU_TYPES):
                        handles.append(module.register_forward_hook(relu_hook))
            if want_meco:
                for module in model.modules():
                    handles.append(module.register_forward_hook(meco_hook))

            grad_sum: list[torch.Tensor] | None = None
            hess_sum: list[torch.Tensor] | None = None
            g_nk: dict[int, list[torch.Tensor]] = defaultdict(list)
            act_meta: list[tuple[str, nn.Module]] = []
            jac_rows: list[torch.Tensor] = []
            logits: list[torch.Tensor] = []
            loss_total = 0.0

            with torch.enable_grad():
                for chunk, (start, end) in enumerate(bounds):
                    state["chunk"], state["relu_call"] = chunk, 0
                    acts.clear()
                    xc = self.fmt(x[start:end])
                    if want_jac:
                        xc = xc.detach().clone().requires_grad_(True)
                    out = model(xc)
                    if not isinstance(out, torch.Tensor):
                        raise TypeError(f"model must return a tensor of logits, got {type(out).__name__}")
                    logits.append(out.detach())
                    if want_loss:
                        assert y is not None
                        loss = self.loss_fn(out, y[start:end]) * ((end - start) / n)
                        loss_total += float(loss.detach())
                        act_tensors = [a for _, _, a in acts] if want_act else []
                        targets = (weights if want_grads else []) + act_tensors
                        grads = torch.autograd.grad(
                            loss,
                            targets,
                            retain_graph=want_jac or inline_hessian,
                            create_graph=inline_hessian,
                            allow_unused=True,
                        )
                        w_grads = list(grads[: len(weights)]) if want_grads else []
                        a_grads = list(grads[len(weights) :]) if want_grads else list(grads)
                        if want_grads:
                            detached = [
                                torch.zeros_like(w) if g is None else g.detach()
                                for w, g in zip(weights, w_grads, strict=True)
                            ]
                            if grad_sum is None:
                                grad_sum = detached
                            else:
                                grad_sum = [a + b for a, b in zip(grad_sum, detached, strict=True)]
                        if want_act:
                            if chunk == 0:
                                act_meta = [(name, module) for name, module, _ in acts]
                            elif len(acts) != len(act_meta):
                                raise RuntimeError("the model called its layers differently on two chunks")
                            for i, ((_, _, a), g) in enumerate(zip(acts, a_grads, strict=True)):
                                g = torch.zeros_like(a) if g is None else g.detach()
                                prod = a.detach() * g
                                if prod.dim() > 2 and isinstance(act_meta[i][1], _ConvNd):
                                    prod = prod.sum(dim=tuple(range(2, prod.dim())))
                                elif prod.dim() > 2:  # Linear on (N, ..., C): channels last
                                    prod = prod.sum(dim=tuple(range(1, prod.dim() - 1)))
                                g_nk[i].append(prod)
                        if inline_hessian:
                            z = sum(
                                ((g.detach() * g).sum() for g in w_grads if g is not None and g.requires_grad),
                                torch.zeros((), device=self.device),
                            )
                            if z.requires_grad:
                                hv = torch.autograd.grad(z, weights, retain_graph=want_jac, allow_unused=True)
                                hess_sum = [
                                    torch.zeros_like(w) if h is None else h.detach()
                                    for w, h in zip(weights, hv, strict=True)
                                ]
                            else:
                                hess_sum = [torch.zeros_like(w) for w in weights]
                        del grads, w_grads, a_grads
                    if want_jac:
                        (jac,) = torch.autograd.grad(out.sum(), xc, allow_unused=True)
                        jac = torch.zeros_like(xc) if jac is None else jac
                        jac_rows.append(jac.detach().reshape(jac.shape[0], -1))
                    del out
                    acts.clear()

                if want_hessian and not inline_hessian:
                    # Chunked (after an out-of-memory error): H·g needs the full-batch g first, as in the reference.
                    state["active"] = False
                    assert grad_sum is not None and y is not None
                    hess_sum = [torch.zeros_like(w) for w in weights]
                    for start, end in bounds:
                        out = model(self.fmt(x[start:end]))
                        loss = self.loss_fn(out, y[start:end]) * ((end - start) / n)
                        g_f = torch.autograd.grad(loss, weights, create_graph=True, allow_unused=True)
                        z = sum(
                            ((gw * gf).sum() for gw, gf in zip(grad_sum, g_f, strict=True) if gf is not None),
                            torch.zeros((), device=self.device),
                        )
                        if z.requires_grad:
                            hv = torch.autograd.grad(z, weights, allow_unused=True)
                            hess_sum = [h if v is None else h + v.detach() for h, v in zip(hess_sum, hv, strict=True)]
        finally:
            for handle in handles:
                handle.remove()
            acts.clear()

        names = [name for name, _ in layers]
        products: dict[str, Any] = {}
        if "logits" in components:
            products["logits"] = torch.cat(logits, 0)
        if "weight_grads" in components:
            assert grad_sum is not None
            products["weight_grads"] = dict(zip(names, grad_sum, strict=True))
        if want_hessian:
            assert hess_sum is not None
            products["hessian"] = dict(zip(names, hess_sum, strict=True))
        if want_act:
            products["act_grads"] = [
                ActGrad(name, module, torch.cat(g_nk[i], 0)) for i, (name, module) in enumerate(act_meta)
            ]
        if want_jac:
            products["jacobian"] = torch.cat(jac_rows, 0)
        elif jac_error is not None:
            products["jacobian"] = jac_error
        if "relu_gram" in components:
            if codes.pending:
                raise RuntimeError("the model called its ReLUs differently on two chunks")
            if codes.gram is None:
                raise ValueError("no ReLU-family module ran in the forward pass (NASWOT needs nn.ReLU modules)")
            products["relu_gram"] = codes.gram
        if "relu_patterns" in components:
            products["relu_patterns"] = codes.patterns
        if want_meco:
            products["meco"] = _meco_min_eigenvalues(meco_feats)
        return products

    # ------------------------------------------------------------------ separate passes
    def _fresh_copy(self) -> nn.Module:
        self._set_layout(self.channels_last)
        return copy.deepcopy(self.model)

    def _synflow_pass(self) -> dict[str, torch.Tensor]:
        """SynFlow pass (Tanaka et al., NeurIPS 2020): float64, BatchNorm removed, |W|, one all-ones input.

        Returns per conv/linear layer the tensor |W ⊙ ∂R/∂W| with R = Σ output. The copy is evaluated in eval mode
        (dropout off); every parameter and floating buffer is replaced by its absolute value, as in the reference.
        """
        if self.input_shape is None:
            raise ValueError("synflow needs the input shape: pass a batch or input_shape")
        net = self._fresh_copy()
        remove_batchnorm(net)
        net = net.double().eval()
        with torch.no_grad():
            for tensor in list(net.parameters()) + list(net.buffers()):
                if tensor.is_floating_point():
                    tensor.abs_()
        layers = weighted_layers(net)
        ones = self.fmt(torch.ones((1, *self.input_shape), dtype=torch.float64, device=self.device))
        with torch.enable_grad():
            out = net(ones)
            total = out.sum()
            if not torch.isfinite(total):
                raise OverflowError("float64 overflow in the synflow forward pass")
            grads = torch.autograd.grad(total, [m.weight for _, m in layers], allow_unused=True)
        result = {}
        for (name, module), grad in zip(layers, grads, strict=True):
            weight = module.weight.detach()
            result[name] = torch.zeros_like(weight) if grad is None else (weight * grad).abs()
        return result

    def _zen_pass(
        self, mixup_gamma: float = 1e-2, batch_size: int = 0, bn_stat: str = "running", feature_module: str = ""
    ) -> float:
        """Zen-score pass (Lin et al., ICCV 2021); see :func:`archrank.proxies.datafree.zen`."""
        if self.input_shape is None:
            raise ValueError("zen needs the input shape: pass a batch or input_shape")
        if bn_stat not in ("batch", "running"):
            raise ValueError(f"bn_stat must be 'batch' or 'running', got {bn_stat!r}")
        size = int(batch_size) or (self.batch_size or 64)
        net = self._fresh_copy().train()
        for module in net.modules():  # two forwards must differ by the input perturbation only
            if isinstance(module, nn.modules.dropout._DropoutNd):
                module.eval()
        gen = self.generator("zen")
        with torch.no_grad():
            for module in net.modules():
                if isinstance(module, WEIGHTED_TYPES):
                    _fill(module.weight, lambda t: nn.init.normal_(t, 0.0, 1.0, generator=gen))
                    if getattr(module, "bias", None) is not None:
                        nn.init.zeros_(module.bias)
                elif isinstance(module, (_BatchNorm, nn.GroupNorm)):
                    if module.weight is not None:
                        nn.init.ones_(module.weight)
                        nn.init.zeros_(module.bias)
                    if isinstance(module, _BatchNorm):
                        module.reset_running_stats()
        shape = (size, *self.input_shape)
        x1 = self.fmt(torch.randn(shape, generator=gen, device=self.device))
        x2 = self.fmt(torch.randn(shape, generator=gen, device=self.device))
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
        capture = _PreGapCapture(net, feature_module)
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
        return float(torch.log(delta) + sum(log_sigma, torch.zeros((), device=self.device)))

    def _zico_pass(self, num_chunks: int = 2) -> dict[str, torch.Tensor]:
        """Loss gradients of ``num_chunks`` equal parts of the batch: per layer a (chunks, numel) tensor."""
        x, y = self._require_data("zico", labels=True)
        assert y is not None
        n = x.shape[0]
        k = int(num_chunks)
        if not 2 <= k <= n:
            raise ValueError(f"zico needs 2 <= num_chunks <= batch size ({n}), got {k}")
        self._set_layout(self.channels_last)
        layers = self.weighted_layers()
        weights = [m.weight for _, m in layers]
        per_layer: list[list[torch.Tensor]] = [[] for _ in layers]
        with torch.enable_grad():
            for c in range(k):
                start, end = c * n // k, (c + 1) * n // k
                out = self.model(self.fmt(x[start:end]))
                loss = self.loss_fn(out, y[start:end])
                grads = torch.autograd.grad(loss, weights, allow_unused=True)
                for i, (w, g) in enumerate(zip(weights, grads, strict=True)):
                    per_layer[i].append((torch.zeros_like(w) if g is None else g).detach().reshape(-1))
        return {name: torch.stack(gs, 0) for (name, _), gs in zip(layers, per_layer, strict=True)}

    def _az_pass(
        self,
        init: str = "kaiming_normal_fan_in",
        blocks: tuple[str, ...] = (),
        inputs: str = "gaussian",
        batch_size: int = 0,
    ) -> dict[str, Any]:
        """AZ-NAS pass (Lee & Ham, CVPR 2024); see :mod:`archrank.proxies.aznas`.

        ``inputs="gaussian"`` (the official code) feeds standard Gaussian inputs of the batch's shape
        (``batch_size`` 0 = the batch's size, 64 without a batch), drawn from their own seeded generator;
        ``inputs="data"`` feeds the probe's batch. Returns per block the expressivity (entropy) and, for each
        consecutive pair, the raw per-block trainability (−inf for an identity block, as in the official code).
        """
        if inputs == "data":
            x, _ = self._require_data("AZ-NAS with inputs='data'")
        elif inputs == "gaussian":
            if self.input_shape is None:
                raise ValueError("AZ-NAS needs the input shape: pass a batch or input_shape")
            size = int(batch_size) or (self.batch_size or 64)
            x = torch.randn((size, *self.input_shape), generator=self.generator("az:inputs"), device=self.device)
        else:
            raise ValueError(f"unknown AZ-NAS inputs {inputs!r} (use 'gaussian' or 'data')")
        net = self._fresh_copy().train()
        gen = self.generator("az")
        if init == "kaiming_normal_fan_in":
            with torch.no_grad():
                for module in net.modules():
                    if isinstance(module, WEIGHTED_TYPES):
                        _fill(
                            module.weight,
                            lambda t: nn.init.kaiming_normal_(t, mode="fan_in", nonlinearity="relu", generator=gen),
                        )
                        if getattr(module, "bias", None) is not None:
                            nn.init.zeros_(module.bias)
                    elif isinstance(module, (_BatchNorm, nn.GroupNorm)) and module.weight is not None:
                        nn.init.ones_(module.weight)
                        nn.init.zeros_(module.bias)
        elif init not in ("none", ""):
            raise ValueError(f"unknown AZ-NAS init {init!r} (use 'kaiming_normal_fan_in' or 'none')")
        named = dict(net.named_modules())
        if blocks:
            missing = [b for b in blocks if b not in named]
            if missing:
                raise KeyError(f"AZ-NAS blocks not found in the model: {missing}")
            block_modules = [(b, named[b], True) for b in blocks]
            head_cut = False
        else:
            block_modules, head_cut = default_blocks(net)
        feats: list[tuple[str, torch.Tensor, bool]] = []  # name, output, from an expanded container

        def hook_for(name: str, inner: bool) -> Callable[..., None]:
            def hook(module: nn.Module, inputs: tuple[Any, ...], output: Any) -> None:
                if isinstance(output, torch.Tensor) and output.dim() == 4:
                    feats.append((name, output, inner))

            return hook

        handles = [m.register_forward_hook(hook_for(name, inner)) for name, m, inner in block_modules]
        try:
            with torch.enable_grad():
                net(self.fmt(x))
        finally:
            for handle in handles:
                handle.remove()
        if head_cut and any(inner for _, _, inner in feats):
            last_inner = max(i for i, (_, _, inner) in enumerate(feats) if inner)
            feats = feats[: last_inner + 1]
        features = [f for _, f, _ in feats]
        if not features:
            raise ValueError("AZ-NAS found no 4-D block outputs in the model")
        expressivity = [_isotropy_entropy(f.detach()) for f in features]
        trainability = []
        with torch.enable_grad():
            for i in reversed(range(1, len(features))):
                f_out, f_in = features[i], features[i - 1]
                half = torch.full(f_out.shape, 0.5, dtype=f_out.dtype, device=f_out.device)
                g_out = self.fmt((torch.bernoulli(half, generator=gen) - 0.5) * 2)
                if not f_out.requires_grad or not f_in.requires_grad:
                    g_in = torch.zeros_like(f_in)
                else:
                    (g_in,) = torch.autograd.grad(f_out, f_in, g_out, retain_graph=True, allow_unused=True)
                    g_in = torch.zeros_like(f_in) if g_in is None else g_in
                trainability.append(_block_trainability(g_out, g_in))
        return {
            "expressivity": expressivity,
            "trainability": trainability,
            "blocks": [name for name, _, _ in feats],
        }


def _freeze(value: Any) -> Hashable:
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _meco_min_eigenvalues(features: list[torch.Tensor]) -> list[float]:
    """λ_min of the row-correlation matrix of each (channels, positions) feature, in input order.

    Features of one shape are stacked and processed together (float64): Pearson correlation as ``corrcoef``,
    NaN/inf entries (constant rows, a single position) set to 0 as in MeCo's code, then batched ``eigvalsh``.
    """
    result: list[float] = [math.nan] * len(features)
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, f in enumerate(features):
        by_shape[tuple(f.shape)].append(i)
    for (channels, _), idx in by_shape.items():
        if channels == 1:  # a 1x1 correlation matrix is [1]
            for i in idx:
                result[i] = 1.0
            continue
        x = torch.stack([features[i] for i in idx]).to(torch.float64)
        x = x - x.mean(dim=2, keepdim=True)
        cov = x @ x.transpose(1, 2)
        std = torch.sqrt(torch.diagonal(cov, dim1=1, dim2=2))
        corr = cov / (std[:, :, None] * std[:, None, :])
        corr = torch.nan_to_num(corr.clamp(-1.0, 1.0), nan=0.0, posinf=0.0, neginf=0.0)
        eig = torch.linalg.eigvalsh(corr)
        for i, value in zip(idx, eig[:, 0].tolist(), strict=True):
            result[i] = value
    return result


def _isotropy_entropy(feature: torch.Tensor) -> float:
    """AZ-NAS expressivity of one feature map: entropy of the normalised covariance eigenvalues over channels.

    A feature without variance (e.g. the all-zero output of a disconnected NAS-Bench-201 cell) has no spectrum to
    normalise: NaN, as in the official code (which then scores the architecture −inf).
    """
    b, c, h, w = feature.shape
    flat = feature.permute(0, 2, 3, 1).reshape(b * h * w, c).to(torch.float64)
    flat = flat - flat.mean(dim=0, keepdim=True)
    sigma = flat.T @ flat / flat.shape[0]
    eig = torch.linalg.eigvalsh(sigma).clamp_min(0.0)
    total = eig.sum()
    if not total > 0:
        return math.nan
    prob = eig / total
    return float((-prob * torch.log(prob + 1e-8)).sum())


def _block_trainability(g_out: torch.Tensor, g_in: torch.Tensor) -> float:
    """AZ-NAS trainability of one block: −σ − 1/σ + 2 with σ the top singular value of the VJP cross-moment."""
    if g_out.shape == g_in.shape and torch.equal(g_in, g_out):
        return -math.inf  # identity block, as in the reference
    if g_out.shape[2:] != g_in.shape[2:]:
        stride = g_in.shape[2] // g_out.shape[2]
        g_in = F.pixel_unshuffle(g_in, stride)
    bo, co, ho, wo = g_out.shape
    ci = g_in.shape[1]
    go = g_out.permute(0, 2, 3, 1).reshape(bo * ho * wo, co).to(torch.float64)
    gi = g_in.permute(0, 2, 3, 1).reshape(-1, ci).to(torch.float64)
    mat = gi.T @ go / (bo * ho * wo)
    sigma = float(torch.linalg.svdvals(mat).max())
    return -sigma - 1.0 / (sigma + 1e-6) + 2.0


def default_blocks(model: nn.Module) -> tuple[list[tuple[str, nn.Module, bool]], bool]:
    """Blocks whose outputs AZ-NAS compares: the model's top-level children with containers of composite modules
    expanded (NB201: stem, the 17 cells and residual blocks). Returns (name, module, came-from-a-container) and
    whether trailing top-level modules after the last container block (the head) are to be cut."""
    out: list[tuple[str, nn.Module, bool]] = []

    def expand(module: nn.Module, prefix: str, inner: bool) -> None:
        for name, child in module.named_children():
            full = f"{prefix}{name}"
            containers = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
            if isinstance(child, containers) and any(len(list(g.children())) > 0 for g in child.children()):
                expand(child, full + ".", True)
            else:
                out.append((full, child, inner))

    expand(model, "", False)
    return out, any(inner for _, _, inner in out)


class _PreGapCapture:
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
        self._last, self._fallback = None, None
        self.net(x)
        feature = self._last if self._last is not None else self._fallback
        if feature is None:
            raise ValueError("zen needs a global pooling layer or a final nn.Linear to find the pre-GAP features")
        return feature.detach()

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
