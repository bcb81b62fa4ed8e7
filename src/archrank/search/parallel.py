"""Several seeds of one search on an executor (issue 15): each seed is one task, run by a local worker process or
on a Ray node, and its queries come back to the driver, which alone writes the store (SQLite has one writer).

A task runs :func:`~archrank.search.run.run` for its seed against a :class:`Transcript` instead of the store: the
queries recorded so far travel with the task and are replayed without calling the oracle, exactly as a
sequential rerun replays them from the store; the new queries are collected and returned. The driver then writes
the seed in one transaction (register or check the run, record the new queries, mark it done), so a run
interrupted at any instant, even by ``kill -9``, resumes like the sequential one: a seed that was finished is read
back from the store and not resubmitted, any other one replays what it had recorded and goes on; a seed the
store holds with another setup is refused before anything runs (as the sequential run refuses it). The unit of
work, and of what a crash of the driver loses, is one seed.

Proxy scores (warmup, move proposal): each task gets the stored scores of the search's proxies in an in-memory
store, so it reuses them as a sequential run reuses the store's; the scores it computes come back with its
queries and the driver stores them. Seeds running at the same time do not share scores they compute meanwhile
(each charges its own proxy seconds, as every seed does sequentially too). Trajectories equal the sequential
run's: each seed's sampler, oracle answers and proxy values are the same, wherever the seed runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from archrank.executors import Executor
from archrank.runner import torch_threads
from archrank.search.history import History, HistoryDB, search_run_name
from archrank.search.oracles import Oracle, TrainingOracle
from archrank.search.proxy import ProxyScorer, resolve_scorer
from archrank.search.run import _open_db, _sampler_class, default_run_name, parse_warmup, run, search_config
from archrank.spaces.base import SearchSpace
from archrank.store import ScoreRow, Store

_RUN_ONLY = ("until", "max_repeats")
"""Keywords of :func:`~archrank.search.run.run` that are not part of a search's recorded setup."""

SEARCH_THREADS = 1
"""Intra-op torch threads of a seed on a worker (live proxies, training oracles): parallelism comes from seeds."""


@dataclass(frozen=True)
class SeedJob:
    """What every seed task shares (sent to the workers once): the search's setup, and the stored scores of its
    proxies with the configurations behind them."""

    space: SearchSpace
    oracle: Oracle
    run_name: str
    run_kwargs: Mapping[str, Any]
    proxies: tuple[str, ...]
    table_seconds: float
    live_kwargs: Mapping[str, Any]
    proxy_scorer: ProxyScorer | Mapping[str, ProxyScorer] | None
    scores: tuple[ScoreRow, ...] = ()
    configs: tuple[tuple[str, str, Mapping[str, Any]], ...] = ()


@dataclass(frozen=True)
class SeedTask:
    """One seed to run, with the queries recorded so far (replayed, not asked again)."""

    seed: int
    recorded: pd.DataFrame


@dataclass
class SeedResult:
    """What a seed task hands back: its trajectory, the run it registered, its new queries and proxy scores."""

    history: History
    started: tuple[Any, ...]
    queries: list[dict[str, Any]]
    status: str
    scores: list[ScoreRow] = field(default_factory=list)
    configs: list[tuple[str, str, Mapping[str, Any]]] = field(default_factory=list)


def search_setup(run_name: str, seed: int, space: str, algorithm: str, config: Mapping[str, Any]) -> str:
    """The setup of one seed as :meth:`HistoryDB.start` records it, in a canonical JSON form for comparisons."""
    setup = {"run_name": run_name, "seed": seed, "space": space, "algorithm": algorithm,
             "config": json.loads(json.dumps(config, sort_keys=True, default=str))}
    return json.dumps(setup, sort_keys=True, default=str)


