"""Score architectures of a space with one Eproxy config (resumable through :class:`EproxyStore`) and measure the
ranking against ground truth."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from archrank.data.batch import batch_hash as _batch_hash
from archrank.eproxy.config import EproxyConfig
from archrank.eproxy.presets import resolve_config
from archrank.eproxy.store import EproxyStore, ScoreRecord
from archrank.eproxy.train import DEFAULT_INPUT_SHAPE, eproxy_score
from archrank.executors import Executor
from archrank.proxies.probe import unpack_batch
from archrank.runner import portable_space, torch_threads
from archrank.seeding import build_seeded
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


def input_hash(config: EproxyConfig, batch: Any) -> str:
    """What the inputs were: ``"synthetic"`` for synthetic inputs of the default shape (3×32×32), with the shape
    (``"synthetic:3x16x16"``) when a batch gives them another one, else the batch's content hash."""
    if config.inputs == "synthetic":
        x, _ = unpack_batch(batch)
        if x is None or tuple(x.shape[1:]) == DEFAULT_INPUT_SHAPE:
            return "synthetic"
        return "synthetic:" + "x".join(str(d) for d in x.shape[1:])
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
    executor: Executor | None = None,
) -> dict[str, ScoreRecord]:
    """Eproxy value of each architecture (keyed by ``space.key``), read from ``store`` when already there and
    written to it one architecture at a time otherwise. A failure is recorded with status ``failed`` (retried on
    the next run) and does not stop the others. ``progress(i, record)`` is called after each architecture.

    ``executor`` scores what the store lacks on worker processes or a Ray cluster (one torch thread per
    architecture on CPU); the results come back here, and only this process writes the store."""
    cfg = resolve_config(config)
    digest = input_hash(cfg, batch)
    keys = [space.key(a) for a in archs]
    done: dict[str, ScoreRecord] = {}
    if store is not None:
        store.put_config(cfg)
        done = {
            k: r for k, r in store.scores(space.name, cfg.key, seed, digest, keys).items() if r["status"] != "failed"
        }
    out: dict[str, ScoreRecord] = dict(done)

    def keep(key: str, record: ScoreRecord) -> None:
        if store is not None:
            store.put_score({**record, "space": space.name, "arch_key": key, "config_key": cfg.key, "seed": seed,
                             "batch_hash": digest, "device": str(device)})
        out[key] = record

    if executor is None:
        for i, (arch, key) in enumerate(zip(archs, keys, strict=True)):
            if key not in out:
                keep(key, _score_one(space, arch, cfg, batch, seed, device))
            if progress is not None:
                progress(i, out[key])
        return out
    missing = [k for k in dict.fromkeys(keys) if k not in out]
    job = _EproxyJob(portable_space(space), cfg, batch, seed, str(device))
    for outcome in executor.map(score_chunk, job, missing):
        records = outcome.value if outcome.ok else [_failed(f"task failed: {outcome.error}") for _ in outcome.items]
        for key, record in zip(outcome.items, records, strict=True):
            keep(key, record)
    if progress is not None:
        for i, key in enumerate(keys):
            progress(i, out[key])
    return {k: out[k] for k in keys}


def _score_one(space: SearchSpace, arch: Any, cfg: EproxyConfig, batch: Any, seed: int, device: str) -> ScoreRecord:
    """One architecture's Eproxy record; a failure becomes a ``failed`` record with its reason."""
    start = time.perf_counter()
    try:
        res = eproxy_score(build_seeded(space, arch, seed), cfg, batch, seed=seed, device=device)
    except Exception as exc:  # recorded and retried on the next run; the other architectures still run
        return {**_failed(f"{type(exc).__name__}: {exc}"), "seconds": time.perf_counter() - start}
    status = "ok" if res.ok else "nan"
    return {
        "value": res.value,
        "score": res.score,
        "loss": res.loss,
        "macs": res.macs,
        "seconds": res.seconds,
        "status": status,
        "error": None if status == "ok" else res.reason,
    }


def _failed(reason: str) -> ScoreRecord:
    return {"value": math.nan, "score": math.nan, "loss": math.nan, "macs": None, "seconds": None,
            "status": "failed", "error": reason}


@dataclass(frozen=True)
class _EproxyJob:
    """What every Eproxy scoring task shares."""

    space: SearchSpace
    config: EproxyConfig
    batch: Any
    seed: int
    device: str


def score_chunk(job: _EproxyJob, keys: list[str]) -> list[ScoreRecord]:
    """A task: the Eproxy record of each architecture key (one torch thread on CPU)."""
    threads = torch_threads(1) if torch.device(job.device).type == "cpu" else nullcontext()
    with threads:
        return [_score_one(job.space, job.space.from_key(k), job.config, job.batch, job.seed, job.device)
                for k in keys]


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
