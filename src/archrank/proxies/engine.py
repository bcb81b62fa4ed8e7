"""``score``: evaluate proxies on any ``nn.Module`` with one probe, shared passes and honest statuses."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from archrank.proxies.probe import Probe
from archrank.proxies.registry import (
    ConfiguredProxy,
    ScoreNaN,
    create_proxy,
    expand_proxy_names,
    get_proxy_info,
    list_proxies,
)
from archrank.seeding import seeded_global_rng

__all__ = ["DEFAULT_PROXIES", "SUITE_ZERO_PROXIES", "ProxyResult", "resolve_proxies", "score", "score_detailed"]

ProxySpec = str | ConfiguredProxy

SUITE_ZERO_PROXIES: tuple[str, ...] = (
    "grad_norm",
    "snip",
    "grasp",
    "fisher",
    "jacov",
    "synflow",
    "plain",
    "params",
    "flops",
    "l2_norm",
    "nwot",
    "epe_nas",
    "zen",
)
"""The 13 proxies of NAS-Bench-Suite-Zero (Krishnakumar et al., NeurIPS 2022 Datasets and Benchmarks)."""

DEFAULT_PROXIES: tuple[str, ...] = ("meco", "nwot", "swap", "synflow", "params", "flops", "l2_norm")
"""What the CLI scores by default: informative and affordable. One shared train-mode forward (MeCo, NASWOT and
SWAP read it), one batch-1 float64 SynFlow pass, and the cost proxies: ≈0.3 s of CPU per NAS-Bench-201
architecture on 2 threads, i.e. all 15625 in ≈0.7 h on two dedicated cores (benchmarks/proxies_throughput.py;
more on a machine shared with other jobs). Every proxy that needs a backward costs at least one more forward +
backward, GraSP's Hessian product several; request them explicitly (e.g. :data:`SUITE_ZERO_PROXIES`, ``"az_*"``,
``"zico"``)."""


@dataclass(frozen=True)
class ProxyResult:
    """One proxy's outcome: ``value`` (oriented higher-is-better; NaN unless ``status == "ok"``; ±inf only for a
    proxy registered with ``infinite_values``, e.g. synflow's log 0 = −inf), wall ``seconds``
    (own reduction plus an equal share of every pass it used), ``status`` in {"ok", "nan", "failed"} and a
    ``reason`` (why it is not ok, or a note such as an out-of-memory batch split)."""

    value: float
    seconds: float
    status: str
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def resolve_proxies(proxies: ProxySpec | Iterable[ProxySpec] | None) -> list[tuple[str, ConfiguredProxy]]:
    """Expand names, wildcards (``"grad*"``) and configured proxies into ``(key, proxy)`` pairs, in order.

    ``None`` means :data:`DEFAULT_PROXIES`. The key is the proxy name; a name requested twice (e.g. two configs
    of one proxy) raises ``ValueError``. An unknown name or a wildcard matching nothing raises
    :class:`~archrank.proxies.registry.UnknownProxyError` (both a ``KeyError`` and a ``ValueError``).
    """
    if proxies is None:
        items: list[ProxySpec] = list(DEFAULT_PROXIES)
    elif isinstance(proxies, (str, ConfiguredProxy)):
        items = [proxies]
    else:
        items = list(proxies)
    out: list[tuple[str, ConfiguredProxy]] = []
    seen: dict[str, ConfiguredProxy] = {}
    for item in items:
        if isinstance(item, ConfiguredProxy):
            expanded = [item]
        elif isinstance(item, str):
            expanded = [create_proxy(n) for n in expand_proxy_names([item])]
        else:
            raise TypeError(f"a proxy is a name or create_proxy(...) object, got {type(item).__name__}")
        for proxy in expanded:
            if proxy.name in seen:
                if seen[proxy.name] == proxy:
                    continue
                raise ValueError(f"proxy {proxy.name!r} requested twice with different configs")
            seen[proxy.name] = proxy
            out.append((proxy.name, proxy))
    return out


def _fail_all(entries: list[tuple[str, ConfiguredProxy]], reason: str) -> dict[str, ProxyResult]:
    return {key: ProxyResult(math.nan, 0.0, "failed", reason) for key, _ in entries}


def score_detailed(
    model: nn.Module,
    proxies: ProxySpec | Iterable[ProxySpec] | None,
    batch: Any = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    num_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    memory_format: str = "auto",
) -> dict[str, ProxyResult]:
    """Score ``model`` with ``proxies``; a :class:`ProxyResult` per proxy key. See :func:`score`."""
    entries = resolve_proxies(proxies)
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    results: dict[str, ProxyResult] = {}
    # Seeded inside a fork only: user layers that draw from the global generator (e.g. dropout) are
    # deterministic, and the caller's generator state is restored on exit.
    with seeded_global_rng(seed, dev):
        try:
            probe = Probe(
                model,
                batch,
                seed=seed,
                device=dev,
                loss_fn=loss_fn,
                num_classes=num_classes,
                input_shape=input_shape,
                memory_format=memory_format,
            )
        except Exception as exc:  # the model cannot be copied or moved, or the batch is malformed
            return _fail_all(entries, f"probe setup failed: {type(exc).__name__}: {exc}")

        runnable: list[tuple[str, ConfiguredProxy]] = []
        for key, proxy in entries:
            info = proxy.info
            if info.needs_data and probe.x is None:
                results[key] = ProxyResult(math.nan, 0.0, "failed", f"{key} needs a data batch (batch=None)")
            elif info.needs_labels and probe.y is None:
                results[key] = ProxyResult(math.nan, 0.0, "failed", f"{key} needs labels (the batch has none)")
            else:
                runnable.append((key, proxy))
        probe.plan({r for _, p in runnable for r in p.info.requires})
        probe.run_planned()

        own: dict[str, float] = {}
        for key, proxy in runnable:
            with probe.consuming(key):
                start = time.perf_counter()
                status, reason, value = "ok", None, math.nan
                try:
                    value = float(proxy(probe))
                except ScoreNaN as exc:
                    status, reason = "nan", f"{key}: {exc}"
                except Exception as exc:  # any proxy failure is recorded; the others still run
                    status, reason = "failed", f"{key}: {type(exc).__name__}: {exc}"
                else:
                    if math.isnan(value) or (math.isinf(value) and not proxy.info.infinite_values):
                        status, reason, value = "nan", f"{key}: non-finite value ({value})", math.nan
                own[key] = max(0.0, time.perf_counter() - start - probe.inner_seconds)
            results[key] = ProxyResult(value if status == "ok" else math.nan, 0.0, status, reason)

    # Split each pass's time equally among the proxies that read it; add notes (e.g. an OOM batch split).
    for key, _ in runnable:
        used = [pid for pid, users in probe.pass_users.items() if key in users]
        share = sum(probe.pass_seconds.get(pid, 0.0) / len(probe.pass_users[pid]) for pid in used)
        res = results[key]
        notes = [probe.notes[pid] for pid in used if pid in probe.notes]
        reason = res.reason
        if notes:
            reason = "; ".join([*([reason] if reason else []), *notes])
        results[key] = ProxyResult(res.value, own.get(key, 0.0) + share, res.status, reason)
    return {key: results[key] for key, _ in entries}


def score(
    model: nn.Module,
    proxies: ProxySpec | Iterable[ProxySpec] | None,
    batch: Any = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    *,
    detailed: bool = False,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    num_classes: int | None = None,
    input_shape: Sequence[int] | None = None,
    memory_format: str = "auto",
) -> dict[str, float] | dict[str, ProxyResult]:
    """Score any ``nn.Module`` with zero-cost proxies; the caller's model is never modified.

    ``proxies``: a name, a wildcard (``"grad*"``), a :func:`create_proxy` object, or a list of those (``None``:
    :data:`DEFAULT_PROXIES`). ``batch``: ``(x, y)``, a ``Batch``, a bare ``x`` (no labels) or ``None`` for
    data-free proxies (then ``input_shape`` (C, H, W) gives the shape for synflow/zen/flops). ``seed`` seeds
    everything random (Gaussian inputs, re-initialisations, Rademacher vectors, user dropout) through local
    generators and a forked global RNG. ``device``: ``"cpu"`` or ``"cuda[:i]"``. ``loss_fn(logits, y)`` defaults
    to cross-entropy. ``memory_format``: ``"auto"`` runs image models channels-last on CPU (same values up to
    float rounding, about twice as fast; falls back to contiguous if the model's forward rejects it),
    ``"contiguous"`` or ``"channels_last"`` force one.

    Returns ``{name: value}`` oriented higher-is-better, NaN where the proxy failed or is undefined, or
    ``{name: ProxyResult}`` with ``detailed=True`` (also :func:`score_detailed`).
    """
    results = score_detailed(
        model,
        proxies,
        batch,
        seed,
        device,
        loss_fn=loss_fn,
        num_classes=num_classes,
        input_shape=input_shape,
        memory_format=memory_format,
    )
    if detailed:
        return results
    return {key: res.value for key, res in results.items()}


def proxy_metadata_table() -> list[dict[str, Any]]:
    """One row per registered proxy with its metadata (for documentation and the CLI)."""
    rows = []
    for name in list_proxies():
        info = get_proxy_info(name)
        rows.append(
            {
                "name": name,
                "higher_is_better": info.higher_is_better,
                "negated": info.negated,
                "needs_data": info.needs_data,
                "needs_labels": info.needs_labels,
                "needs_gradients": info.needs_gradients,
                "needs_input_gradients": info.needs_input_gradients,
                "needs_hessian": info.needs_hessian,
                "needs_double": info.needs_double,
                "bn_mode": info.bn_mode,
                "requires": ",".join(info.requires),
                "citation": info.citation,
            }
        )
    return rows
