"""Fitness tasks and evaluation samples for the EZNAS search on NAS-Bench-201.

EZNAS's tasks are (search space × dataset) pairs with ~20–80 labelled architectures each. This machine has one
labelled benchmark, NB201 CIFAR-10 (test accuracy from the shared table), so the tasks here are *disjoint subsets*
of NB201 architectures, each with its own data batch and initialisation seed; the minimum over tasks still rewards
programs that rank consistently, but it cannot measure generality across spaces or datasets.

The held-out evaluation sample (default: 1000 architectures drawn with seed 0) is excluded from every task.
Statistics are extracted once per architecture and cached (:class:`~archrank.eznas.stats.StatsCache`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from archrank.data import Batch, load_batch
from archrank.executors import Executor
from archrank.eznas.gp import Task
from archrank.eznas.program import StatsBatch
from archrank.eznas.stats import STATS_FORMAT_VERSION, NetworkStats, StatsCache, StatsConfig, Summary, extract_stats
from archrank.runner import portable_space, torch_threads
from archrank.seeding import build_seeded
from archrank.spaces import Arch, SearchSpace

__all__ = [
    "DEFAULT_EVAL_SAMPLE",
    "DEFAULT_EVAL_SEED",
    "GP_SUMMARY",
    "MIN_TASK_ARCHS",
    "StatsFailure",
    "StatsSource",
    "build_tasks",
    "evaluation_sample",
    "fitness_architectures",
]

DEFAULT_EVAL_SAMPLE = 1000
DEFAULT_EVAL_SEED = 0
GP_SUMMARY = Summary(max_samples=4, max_channels=8, max_spatial=8)
"""Default summary for GP statistics: 4 samples, 8 channels, centred 8×8 window (≈5–10 MB per NB201 network)."""
_NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120, "synthetic": 10}
MIN_TASK_ARCHS = 3
"""Fewest architectures a fitness task may keep after failed ones are dropped (a rank correlation needs 3)."""
# What building a network or extracting its statistics raises for a network that cannot be measured (a shape
# error, an out-of-memory error, a numerical breakdown); anything else is a bug and propagates.
_ARCH_ERRORS = (RuntimeError, ValueError, TypeError, MemoryError)


@dataclass(frozen=True)
class StatsFailure:
    """An architecture whose statistics could not be extracted, and why (one line)."""

    arch: str
    reason: str


def evaluation_sample(space: SearchSpace, n: int = DEFAULT_EVAL_SAMPLE, seed: int = DEFAULT_EVAL_SEED) -> list[Arch]:
    """The fixed, seeded held-out sample (``space.sample_many(n, seed)``)."""
    return space.sample_many(n, seed=seed)


def fitness_architectures(
    space: SearchSpace, n_tasks: int, per_task: int, seed: int, exclude: Iterable[Arch] = ()
) -> list[list[Arch]]:
    """``n_tasks`` disjoint lists of ``per_task`` architectures, none in ``exclude``, drawn with
    ``numpy.random.default_rng(seed)`` from the space in its own order."""
    excluded = {space.key(a) for a in exclude}
    pool = [a for a in space.enumerate() if space.key(a) not in excluded]
    need = n_tasks * per_task
    if need > len(pool):
        raise ValueError(f"need {need} architectures but only {len(pool)} are outside the excluded sample")
    idx = np.random.default_rng(seed).choice(len(pool), size=need, replace=False)
    return [[pool[i] for i in idx[t * per_task : (t + 1) * per_task]] for t in range(n_tasks)]


@dataclass(frozen=True)
class StatsSource:
    """Where statistics come from: dataset batch, extraction config, summary, cache and device."""

    dataset: str = "cifar10"
    data_root: str | None = None
    batch_size: int = 16
    config: StatsConfig = field(default_factory=StatsConfig)
    summary: Summary = GP_SUMMARY
    cache_dir: str | os.PathLike[str] | None = None
    device: str = "cpu"

    def spec(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "batch_size": self.batch_size,
            "config": asdict(self.config),
            "summary": asdict(self.summary),
            "stats_version": STATS_FORMAT_VERSION,
        }

    def network_stats(
        self,
        space: SearchSpace,
        archs: Sequence[Arch],
        seed: int,
        progress: bool = True,
        desc: str = "statistics",
        executor: Executor | None = None,
    ) -> list[NetworkStats]:
        """Statistics of each architecture (from the cache when present; extracted and cached otherwise).

        ``executor`` extracts what the cache lacks on worker processes or a cluster, one torch thread per
        extraction; the driver alone writes the cache. Raises ``RuntimeError`` naming the first architecture whose
        statistics failed; :meth:`collect_stats` returns the failures instead."""
        found = self.collect_stats(space, archs, seed, progress=progress, desc=desc, executor=executor)
        for item in found:
            if isinstance(item, StatsFailure):
                raise RuntimeError(f"statistics of {item.arch} failed: {item.reason}")
        return found  # type: ignore[return-value]  # no failures left

    def collect_stats(
        self,
        space: SearchSpace,
        archs: Sequence[Arch],
        seed: int,
        progress: bool = True,
        desc: str = "statistics",
        executor: Executor | None = None,
    ) -> list[NetworkStats | StatsFailure]:
        """As :meth:`network_stats`, but an architecture that cannot be built or measured gives a
        :class:`StatsFailure` in its place (never cached: an out-of-memory error may not recur) and the rest go
        on."""
        batch = load_batch(self.dataset, self.data_root, batch_size=self.batch_size, seed=seed)
        cache = StatsCache(self.cache_dir) if self.cache_dir is not None else None
        num_classes = _NUM_CLASSES.get(self.dataset, 10)
        if executor is not None:
            return self._stats_on(executor, space, archs, seed, batch, cache, num_classes, progress, desc)
        job = _StatsJob(space, batch.x, batch.content_hash, seed, self.config, self.summary, self.device,
                        num_classes)
        out: list[NetworkStats | StatsFailure] = []
        for arch in tqdm(archs, desc=desc, unit="arch", disable=not progress):
            key = StatsCache.key(space.name, space.key(arch), seed, batch.content_hash, self.config, self.summary)
            stats = cache.get(space.name, key) if cache is not None else None
            if stats is None:
                stats = _extract_one(job, space.key(arch))
                if cache is not None and isinstance(stats, NetworkStats):
                    cache.put(space.name, key, stats)
            out.append(stats)
        return out

    def _stats_on(
        self, executor: Executor, space: SearchSpace, archs: Sequence[Arch], seed: int, batch: Batch,
        cache: StatsCache | None, num_classes: int, progress: bool, desc: str,
    ) -> list[NetworkStats | StatsFailure]:
        keys = [space.key(a) for a in archs]
        cache_key = {k: StatsCache.key(space.name, k, seed, batch.content_hash, self.config, self.summary)
                     for k in keys}
        found: dict[str, NetworkStats | StatsFailure] = {}
        for k in dict.fromkeys(keys):
            stats = cache.get(space.name, cache_key[k]) if cache is not None else None
            if stats is not None:
                found[k] = stats
        todo = [k for k in dict.fromkeys(keys) if k not in found]
        job = _StatsJob(portable_space(space), batch.x, batch.content_hash, seed, self.config, self.summary,
                        self.device, num_classes)
        with tqdm(total=len(todo), desc=desc, unit="arch", disable=not progress) as bar:
            for outcome in executor.map(extract_chunk, job, todo):
                # a task that failed for good (a crashed worker) fails each of its architectures
                values = outcome.value if outcome.ok else [StatsFailure(k, str(outcome.error)) for k in outcome.items]
                for k, stats in zip(outcome.items, values, strict=True):
                    if cache is not None and isinstance(stats, NetworkStats):
                        cache.put(space.name, cache_key[k], stats)
                    found[k] = stats
                bar.update(len(outcome.items))
        return [found[k] for k in keys]


@dataclass(frozen=True)
class _StatsJob:
    """What every statistics task shares: the space, the data batch and the extraction settings."""

    space: SearchSpace
    x: torch.Tensor
    batch_hash: str
    seed: int
    config: StatsConfig
    summary: Summary
    device: str
    num_classes: int


def extract_chunk(job: _StatsJob, keys: list[str]) -> list[NetworkStats | StatsFailure]:
    """A task: statistics of each architecture key (one torch thread on CPU, so values do not depend on how many
    workers computed them); an architecture that fails gives a :class:`StatsFailure` and the rest go on."""
    threads = torch_threads(1) if torch.device(job.device).type == "cpu" else nullcontext()
    with threads:
        return [_extract_one(job, key) for key in keys]


def _extract_one(job: _StatsJob, key: str) -> NetworkStats | StatsFailure:
    """Build one architecture and extract its statistics, or say in one line why that failed."""
    try:
        model = build_seeded(job.space, job.space.from_key(key), job.seed, num_classes=job.num_classes)
        stats = extract_stats(model, job.x, seed=job.seed, config=job.config, summary=job.summary,
                              device=job.device)
    except _ARCH_ERRORS as exc:
        return StatsFailure(key, f"{type(exc).__name__}: {exc}".splitlines()[0])
    stats.meta.update({"arch": key, "batch_hash": job.batch_hash})
    return stats


def build_tasks(
    space: SearchSpace,
    table: pd.DataFrame,
    source: StatsSource,
    *,
    n_tasks: int = 3,
    per_task: int = 40,
    task_seed: int = 1,
    stats_seed: int = 1,
    exclude: Iterable[Arch] = (),
    metric: str = "cifar10_test_acc",
    progress: bool = True,
    executor: Executor | None = None,
) -> tuple[list[Task], dict[str, Any]]:
    """Tasks for :func:`~archrank.eznas.gp.run_gp` and the spec that keys their evaluation cache.

    Task ``t`` uses architectures ``fitness_architectures(...)[t]`` and seed ``stats_seed + t`` for its data batch,
    initialisation and noise."""
    groups = fitness_architectures(space, n_tasks, per_task, task_seed, exclude)
    tasks: list[Task] = []
    spec_tasks = []
    for t, archs in enumerate(groups):
        seed = stats_seed + t
        found = source.collect_stats(space, archs, seed, progress=progress, desc=f"task {t} statistics",
                                     executor=executor)
        stats = [s for s in found if isinstance(s, NetworkStats)]
        failed = {s.arch: s.reason for s in found if isinstance(s, StatsFailure)}
        keys = [space.key(a) for a, s in zip(archs, found, strict=True) if isinstance(s, NetworkStats)]
        if len(keys) < MIN_TASK_ARCHS:
            raise ValueError(f"task {t}: statistics failed for {len(failed)} of {len(archs)} architectures, fewer "
                             f"than {MIN_TASK_ARCHS} left (first: {next(iter(failed.items()), ('', ''))[1]})")
        acc = table.loc[keys, metric].to_numpy(dtype=float)
        meta: dict[str, Any] = {"seed": seed, **({"failed": failed} if failed else {})}
        tasks.append(Task(f"{space.name}-{source.dataset}-t{t}", StatsBatch(stats), acc, meta))
        # the failed architectures key the fitness cache too, so a rerun where they succeed is a different task
        spec_tasks.append({"archs": keys, "seed": seed, **({"failed": sorted(failed)} if failed else {})})
    spec = {"space": space.name, "truth": metric, "tasks": spec_tasks, **source.spec()}
    return tasks, spec
