"""Score many architectures of a space into the store, resumably, on any executor.

``score_space`` builds each architecture's model (initialised from the run's seed, so a score does not depend
on the order, the process or the machine that computed it) and scores it with the proxy engine on one fixed
batch. The work runs on an executor (:mod:`archrank.executors`: local worker processes by default, or a Ray
cluster) in chunks of architectures; the driver alone writes the store, one transaction per finished chunk. What
the store already holds is never resubmitted, so a run interrupted at any instant (even ``kill -9``) and started
again with the same arguments finishes the job without losing or duplicating results.

Failures: a failure on one architecture (a build error, NaN, out of memory) is recorded with its reason and the
run goes on; a task that raises or whose worker dies is retried a bounded number of times, then its
architectures are recorded as ``failed`` with the reason.

Threads: on CPU every scoring call runs on exactly one intra-op torch thread (parallelism comes from workers and
tasks), because several proxies' values depend on the thread count in their last bits (reduction order) and
the store key does not record it. Scores are therefore the same whatever ``--threads``/``--workers``/executor
computed them; the caller's thread setting is restored after each call.
"""

from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import torch
from tqdm.auto import tqdm

from archrank.executors import Executor, LocalExecutor, RayExecutor, TaskOutcome, make_executor
from archrank.proxies import (
    ConfiguredProxy,
    ProxyResult,
    create_proxy,
    expand_proxy_names,
    proxy_config_hash,
    score_detailed,
)
from archrank.seeding import build_seeded
from archrank.spaces import Arch, SearchSpace, get_space
from archrank.store import ScoreRow, Store
from archrank.store.core import claim_owner

NO_BATCH = "none"
SCORING_THREADS = 1
"""Intra-op torch threads of every CPU scoring call (see the module doc)."""

CLAIM_TTL_S = 60.0
"""How long a claim on architectures lasts unless renewed: what a rerun after ``kill -9`` waits at most for the
architectures the killed process had in flight. A live process renews its claims every third of this from a
thread of its own, however long its tasks run. A process stalled for longer (suspended, or its store busy beyond
the timeout) may let a concurrent process take its architectures over: that costs repeated work, never a wrong or
duplicated result."""

POLL_S = 2.0
"""How often a process waiting for architectures claimed by another process looks at the store."""


WorkItem = tuple[str, tuple[str, ...]]
"""(architecture key, names of the proxies still missing for it)."""


@dataclass
class ScoringSummary:
    """What one ``score_space`` call did. Counts are of what *this* call wrote; architectures that another process
    finished meanwhile are counted in ``by_other`` only."""

    requested: int = 0
    skipped: int = 0
    scored: int = 0
    by_other: int = 0
    failed_tasks: int = 0
    rows: int = 0
    statuses: dict[str, int] = field(default_factory=lambda: {"ok": 0, "nan": 0, "failed": 0})
    seconds: float = 0.0

    def __str__(self) -> str:
        parts = ", ".join(f"{k} {v}" for k, v in self.statuses.items())
        text = f"{self.scored} architectures scored, {self.skipped} already in the store"
        if self.by_other:
            text += f", {self.by_other} finished by another process meanwhile"
        text += f" ({self.rows} results written: {parts}"
        if self.failed_tasks:
            text += f"; {self.failed_tasks} architectures failed with their task"
        return text + f") in {self.seconds:.1f} s"


def validate_device(name: str, *, check_available: bool = True) -> str:
    """``name`` if archrank can score on it (``cpu``, ``cuda``, ``cuda:N``), else one clear ``ValueError``.

    ``check_available`` also checks that this machine has that GPU (off when the work runs on a cluster whose
    nodes, not the driver, hold the GPUs).
    """
    kind, sep, index = name.partition(":")
    if kind not in ("cpu", "cuda") or (sep and not (kind == "cuda" and index.isdigit())):
        raise ValueError(f"unknown device {name!r}: use cpu, cuda or cuda:N")
    if kind == "cuda" and check_available:
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: CUDA is not available on this machine")
        if index and int(index) >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA devices")
    return name


@contextmanager
def torch_threads(threads: int) -> Iterator[None]:
    """Run the block with ``threads`` intra-op torch threads, then restore the caller's setting."""
    previous = torch.get_num_threads()
    if previous != threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)


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