class Transcript:
    """A :class:`~archrank.search.run.Recorder` in memory, on a worker: replays the recorded queries of a seed and
    collects the new ones for the driver to write."""

    def __init__(self, task: SeedTask) -> None:
        self.task = task
        self.started: tuple[Any, ...] = ()
        self.new: list[dict[str, Any]] = []
        self.status = "running"

    def start(self, run_name: str, seed: int, space: str, algorithm: str, config: dict[str, Any]) -> int:
        """Note the run (the driver registers it, and checked its setup before submitting it)."""
        self.started = (run_name, seed, space, algorithm, config)
        return 0

    def queries(self, run_name: str, seed: int) -> pd.DataFrame:
        return self.task.recorded

    def record(self, run_name: str, seed: int, step: int, key: str, valid: float, test: float, cost_s: float,
               proxy_s: float, cumulative_cost_s: float, fidelity: str | None = None) -> bool:
        self.new.append({"step": step, "key": key, "valid": valid, "test": test, "cost_s": cost_s,
                         "proxy_s": proxy_s, "cumulative_cost_s": cumulative_cost_s, "fidelity": fidelity})
        return True

    def finish(self, run_name: str, seed: int, status: str = "done") -> None:
        self.status = status


def search_seeds(job: SeedJob, tasks: list[SeedTask]) -> list[SeedResult]:
    """A task (runs on a worker): search each seed of ``tasks``; scores go to an in-memory store, never the file."""
    results = []
    with Store(":memory:") as scratch, torch_threads(SEARCH_THREADS):
        for config_hash, proxy, config in job.configs:
            scratch.put_config(config_hash, proxy, config)
        scratch.put_scores(job.scores)
        known = _identities(job.scores)
        given = job.proxy_scorer
        if given is None:
            given = {p: resolve_scorer(p, job.space, job.oracle, scratch, job.table_seconds, **job.live_kwargs)
                     for p in job.proxies}
        for task in tasks:
            transcript = Transcript(task)
            history = run(job.space, oracle=job.oracle, seed=task.seed, proxy_scorer=given, store=transcript,
                          run_name=job.run_name, progress=False, table_seconds=job.table_seconds,
                          live_kwargs=dict(job.live_kwargs), **job.run_kwargs)
            results.append(SeedResult(history, transcript.started, transcript.new, transcript.status))
        if results:  # the scores this task computed, handed back with its last seed
            rows = _score_rows(scratch.scores(space=job.space.name, proxies=_parts(job.proxies)))
            results[-1].scores = [r for r in rows if known.get(_identity(r)) != (r.status, r.score, r.seconds)]
            results[-1].configs = _configs(scratch, results[-1].scores)
    return results


def run_on_executor(
    executor: Executor,
    space: SearchSpace,
    seeds: Sequence[int],
    *,
    algorithm: Any = "rea",
    oracle: Oracle | Any = None,
    store: Any = None,
    run_name: str | None = None,
    progress: bool = False,
    warmup: tuple[str, int] | str | None = None,
    move: str | None = None,
    proxy_scorer: ProxyScorer | Mapping[str, ProxyScorer] | None = None,
    table_seconds: float = 0.0,
    live_kwargs: dict[str, Any] | None = None,
    budget: int = 300,
    max_cost: float | None = None,
    **kwargs: Any,
) -> list[History]:
    """:func:`~archrank.search.run.run` for each of ``seeds`` as parallel tasks on ``executor``; the histories in
    the order of ``seeds``. ``store`` (a path, ``Store`` or ``HistoryDB``) is written by this process only.

    Seeds the store holds as finished (done, budget or ``max_cost`` reached) are read back, not run again. A seed
    whose task fails after the executor's retries, or that the store holds with another setup, is reported at the
    end in one ``RuntimeError`` after the others are stored. Other arguments are those of ``run``; callables
    (``until``, a ``proxy_scorer``) must be picklable, and a given ``proxy_scorer`` must not write to a store (it
    runs on the workers; scorers resolved by name do not).
    """
    if oracle is None:
        raise ValueError("search.run needs an oracle (e.g. TableOracle.from_csv(...))")
    if not isinstance(oracle, Oracle):
        oracle = TrainingOracle(oracle)
    oracle = oracle.bind(space)
    cls = _sampler_class(algorithm)
    warm = parse_warmup(warmup)
    name = run_name or default_run_name(space, cls.name, warm, move)
    proxies = tuple(dict.fromkeys(p for p in (warm[0] if warm else None, move) if p is not None))
    run_kwargs = {"algorithm": algorithm, "budget": budget, "warmup": warm, "move": move, "max_cost": max_cost,
                  **kwargs}
    db, _, own_db = _open_db(store)
    if db is not None and not isinstance(db, HistoryDB):
        raise ValueError("seeds on an executor record into a results store (a path, Store or HistoryDB), "
                         f"not {type(db).__name__}")
    try:
        algo_kwargs = {k: v for k, v in kwargs.items() if k not in _RUN_ONLY}
        setup = search_config(space, cls, oracle, warm, move, table_seconds=table_seconds, **algo_kwargs)
        done, tasks, refused = _plan(db, space, oracle, name, seeds, budget, max_cost,
                                     search_setup(name, 0, space.name, cls.name, setup))
        scores, configs = _stored_scores(db, space, proxies) if db is not None else ((), ())
        job = SeedJob(space, oracle, name, run_kwargs, proxies, table_seconds, dict(live_kwargs or {}),
                      proxy_scorer, scores, configs)
        failures = {**refused, **_collect(executor, job, tasks, db, done, progress, len(seeds))}
    finally:
        if db is not None and own_db:
            db.close()
    if failures:
        raise RuntimeError(f"{len(failures)} of {len(seeds)} seeds of {name!r} failed (the others are stored): "
                           + "; ".join(f"seed {s}: {why}" for s, why in sorted(failures.items())))
    return [done[s] for s in seeds]


