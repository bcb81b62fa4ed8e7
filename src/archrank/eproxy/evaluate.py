"""Score architectures of a space with one Eproxy config (resumable through :class:`EproxyStore`) and measure the
ranking against ground truth."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import nn

from archrank.data.batch import batch_hash as _batch_hash
from archrank.eproxy.config import EproxyConfig
from archrank.eproxy.presets import resolve_config
from archrank.eproxy.store import EproxyStore, ScoreRecord
from archrank.eproxy.train import eproxy_score
from archrank.proxies.probe import unpack_batch
from archrank.spaces import SearchSpace

__all__ = [
    "build_seeded",
    "input_hash",
    "labelled_keys",
    "rank_metrics",
    "sample_eval_archs",
    "score_archs",
    "undefined_last",
]


def build_seeded(space: SearchSpace, arch: Any, seed: int = 0, num_classes: int = 10) -> nn.Module:
    """``space.build(arch)`` with PyTorch's default initialisation drawn from a forked RNG seeded with ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return space.build(arch, num_classes=num_classes)


def input_hash(config: EproxyConfig, batch: Any) -> str:
    """What the inputs were: ``"synthetic"`` for synthetic inputs, else the batch's content hash."""
    if config.inputs == "synthetic":
        return "synthetic"
    content = getattr(batch, "content_hash", None)
    if callable(content):
        return str(content())
    x, y = unpack_batch(batch)
    if x is None:
        raise ValueError("Eproxy with inputs='batch' needs a batch")
    return _batch_hash(x, y if y is not None else torch.zeros(x.shape[0], dtype=torch.long))


def labelled_keys(spec: Any) -> set[str]:
    """Keys of the labelled architectures a config was tuned on, when ``spec`` is a JSON file saved by DPS (they
    must be excluded from any evaluation of that config); empty otherwise."""
    from pathlib import Path

    from archrank.eproxy.config import load_config_meta

    if not isinstance(spec, (str, Path)) or not str(spec).endswith(".json") or not Path(spec).is_file():
        return set()
    return {str(pair[0]) for pair in load_config_meta(spec).get("labelled", [])}


def sample_eval_archs(space: SearchSpace, n: int, seed: int = 0, exclude: Iterable[str] = ()) -> list[Any]:
    """``n`` distinct architectures drawn with ``seed``, none of whose keys is in ``exclude`` (e.g. DPS's labelled
    set). Deterministic: the first ``n`` non-excluded draws of ``space.sample_many(n + len(exclude), seed)``."""
    excluded = set(exclude)
    pool = space.sample_many(min(len(space), n + len(excluded)), seed=seed)
    chosen = [a for a in pool if space.key(a) not in excluded][:n]
    if len(chosen) < n:
        raise ValueError(f"only {len(chosen)} architectures left after excluding {len(excluded)}")
    return chosen


def score_archs(
    space: SearchSpace,
    archs: Sequence[Any],
    config: Any,
    batch: Any = None,
    *,
    seed: int = 0,
    device: str = "cpu",
    store: EproxyStore | None = None,
    progress: Callable[[int, ScoreRecord], None] | None = None,
) -> dict[str, ScoreRecord]:
    """Eproxy value of each architecture (keyed by ``space.key``), read from ``store`` when already there and
    written to it one architecture at a time otherwise. A failure is recorded with status ``failed`` (retried on
    the next run) and does not stop the others. ``progress(i, record)`` is called after each architecture."""
    cfg = resolve_config(config)
    digest = input_hash(cfg, batch)
    keys = [space.key(a) for a in archs]
    done: dict[str, ScoreRecord] = {}
    if store is not None:
        store.put_config(cfg)
        done = {
            k: r for k, r in store.scores(space.name, cfg.key, seed, digest, keys).items() if r["status"] != "failed"
        }
    out: dict[str, ScoreRecord] = {}
    for i, (arch, key) in enumerate(zip(archs, keys, strict=True)):
        if key in done:
            out[key] = done[key]
        else:
            start = time.perf_counter()
            try:
                res = eproxy_score(build_seeded(space, arch, seed), cfg, batch, seed=seed, device=device)
                status = "ok" if res.ok else "nan"
                record: ScoreRecord = {
                    "value": res.value,
                    "score": res.score,
                    "loss": res.loss,
                    "macs": res.macs,
                    "seconds": res.seconds,
                    "status": status,
                    "error": None if status == "ok" else res.reason,
                }
            except Exception as exc:  # recorded and retried on the next run; the other architectures still run
                record = {
                    "value": math.nan,
                    "score": math.nan,
                    "loss": math.nan,
                    "macs": None,
                    "seconds": time.perf_counter() - start,
                    "status": "failed",
                    "error": f"{type(exc).__name__}: {exc}",
                }
            if store is not None:
                store.put_score(
                    {
                        **record,
                        "space": space.name,
                        "arch_key": key,
                        "config_key": cfg.key,
                        "seed": seed,
                        "batch_hash": digest,
                        "device": str(device),
                    }
                )
            out[key] = record
        if progress is not None:
            progress(i, out[key])
    return out


def undefined_last(values: Sequence[float]) -> list[float]:
    """``values`` with every undefined (NaN) entry replaced by a value below all others: ranked last, tied."""
    finite = [v for v in values if math.isfinite(v)]
    floor = (min(finite) - 1.0) if finite else 0.0
    return [v if math.isfinite(v) else floor for v in values]


def rank_metrics(values: Sequence[float], truth: Sequence[float]) -> dict[str, float]:
    """Spearman ρ and Kendall τ of ``values`` (higher = predicted better) against ``truth``: over all
    architectures with undefined values ranked last (``spearman``, ``kendall``) and over defined ones only
    (``spearman_defined``, ``kendall_defined``)."""
    from archrank.bench.metrics import kendall, spearman

    ranked = undefined_last(values)
    return {
        "spearman": spearman(ranked, truth),
        "kendall": kendall(ranked, truth),
        "spearman_defined": spearman(values, truth),
        "kendall_defined": kendall(values, truth),
        "n": float(len(values)),
        "undefined": float(sum(1 for v in values if not math.isfinite(v))),
    }
