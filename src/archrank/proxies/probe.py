"""The probe: one private model copy, one fixed batch, each pass computed once and cached.

Published zero-cost-proxy code (Abdelfattah et al., ICLR 2021; NASLib) deep-copies the network and runs a full
forward + backward for every proxy separately. A :class:`Probe` instead runs the passes the requested proxies
declare, once each, and hands every proxy the products it asked for. The passes live in
:mod:`archrank.proxies.passes`, one module each, registered with their products and BatchNorm mode (``main``: one
train-mode forward + the backward passes its products need; ``synflow``, ``zen``, ``zico``, ``az``: where the
computation truly differs). The hook machinery is in :mod:`archrank.proxies.hooks`.

Nothing here touches the caller's model: the probe deep-copies it once
(:func:`~archrank.proxies.torchutil.clone_module`); hooks live on the copy and are removed
after each pass; weights are never written. Passes that change weights work on a further copy. New analyses (e.g.
statistics extraction for EZNAS or Eproxy) can reuse the probe through :meth:`Probe.get` and :meth:`Probe.cached`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from archrank.proxies.hooks import pack_columns as _pack_columns
from archrank.proxies.passes import PassSpec, pass_of, products
from archrank.proxies.passes.az import default_blocks
from archrank.proxies.passes.main import ActGrad
from archrank.proxies.torchutil import (
    RELU_TYPES,
    WEIGHTED_TYPES,
    clone_module,
    freeze,
    is_oom,
    remove_batchnorm,
    seed_for,
    unpack_batch,
    weighted_layers,
)
from archrank.seeding import seeded_global_rng

__all__ = [
    "RELU_TYPES",
    "WEIGHTED_TYPES",
    "ActGrad",
    "Probe",
    "default_blocks",
    "is_oom",
    "remove_batchnorm",
    "unpack_batch",
    "weighted_layers",
]

T = TypeVar("T")
_seed_for = seed_for  # the name under which tests and earlier code import it
__all__ += ["_pack_columns", "_seed_for"]


class Probe:
    """A private copy of ``model`` plus one fixed batch; computes and caches the passes proxies declare.

    Parameters mirror :func:`archrank.proxies.score`. Products are read with :meth:`get` (any registered product,
    with the options of its pass) and :meth:`cached` (anything keyed by the caller). Every computation is timed
    and the proxies using it are recorded, so that a shared pass's time can be split among its users.
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
        model_copy = clone_module(model).to(self.device)
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
        self.has_dropout = any(isinstance(m, nn.modules.dropout._DropoutNd) for m in self.model.modules())
        self.set_layout(self.channels_last)
        self._cache: dict[Hashable, Any] = {}
        self._errors: dict[Hashable, BaseException] = {}
        self._product_pass: dict[tuple[Hashable, str], str] = {}
        self._planned: set[str] = set()
        self._runs: dict[str, int] = defaultdict(int)
        self._running: str | None = None
        self.pass_seconds: dict[str, float] = {}
        self.pass_users: dict[str, set[str]] = defaultdict(set)
        self.notes: dict[str, str] = {}
        self._consumer: str | None = None
        self._inner_seconds = 0.0
        self._weighted: list[tuple[str, nn.Module]] | None = None

    # ------------------------------------------------------------------ what passes read
    @property
    def batch_size(self) -> int | None:
        return None if self.x is None else int(self.x.shape[0])

    def fmt(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the current pass's memory format (channels-last for images on CPU: same values up to float
        rounding, about twice as fast for convolutions and BatchNorm)."""
        if self._active_cl and x.dim() == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def set_layout(self, channels_last: bool) -> None:
        """Put the private copy's parameters in the channels-last (or contiguous) layout."""
        if channels_last != self._active_cl:
            fmt = torch.channels_last if channels_last else torch.contiguous_format
            self.model.to(memory_format=fmt)
            self._active_cl = channels_last

    def fresh_copy(self) -> nn.Module:
        """A further deep copy of the private model, in the probe's layout, for passes that change weights."""
        self.set_layout(self.channels_last)
        return clone_module(self.model)

    def generator(self, tag: str) -> torch.Generator:
        """A fresh generator on the probe's device, seeded from (seed, tag): independent of other passes."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed_for(self.seed, tag))
        return gen

    def weighted_layers(self) -> list[tuple[str, nn.Module]]:
        """Conv/linear layers of the private copy (cached)."""
        if self._weighted is None:
            self._weighted = weighted_layers(self.model)
        return self._weighted

    def weights(self) -> dict[str, torch.Tensor]:
        """Conv/linear weights of the private copy, keyed by module name (never modify them)."""
        return {name: m.weight for name, m in self.weighted_layers()}

    def require_data(self, what: str, labels: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(x, y)``, or ``ValueError`` saying that ``what`` needs a batch (and labels)."""
        if self.x is None:
            raise ValueError(f"{what} needs a data batch (batch=None was given)")
        if labels and self.y is None:
            raise ValueError(f"{what} needs labels (the batch has none)")
        return self.x, self.y

    def note(self, text: str) -> None:
        """Attach a note (e.g. an out-of-memory batch split) to the pass running now; its users' reasons show it."""
        if self._running is not None:
            self.notes[self._running] = text

    # ------------------------------------------------------------------ bookkeeping
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

    def _layout_retry(self, compute: Callable[[], T], pass_id: str) -> T:
        """Run ``compute``; if it fails in channels-last layout (e.g. a ``.view`` in the user's forward), switch
        the probe to the contiguous layout once and retry."""
        try:
            return compute()
        except RuntimeError as exc:
            if not self.channels_last or self.memory_format != "auto" or is_oom(exc):
                raise
            self.channels_last = False
            self.set_layout(False)
            self.notes[pass_id] = f"channels-last layout failed ({exc}); contiguous layout used"
            return compute()

    def _timed(self, pass_id: str, compute: Callable[[], T]) -> T:
        """Run one pass: timed, and with the global generator forked and seeded from (seed, pass) so that
        layers drawing from it (dropout) give the same result whatever else was computed before."""
        start = time.perf_counter()
        previous, self._running = self._running, pass_id
        try:
            with seeded_global_rng(seed_for(self.seed, "global:" + pass_id.split("#")[0]), self.device):
                return self._layout_retry(compute, pass_id)
        finally:
            self._running = previous
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
            value = self._timed(pid, compute)
        except Exception as exc:
            self._errors[key] = exc
            raise
        self._cache[key] = value
        return value

    # ------------------------------------------------------------------ passes
    def plan(self, components: Iterable[str]) -> None:
        """Declare products that will be read, so that one run of each pass computes all of its planned products."""
        comps = set(components)
        unknown = comps - products()
        if unknown:
            raise ValueError(f"unknown probe products: {sorted(unknown)}")
        self._planned |= comps

    def run_planned(self) -> None:
        """Compute now the planned products of passes without options (errors are kept for their readers)."""
        for product in sorted(self._planned):
            spec = pass_of(product)
            if not spec.options and ((spec.name, ()), product) not in self._product_pass:
                self._run_pass(spec, {}, product)

    def get(self, component: str, **options: Any) -> Any:
        """Product ``component`` of its pass run with ``options`` (planned products of that pass come from the same
        run); a failure is re-raised to every reader."""
        spec = pass_of(component)
        slot = (spec.name, tuple(sorted((k, freeze(v)) for k, v in options.items())))
        if (slot, component) not in self._product_pass:
            self._run_pass(spec, options, component)
        pass_id = self._product_pass[(slot, component)]
        self._use(pass_id)
        key = (slot, component)
        if key in self._errors:
            raise self._errors[key]
        return self._cache[key]

    def _run_pass(self, spec: PassSpec, options: dict[str, Any], component: str) -> None:
        slot = (spec.name, tuple(sorted((k, freeze(v)) for k, v in options.items())))
        wanted = frozenset(
            {component} | {p for p in self._planned if p in spec.products and (slot, p) not in self._product_pass}
        )
        self._runs[spec.name] += 1
        runs = self._runs[spec.name]
        pass_id = spec.name if runs == 1 else f"{spec.name}#{runs}"
        for product in wanted:
            self._product_pass[(slot, product)] = pass_id
        try:
            result = self._timed(pass_id, lambda: spec.compute(self, wanted, **options))
        except Exception as exc:
            for product in wanted:
                self._errors[(slot, product)] = exc
            return
        for product in wanted:
            value = result.get(product)
            if product not in result:
                value = RuntimeError(f"pass {spec.name!r} did not compute {product!r}")
            if isinstance(value, BaseException):  # this product alone could not be computed
                self._errors[(slot, product)] = value
            else:
                self._cache[(slot, product)] = value