def _plan(db: HistoryDB | None, space: SearchSpace, oracle: Oracle, name: str, seeds: Sequence[int], budget: int,
          max_cost: float | None, setup: str) -> tuple[dict[int, History], list[SeedTask], dict[int, str]]:
    """Finished seeds (read back from the store), the tasks of the others with what they had recorded, and the
    seeds refused because the store holds them with a setup other than ``setup`` (:func:`search_setup`, seed 0)."""
    done: dict[int, History] = {}
    tasks, refused = [], {}
    for seed in dict.fromkeys(seeds):
        run_id = db.store.find_run("search", search_run_name(name, seed)) if db is not None else None
        if db is None or run_id is None:
            tasks.append(SeedTask(seed, pd.DataFrame(columns=_QUERY_FRAME)))
            continue
        record = db.store.run(run_id)
        if json.dumps({**record["config"], "seed": 0}, sort_keys=True, default=str) != setup:
            refused[seed] = f"search run {name!r} seed {seed} was recorded with a different setup; use another run name"
            continue
        recorded = db.queries(name, seed)
        if record["status"] == "done" and _limits_reached(recorded, budget, max_cost):
            done[seed] = _history_from_store(space, oracle, record["config"], recorded)
        else:
            tasks.append(SeedTask(seed, recorded))
    return done, tasks, refused


def _limits_reached(recorded: pd.DataFrame, budget: int, max_cost: float | None) -> bool:
    if len(recorded) >= budget:
        return True
    return max_cost is not None and not recorded.empty and float(recorded["cumulative_cost_s"].iloc[-1]) >= max_cost


def _history_from_store(space: SearchSpace, oracle: Oracle, setup: Mapping[str, Any],
                        recorded: pd.DataFrame) -> History:
    """The History a sequential rerun of a finished seed returns: every query replayed from the store."""
    hist = History(space.name, str(setup["algorithm"]), int(setup["seed"]), str(setup["run_name"]),
                   dict(setup.get("config") or {}), fidelities=tuple(oracle.fidelities))
    for row in recorded.itertuples(index=False):
        fidelity = getattr(row, "fidelity", None)
        level = None if fidelity is None or pd.isna(fidelity) else oracle.level(str(fidelity))
        hist.append(space.from_key(row.arch_key), row.arch_key, _number(row.valid), _number(row.test),
                    float(row.cost_s), float(row.proxy_s), float(row.cumulative_cost_s), level)
    hist.resumed = len(recorded)
    return hist