def work_fingerprint(hashes: dict[str, str], seed: int, batch_hash: str, device: str) -> str:
    """What identifies one piece of scoring work besides the architecture (the key of its claims): the config
    hash of each proxy, the seed, the batch and the device."""
    blob = json.dumps({"configs": hashes, "seed": seed, "batch": batch_hash, "device": device}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def score_arch(
    space: SearchSpace,
    arch: Arch,
    proxies: Sequence[str | ConfiguredProxy],
    batch: tuple[torch.Tensor, torch.Tensor] | None,
    seed: int,
    device: str,
    num_classes: int,
    build_kwargs: dict[str, Any],
) -> dict[str, ProxyResult]:
    """Results of ``proxies`` on one architecture; a build failure becomes a ``failed`` result for each.

    On CPU it runs on :data:`SCORING_THREADS` torch threads whatever the caller's setting (module doc).
    """
    names = [p if isinstance(p, str) else p.name for p in proxies]
    threads = torch_threads(SCORING_THREADS) if torch.device(device).type == "cpu" else nullcontext()
    with threads:
        start = time.perf_counter()
        try:
            model = build_seeded(space, arch, seed, num_classes, **build_kwargs)
        except (RuntimeError, ValueError, TypeError, MemoryError) as exc:
            reason = f"model build failed: {type(exc).__name__}: {exc}"
            took = time.perf_counter() - start
            return {name: ProxyResult(float("nan"), took, "failed", reason) for name in names}
        return score_detailed(model, list(proxies), batch=batch, seed=seed, device=device, num_classes=num_classes)


@dataclass(frozen=True)
class ScoringJob:
    """What every scoring task shares (sent to the workers once): the space, the proxies (as configured proxy
    objects, so proxies registered in the driver's script score on remote workers too), the batch and the
    model settings."""

    space: SearchSpace
    proxies: tuple[ConfiguredProxy, ...]
    batch: tuple[torch.Tensor, torch.Tensor] | None
    seed: int
    device: str
    num_classes: int
    build_kwargs: dict[str, Any]


def score_chunk(job: ScoringJob, items: list[WorkItem]) -> list[tuple[str, dict[str, ProxyResult]]]:
    """A task: each architecture of ``items`` with the proxies it is missing (runs on a worker)."""
    by_name = {p.name: p for p in job.proxies}
    out = []
    for key, missing in items:
        arch = job.space.from_key(key)
        proxies = [by_name[name] for name in missing]
        out.append((key, score_arch(job.space, arch, proxies, job.batch, job.seed, job.device, job.num_classes,
                                    job.build_kwargs)))
    return out


def portable_space(space: SearchSpace) -> SearchSpace:
    """A fresh instance of a registered space (small to send: no caches), else ``space`` itself."""
    try:
        fresh = get_space(space.name)
    except KeyError:
        return space
    return fresh if type(fresh) is type(space) else space


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
    executor: Executor | str | None = None,
    chunk_size: int | None = None,
    progress: bool = True,
    run_id: int | None = None,
    claim_ttl_s: float = CLAIM_TTL_S,
) -> ScoringSummary:
    """Score ``archs`` with ``proxies`` into ``store``, skipping what is already there (see module doc).

    ``executor`` is where the work runs: ``"local"`` (default; ``workers`` processes, ``1`` = this process),
    ``"ray"`` (a local Ray instance of ``workers`` CPUs) or an :class:`~archrank.executors.Executor` object
    (e.g. ``RayExecutor("auto", gpus_per_task=0.25)``; the caller keeps ownership and closes it). ``chunk_size``
    architectures make one task (default: about four tasks per parallel slot, at most 16 architectures).

    Several processes may score into one store at once: each claims the architectures it is about to submit
    (leases of ``claim_ttl_s`` seconds, renewed while it works) and leaves those claimed by another live process
    to it, waiting at the end until they are stored. A killed process's claims expire after ``claim_ttl_s``.
    """
    build_kwargs = dict(build_kwargs or {})
    on_cluster = isinstance(executor, RayExecutor) or executor == "ray"
    validate_device(device, check_available=not on_cluster)
    names = expand_proxy_names(proxies)
    model_cfg = model_config(space, num_classes, build_kwargs)
    hashes = config_hashes(names, model_cfg)
    for name, digest in hashes.items():
        store.put_config(digest, name, {"proxy": name, **model_cfg})
    plan = _Plan(store, space.name, names, hashes, seed, batch_hash, device, run_id)
    keys = list(dict.fromkeys(space.key(a) for a in archs))
    todo = plan.missing(keys)
    summary = ScoringSummary(requested=len(keys), skipped=len(keys) - len(todo))
    start = time.perf_counter()

    owned = not isinstance(executor, Executor)
    runner = _resolve_executor(executor, workers, device)
    try:
        if isinstance(runner, RayExecutor) and device.startswith("cuda") and not runner.gpus_per_task:
            raise ValueError(f"--device {device} on Ray needs GPUs per task (e.g. --gpus-per-task 0.25)")
        in_process = isinstance(runner, LocalExecutor) and runner.workers <= 1
        job = ScoringJob(
            space=space if in_process else portable_space(space),
            proxies=tuple(create_proxy(name) for name in names),
            batch=batch,
            seed=seed,
            device=device,
            num_classes=num_classes,
            build_kwargs=build_kwargs,
        )
        bar = tqdm(total=len(todo), desc=f"scoring {space.name}", unit="arch", disable=not progress)
        claims = _Claims(plan, claim_ttl_s)
        try:
            with claims.kept_alive():
                _drive(runner, job, todo, plan, claims, summary, bar, chunk_size)
        finally:
            claims.release_all()
            bar.close()
    finally:
        if owned:
            runner.close()
    summary.seconds = time.perf_counter() - start
    return summary


