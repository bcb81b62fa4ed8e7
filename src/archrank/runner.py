"""Score many architectures of a space into the store, resumably.

``score_space`` builds each architecture's model (initialised from the run's seed, so a score does not depend
on the order or the process that computed it), scores it with the proxy engine on one fixed batch, and writes
that architecture's rows in one transaction. What the store already holds is skipped, so an interrupted run
restarted with the same arguments finishes the job without losing or duplicating results. A failure on one
architecture (a build error, NaN, out of memory) is recorded with its reason and the run goes on.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from archrank.proxies import ProxyResult, list_proxies, proxy_config_hash, score_detailed
from archrank.spaces import Arch, SearchSpace, get_space
from archrank.store import ScoreRow, Store

NO_BATCH = "none"


@dataclass
class ScoringSummary:
    """What one ``score_space`` call did."""

    requested: int = 0
    skipped: int = 0
    scored: int = 0
    rows: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: {"ok": 0, "nan": 0, "failed": 0})
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.statuses.items())
        return (
            f"{self.scored} architectures scored, {self.skipped} already in the store "
            f"({self.rows} results: {parts}) in {self.seconds:.1f} s"
        )


def expand_proxies(patterns: Sequence[str]) -> list[str]:
    """Proxy names from names or shell wildcards, in the given order, without repeats."""
    known = list_proxies()
    names: list[str] = []
    for pattern in patterns:
        matched = [n for n in known if fnmatch.fnmatch(n, pattern)]
        if not matched:
            raise ValueError(f"no proxy matches {pattern!r}; known: {', '.join(known)}")
        names.extend(n for n in matched if n not in names)
    return names


def model_config(space: SearchSpace, num_classes: int, build_kwargs: dict[str, Any]) -> dict[str, Any]:
    """Everything about the scored model besides the architecture (part of each proxy's config hash)."""
    return {"space": space.name, "num_classes": num_classes, "build": dict(sorted(build_kwargs.items()))}


def config_hashes(proxies: Sequence[str], model_cfg: dict[str, Any]) -> dict[str, str]:
    """Config hash per proxy: the proxy's own configuration plus the model configuration."""
    out = {}
    for name in proxies:
        blob = json.dumps({"proxy": proxy_config_hash(name, {}), "model": model_cfg}, sort_keys=True)
        out[name] = hashlib.sha256(blob.encode()).hexdigest()[:16]
    return out


def build_seeded(space: SearchSpace, arch: Arch, seed: int, num_classes: int, **build_kwargs: Any) -> torch.nn.Module:
    """Build ``arch`` with weights initialised from ``seed`` alone (the caller's RNG state is untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return space.build(arch, num_classes=num_classes, **build_kwargs)


def score_arch(
    space: SearchSpace,
    arch: Arch,
    proxies: Sequence[str],
    batch: tuple[torch.Tensor, torch.Tensor] | None,
    seed: int,
    device: str,
    num_classes: int,
    build_kwargs: dict[str, Any],
) -> dict[str, ProxyResult]:
    """Results of ``proxies`` on one architecture; a build failure becomes a ``failed`` result for each."""
    start = time.perf_counter()
    try:
        model = build_seeded(space, arch, seed, num_classes, **build_kwargs)
    except (RuntimeError, ValueError, TypeError, MemoryError) as exc:
        reason = f"model build failed: {type(exc).__name__}: {exc}"
        took = time.perf_counter() - start
        return {name: ProxyResult(float("nan"), took, "failed", reason) for name in proxies}
    return score_detailed(model, list(proxies), batch=batch, seed=seed, device=device, num_classes=num_classes)


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


def _score_in_worker(args: tuple[Any, ...]) -> tuple[str, dict[str, ProxyResult]]:
    space_name, key, proxies, batch, seed, device, num_classes, build_kwargs = args
    space = get_space(space_name)
    arch = space.from_key(key)
    return key, score_arch(space, arch, proxies, batch, seed, device, num_classes, build_kwargs)


def score_space(
    space: SearchSpace,
    archs: Sequence[Arch],
    proxies: Sequence[str],
    store: Store,
    batch: tuple[torch.Tensor, torch.Tensor] | None = None,
    *,
    batch_hash: str = NO_BATCH,
    seed: int = 0,
    device: str = "cpu",
    num_classes: int = 10,
    build_kwargs: dict[str, Any] | None = None,
    workers: int = 1,
    progress: bool = True,
    run_id: int | None = None,
) -> ScoringSummary:
    """Score ``archs`` with ``proxies`` into ``store``, skipping what is already there (see module doc).

    ``workers > 1`` scores architectures in that many processes (one torch thread each); the main process
    alone writes to the store. Only registered spaces can be scored in worker processes. On CUDA the workers are
    spawned (not forked) and share the GPU: small networks leave it mostly idle, so several processes raise
    throughput.
    """
    build_kwargs = dict(build_kwargs or {})
    names = expand_proxies(proxies)
    hashes = config_hashes(names, model_config(space, num_classes, build_kwargs))
    for name, digest in hashes.items():
        store.put_config(digest, name, {"proxy": name, **model_config(space, num_classes, build_kwargs)})
    done = store.done(space.name, hashes, seed, batch_hash, device)
    keys = list(dict.fromkeys(space.key(a) for a in archs))
    todo = [(k, [n for n in names if (k, n) not in done]) for k in keys]
    todo = [(k, missing) for k, missing in todo if missing]
    summary = ScoringSummary(requested=len(keys), skipped=len(keys) - len(todo))
    start = time.perf_counter()

    def record(key: str, results: dict[str, ProxyResult]) -> None:
        rows = [
            ScoreRow(
                space=space.name,
                arch_key=key,
                proxy=name,
                config_hash=hashes[name],
                seed=seed,
                batch_hash=batch_hash,
                device=device,
                score=res.value if res.status == "ok" else None,
                seconds=res.seconds,
                status=res.status,
                error=res.reason,
                run_id=run_id,
            )
            for name, res in results.items()
        ]
        summary.rows += store.put_scores(rows)
        summary.scored += 1
        for res in results.values():
            summary.statuses[res.status] += 1

    bar = tqdm(total=len(todo), desc=f"scoring {space.name}", unit="arch", disable=not progress)
    try:
        if workers <= 1:
            for key, missing in todo:
                arch = space.from_key(key)
                record(key, score_arch(space, arch, missing, batch, seed, device, num_classes, build_kwargs))
                bar.update(1)
        else:
            jobs = [(space.name, k, m, batch, seed, device, num_classes, build_kwargs) for k, m in todo]
            # CUDA cannot be used in a forked child once the parent touched it: start CUDA workers fresh.
            context = multiprocessing.get_context("spawn") if device.startswith("cuda") else None
            with ProcessPoolExecutor(
                max_workers=workers, mp_context=context, initializer=_worker_init, initargs=(1,)
            ) as pool:
                for key, results in pool.map(_score_in_worker, jobs, chunksize=1):
                    record(key, results)
                    bar.update(1)
    finally:
        bar.close()
    summary.seconds = time.perf_counter() - start
    return summary