def _collect(executor: Executor, job: SeedJob, tasks: list[SeedTask], db: HistoryDB | None,
             done: dict[int, History], progress: bool, total: int) -> dict[int, str]:
    """Run the tasks; write each finished seed in one transaction; the failed seeds with their reasons."""
    from tqdm.auto import tqdm

    failures: dict[int, str] = {}
    bar = tqdm(total=total, initial=len(done), desc=job.run_name, unit="seed", disable=not progress)
    try:
        for outcome in executor.map(search_seeds, job, tasks, chunk_size=1):
            if not outcome.ok:
                failures.update((task.seed, str(outcome.error)) for task in outcome.items)
            for result in outcome.value or []:
                try:
                    if db is not None:
                        _write(db, result)
                    done[result.history.seed] = result.history
                except ValueError as exc:  # the store holds this seed with another setup
                    failures[result.history.seed] = str(exc)
            bar.set_postfix(failed=len(failures), refresh=False)
            bar.update(len(outcome.items))
    finally:
        bar.close()
    return failures


def _write(db: HistoryDB, result: SeedResult) -> None:
    """One seed's run, queries and proxy scores, in one transaction (all or nothing)."""
    run_name, seed = result.started[0], result.started[1]
    with db.store.transaction():
        db.start(*result.started)
        for query in result.queries:
            db.record(run_name, seed, **query)
        for config_hash, proxy, config in result.configs:
            db.store.put_config(config_hash, proxy, config)
        db.store.put_scores(result.scores)
        db.finish(run_name, seed, result.status)


def _stored_scores(db: HistoryDB, space: SearchSpace, proxies: Sequence[str]
                   ) -> tuple[tuple[ScoreRow, ...], tuple[tuple[str, str, Mapping[str, Any]], ...]]:
    """The store's scores of ``proxies`` (the parts of ``a+b`` names) in ``space``, with their configurations."""
    names = _parts(proxies)
    if not names:
        return (), ()
    rows = _score_rows(db.store.scores(space=space.name, proxies=names))
    return tuple(rows), tuple(_configs(db.store, rows))


def _configs(store: Store, rows: Sequence[ScoreRow]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """``(config_hash, proxy, config)`` of each configuration behind ``rows`` that ``store`` records."""
    out: dict[str, tuple[str, str, Mapping[str, Any]]] = {}
    for row in rows:
        if row.config_hash not in out:
            config = store.get_config(row.config_hash)
            if config is not None:
                out[row.config_hash] = (row.config_hash, row.proxy, config)
    return list(out.values())


def _parts(proxies: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(p.strip() for name in proxies for p in name.split("+") if p.strip()))


def _score_rows(frame: pd.DataFrame) -> list[ScoreRow]:
    """Rows of :meth:`Store.scores` back as :class:`ScoreRow` (without run ids: they belong to another store)."""
    rows = []
    for r in frame.itertuples(index=False):
        extra = json.loads(r.extra) if isinstance(r.extra, str) and r.extra else None
        rows.append(ScoreRow(space=r.space, arch_key=r.arch_key, proxy=r.proxy, config_hash=r.config_hash,
                             seed=int(r.seed), batch_hash=r.batch_hash, device=r.device,
                             score=None if pd.isna(r.score) else float(r.score),
                             seconds=None if pd.isna(r.seconds) else float(r.seconds), status=r.status,
                             error=None if pd.isna(r.error) else r.error, extra=extra))
    return rows


def _identity(row: ScoreRow) -> tuple[Any, ...]:
    return row.space, row.arch_key, row.proxy, row.config_hash, row.seed, row.batch_hash, row.device


def _identities(rows: Sequence[ScoreRow]) -> dict[tuple[Any, ...], tuple[str, float | None, float | None]]:
    return {_identity(r): (r.status, r.score, r.seconds) for r in rows}


def _number(value: Any) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


_QUERY_FRAME = ["step", "arch_key", "valid", "test", "cost_s", "proxy_s", "cumulative_cost_s", "fidelity"]