def _drive(
    runner: Executor,
    job: ScoringJob,
    todo: list[WorkItem],
    plan: _Plan,
    claims: _Claims,
    summary: ScoringSummary,
    bar: Any,
    chunk_size: int | None,
) -> None:
    """Score ``todo``; then wait for what other processes claimed, taking over what they leave undone."""
    failures = 0
    while todo:
        for outcome in runner.map(score_chunk, job, todo, chunk_size=chunk_size, admit=claims.admit):
            failures += plan.record(outcome, summary)
            claims.release([key for key, _ in outcome.items])
            bar.update(len(outcome.items))
            if failures:
                bar.set_postfix(failed=failures, refresh=False)
        deferred = claims.take_deferred()
        if not deferred:
            return
        todo = plan.missing(deferred)
        finished_by_other = len(deferred) - len(todo)
        summary.by_other += finished_by_other
        bar.update(finished_by_other)
        if todo:
            bar.set_postfix(failed=failures, waiting_for_other=len(todo), refresh=True)
            time.sleep(POLL_S)


class _Plan:
    """What this scoring run writes and how: the store key of its rows, what is missing, recording outcomes."""

    def __init__(
        self,
        store: Store,
        space: str,
        names: list[str],
        hashes: dict[str, str],
        seed: int,
        batch_hash: str,
        device: str,
        run_id: int | None,
    ) -> None:
        self.store, self.space, self.names, self.hashes = store, space, names, hashes
        self.seed, self.batch_hash, self.device, self.run_id = seed, batch_hash, device, run_id
        self.fingerprint = work_fingerprint(hashes, seed, batch_hash, device)

    def missing(self, keys: Sequence[str]) -> list[WorkItem]:
        """``keys`` with the proxies the store does not hold for them yet (ok/nan; failed rows are redone)."""
        done = self.store.done(self.space, self.hashes, self.seed, self.batch_hash, self.device, list(keys))
        todo = [(k, tuple(n for n in self.names if (k, n) not in done)) for k in keys]
        return [(k, missing) for k, missing in todo if missing]

    def rows(self, key: str, results: dict[str, ProxyResult], timed: bool) -> list[ScoreRow]:
        return [
            ScoreRow(
                space=self.space,
                arch_key=key,
                proxy=name,
                config_hash=self.hashes[name],
                seed=self.seed,
                batch_hash=self.batch_hash,
                device=self.device,
                score=res.value if res.status == "ok" else None,
                seconds=res.seconds if timed else None,
                status=res.status,
                error=res.reason,
                run_id=self.run_id,
            )
            for name, res in results.items()
        ]

    def record(self, outcome: TaskOutcome[WorkItem], summary: ScoringSummary) -> int:
        """Write one finished task's rows in one transaction and count them in ``summary``; returns how many of
        its architectures have a failed result."""
        if outcome.ok:
            results = list(outcome.value)
        else:
            reason = f"task failed: {outcome.error}"
            results = [(key, {n: ProxyResult(math.nan, 0.0, "failed", reason) for n in missing})
                       for key, missing in outcome.items]
            summary.failed_tasks += len(outcome.items)
        rows = [row for key, res in results for row in self.rows(key, res, timed=outcome.ok)]
        written = self.store.put_scores(rows)
        summary.rows += written
        mine = rows if written == len(rows) else self._written_by_this_run(rows) if written else []
        mine_keys = {row.arch_key for row in mine}
        summary.scored += len(mine_keys)
        summary.by_other += len(results) - len(mine_keys)
        for row in mine:
            summary.statuses[row.status] += 1
        return sum(any(r.status == "failed" for r in res.values()) for _, res in results)

    def _written_by_this_run(self, rows: Sequence[ScoreRow]) -> list[ScoreRow]:
        """Which of ``rows`` the store holds from this run, after a write that another process partly beat
        (rows of status ok/nan are never replaced). Without a run id, none can be told apart."""
        if self.run_id is None:
            return []
        frame = self.store.scores(space=self.space, proxies=sorted({r.proxy for r in rows}))
        frame = frame[frame["run_id"] == self.run_id]
        stored = set(zip(frame["arch_key"], frame["proxy"], frame["config_hash"], strict=True))
        return [r for r in rows if (r.arch_key, r.proxy, r.config_hash) in stored]


class _Claims:
    """This process's leases on architectures of one scoring plan's fingerprint (see ``Store.claim``)."""

    def __init__(self, plan: _Plan, ttl_s: float) -> None:
        self.plan, self.store, self.space, self.fingerprint = plan, plan.store, plan.space, plan.fingerprint
        self.ttl_s = ttl_s
        self.owner = claim_owner()
        self.deferred: list[str] = []  # claimed by another live process, or finished by one, when this one wanted them

    def admit(self, chunk: list[WorkItem]) -> list[WorkItem]:
        """The items of ``chunk`` this process could claim, with what is missing for them *now*: ``chunk`` was planned
        earlier, and another process may have stored some of it since. Keys claimed by another live process, and
        claimed keys already complete (released again), are deferred: the driver counts them as the other's."""
        got = self.store.claim(self.space, self.fingerprint, [k for k, _ in chunk], self.owner, self.ttl_s)
        still = dict(self.plan.missing(got))
        complete = [k for k in got if k not in still]
        if complete:
            self.store.release(self.space, self.fingerprint, complete, self.owner)
        self.deferred.extend(k for k, _ in chunk if k not in still)
        return list(still.items())

    def release(self, keys: list[str]) -> None:
        self.store.release(self.space, self.fingerprint, keys, self.owner)

    @contextmanager
    def kept_alive(self) -> Iterator[None]:
        """Renew this process's leases every third of their lifetime while the block runs, from a thread with a
        connection of its own: the driver may be blocked for longer than a lease, waiting for a task or running it
        itself. A store in memory is seen by no other process: nothing to renew."""
        if self.store.path == ":memory:":
            yield
            return
        stop = threading.Event()
        thread = threading.Thread(target=self._renew_until, args=(stop,), name="archrank-claims", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def _renew_until(self, stop: threading.Event) -> None:
        with Store(self.store.path, create=False) as store:
            while not stop.wait(self.ttl_s / 3):
                try:
                    store.renew_claims(self.space, self.fingerprint, self.owner, self.ttl_s)
                except sqlite3.OperationalError:  # the store stayed busy beyond its timeout: try at the next tick
                    continue

    def take_deferred(self) -> list[str]:
        deferred, self.deferred = self.deferred, []
        return deferred

    def release_all(self) -> None:
        self.store.release(self.space, self.fingerprint, None, self.owner)


def _resolve_executor(executor: Executor | str | None, workers: int, device: str) -> Executor:
    if isinstance(executor, Executor):
        return executor
    # CUDA cannot be used in a forked child once the parent touched it: local CUDA workers are spawned.
    return make_executor(executor or "local", workers=workers, spawn=device.startswith("cuda"))
