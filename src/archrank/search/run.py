"""``search.run``: drive an ask/tell sampler against an oracle, with zero-cost warmup and move proposal,
cost accounting, persistence and resume.

Cost accounting: each query's cumulative cost is the previous one plus the query's training seconds (from the
oracle) plus every proxy second spent since the previous query (warmup scoring is charged to the first query,
move-proposal scoring to the query it led to). A scorer charges each architecture once (it caches); a scorer the
caller gives is forked, so each run is charged for what it scores, also what an earlier run computed.

Fidelities: an oracle may train at several fidelities (:attr:`Oracle.fidelities`, cheapest first). A plain
sampler trains everything at ``fidelity`` (default: the most faithful); a multi-fidelity policy (EcoNAS's
hierarchy) chooses the fidelity of each query. The search returns the best architecture at the highest
fidelity it reached. ``max_cost`` stops a search once its cumulative cost reaches it (equal-compute
comparisons); ``budget`` counts queries at any fidelity.

Repeats: an architecture already trained (at that fidelity) is not trained again; the sampler is told its
known accuracy and the proposal costs nothing and does not count toward the budget. After ``max_repeats``
consecutive repeats the search stops (e.g. a converged controller), and so it does once every architecture of
the space is trained.

Resume: with ``store=PATH`` every query is committed as one trial of the run (``run_name``, ``seed``) in the
results store (:class:`~archrank.search.history.HistoryDB`; another :class:`Recorder` may be given, e.g. DPS
records its steps as DPS runs). Running again with the same arguments replays the recorded queries into a fresh
sampler (which, being seeded, proposes the same architectures) without calling the oracle, then continues; the
result equals an uninterrupted run. A different setup under the same run name (algorithm, its parameters,
guidance, the oracle's columns, costs and fidelities) is refused. Two processes running the same search on one
store both finish: the second one's identical steps are no-ops.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from archrank.executors import Executor
from archrank.search.guidance import MoveProposal, Warmup
from archrank.search.history import History, HistoryDB
from archrank.search.oracles import Oracle, OracleResult, TrainingOracle
from archrank.search.proxy import MeanRankScorer, ProxyScorer, proxy_parts, resolve_scorer
from archrank.search.samplers import ALGORITHMS, Sampler
from archrank.spaces.base import SearchSpace
from archrank.store import Store

DEFAULT_MOVE_RANDOM_PROB = 0.1
DEFAULT_MAX_REPEATS = 1000


def parse_warmup(warmup: str | tuple[str, int] | None) -> tuple[str, int] | None:
    """``("synflow", 3000)`` or ``"synflow:3000"`` -> ``("synflow", 3000)``; ``None`` stays ``None``."""
    if warmup is None:
        return None
    if isinstance(warmup, str):
        name, sep, n = warmup.rpartition(":")
        if not sep or not name:
            raise ValueError(f"warmup must be PROXY:N (e.g. synflow:3000), got {warmup!r}")
        warmup = (name, n)
    try:
        name, n = warmup
        n = int(n)
    except (TypeError, ValueError):
        raise ValueError(f"warmup must be (proxy, n) or 'proxy:n', got {warmup!r}") from None
    if n < 1:
        raise ValueError(f"warmup pool size must be at least 1, got {n}")
    return str(name), n


def default_run_name(space: SearchSpace, algorithm: str, warmup: tuple[str, int] | None, move: str | None) -> str:
    name = f"{space.name}-{algorithm}"
    if warmup is not None:
        name += f"-warmup:{warmup[0]}:{warmup[1]}"
    if move is not None:
        name += f"-move:{move}"
    return name


def _sampler_class(algorithm: str | type[Sampler]) -> type[Sampler]:
    if isinstance(algorithm, type) and issubclass(algorithm, Sampler):
        return algorithm
    try:
        return ALGORITHMS[str(algorithm)]
    except KeyError:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {', '.join(ALGORITHMS)}") from None


@runtime_checkable
class Recorder(Protocol):
    """Where a search's queries are recorded and replayed from (:class:`HistoryDB` is the default)."""

    def start(self, run_name: str, seed: int, space: str, algorithm: str, config: dict[str, Any]) -> int:
        """Register the run, or check that a recorded run of that name has the same setup."""
        ...

    def queries(self, run_name: str, seed: int) -> pd.DataFrame:
        """Recorded queries in step order (columns ``arch_key, valid, test, cost_s, proxy_s, cumulative_cost_s,
        fidelity``)."""
        ...

    def record(self, run_name: str, seed: int, step: int, key: str, valid: float, test: float, cost_s: float,
               proxy_s: float, cumulative_cost_s: float, fidelity: str | None = None) -> bool:
        """Record one query; ``False`` when that step was recorded already (by a twin process)."""
        ...

    def finish(self, run_name: str, seed: int, status: str = "done") -> None:
        """Mark the run ended."""
        ...


def _open_db(store: Any) -> tuple[Recorder | None, Any, bool]:
    """(recorder, what proxy lookups should read, whether we own the recorder)."""
    if store is None:
        return None, None, False
    if isinstance(store, HistoryDB):
        return store, store.store, False
    if isinstance(store, Recorder):  # its own records; proxy scores come from its results store, if it has one
        inner = getattr(store, "store", None)
        return store, inner if isinstance(inner, Store) else None, False
    if isinstance(store, Store):
        return HistoryDB(store), store, True
    if str(store) == ":memory:":
        raise ValueError("search history needs a store file or an open Store; ':memory:' would not be shared")
    db = HistoryDB(Path(store))
    return db, db.store, True  # proxy scores go through the same open store, closed with it


class _Scorers:
    """One scorer per proxy name, shared by warmup and move so that each architecture is paid for once.

    A scorer the caller gives is forked (one fork per given scorer): the run reuses what it already computed but
    is charged only for what this run scores, whatever earlier runs spent on it."""

    def __init__(self, space: SearchSpace, oracle: Oracle, store: Any,
                 given: ProxyScorer | Mapping[str, ProxyScorer] | None, table_seconds: float,
                 live_kwargs: dict[str, Any]) -> None:
        self.space, self.oracle, self.store, self.given = space, oracle, store, given
        self.table_seconds, self.live_kwargs = table_seconds, live_kwargs
        self.by_name: dict[str, ProxyScorer] = {}
        self._forks: dict[int, ProxyScorer] = {}

    def _fork(self, given: ProxyScorer) -> ProxyScorer:
        if id(given) not in self._forks:
            self._forks[id(given)] = given.fork()
        return self._forks[id(given)]

    def get(self, name: str) -> ProxyScorer:
        if name not in self.by_name:
            if isinstance(self.given, ProxyScorer):
                scorer = self._fork(self.given)
            elif isinstance(self.given, Mapping) and name in self.given:
                scorer = self._fork(self.given[name])
            elif "+" in name:  # an aggregate shares its members with every other use of them (warmup a+b, move a)
                parts = proxy_parts(name)
                scorer = MeanRankScorer(self.space, [self.get(p) for p in parts], name="+".join(parts))
            else:
                scorer = resolve_scorer(name, self.space, self.oracle, self.store, self.table_seconds,
                                        **self.live_kwargs)
            self.by_name[name] = scorer
        return self.by_name[name]

    def seconds(self) -> float:
        return sum(s.seconds for s in _leaves(self.by_name.values()))

    def describe(self) -> dict[str, str]:
        """Proxy name -> scorer class (of the first scorer of a chain of forks)."""
        return {name: type(_origin(s)).__name__ for name, s in self.by_name.items()}


def _leaves(scorers: Iterable[ProxyScorer]) -> list[ProxyScorer]:
    """The scorers that compute, each once: an aggregate's members in its place (they pay; it only sums them),
    a scorer used under several names or inside several aggregates counted once."""
    unique: dict[int, ProxyScorer] = {}
    for scorer in scorers:
        for leaf in _leaves(scorer.members) if isinstance(scorer, MeanRankScorer) else [scorer]:
            unique[id(leaf)] = leaf
    return list(unique.values())


def _origin(scorer: ProxyScorer) -> ProxyScorer:
    """The scorer a (chain of) fork(s) computes through; ``scorer`` itself when it is no fork."""
    while isinstance(getattr(scorer, "parent", None), ProxyScorer):
        scorer = scorer.parent  # type: ignore[attr-defined]
    return scorer


def run(
    space: SearchSpace,
    algorithm: str | type[Sampler] = "rea",
    oracle: Oracle | Callable[..., Any] | None = None,
    budget: int = 300,
    warmup: tuple[str, int] | str | None = None,
    move: str | None = None,
    seed: int = 0,
    proxy_scorer: ProxyScorer | Mapping[str, ProxyScorer] | None = None,
    move_random_prob: float = DEFAULT_MOVE_RANDOM_PROB,
    store: Any = None,
    run_name: str | None = None,
    progress: bool = False,
    until: Callable[[History], bool] | None = None,
    max_repeats: int = DEFAULT_MAX_REPEATS,
    table_seconds: float = 0.0,
    live_kwargs: dict[str, Any] | None = None,
    fidelity: int | str | None = None,
    max_cost: float | None = None,
    **algo_kwargs: Any,
) -> History:
    """Search ``space`` with ``algorithm`` until ``budget`` architectures are trained; returns the History.

    ``algorithm``: ``"random"``, ``"rea"``, ``"reinforce"``, ``"predictor"`` or a :class:`Sampler` subclass;
    ``algo_kwargs`` go to its constructor. ``oracle``: a :class:`TableOracle`, a :class:`TrainingOracle` or a
    plain callable ``arch -> (valid, test[, seconds])``. ``warmup=(proxy, n)`` scores ``n`` random architectures
    and seeds the algorithm with the best; ``move=proxy`` turns on proxy-guided mutation (random neighbour with
    probability ``move_random_prob``). Proxy scores come from ``proxy_scorer`` (one scorer for every name, or a
    mapping name -> scorer) or else from :func:`~archrank.search.proxy.resolve_scorer`: the oracle's table
    column (``table_seconds`` charged per architecture), then ``store``'s scores, then the live engine
    (``live_kwargs`` to :class:`~archrank.search.proxy.LiveScorer`). ``store``: path of the results file (or a
    ``Store``/``HistoryDB``) where the queries are recorded and from which an interrupted run resumes.
    ``until(history)`` stops the search early when it returns True (checked after each query).
    ``fidelity``: the oracle fidelity a plain sampler trains at (default: the most faithful); a multi-fidelity
    policy chooses its own. ``max_cost``: stop once the cumulative cost (seconds) reaches it.
    """
    if oracle is None:
        raise ValueError("search.run needs an oracle (e.g. TableOracle.from_csv(...))")
    if not isinstance(oracle, Oracle):
        oracle = TrainingOracle(oracle)
    oracle = oracle.bind(space)
    if budget < 0:
        raise ValueError(f"budget must be >= 0, got {budget}")
    cls = _sampler_class(algorithm)
    warm_spec = parse_warmup(warmup)
    if move is not None and not cls.supports_move:
        raise ValueError(f"{cls.name} has no mutation step, so move proposal does not apply to it")

    level = oracle.level(fidelity)
    if cls.multi_fidelity:
        algo_kwargs = {"levels": len(oracle.fidelities), **algo_kwargs}
    master = random.Random(seed)
    warm_rng, sampler_rng = random.Random(master.getrandbits(64)), random.Random(master.getrandbits(64))
    db, proxy_store, own_db = _open_db(store)
    try:
        scorers = _Scorers(space, oracle, proxy_store, proxy_scorer, table_seconds, dict(live_kwargs or {}))
        warm = None
        if warm_spec is not None:
            warm = Warmup.compute(space, scorers.get(warm_spec[0]), warm_spec[1], warm_rng)
        mover = MoveProposal(space, scorers.get(move), move_random_prob) if move is not None else None
        sampler = cls(space, seed=sampler_rng, warmup=warm, move=mover, **algo_kwargs)
        config = _setup(cls, sampler, oracle, warm_spec, move, move_random_prob, table_seconds, level)
        name = run_name or default_run_name(space, cls.name, warm_spec, move)
        hist = History(space.name, cls.name, seed, name, config, scorers=scorers.describe(),
                       fidelities=tuple(oracle.fidelities))
        recorded = None
        if db is not None:
            db.start(name, seed, space.name, cls.name, config)
            recorded = db.queries(name, seed)
        _drive(space, sampler, oracle, _Limits(budget, max_cost, until, max_repeats, level), hist, scorers, db,
               recorded, progress)
        if db is not None:
            db.finish(name, seed)
        return hist
    finally:
        if db is not None and own_db:
            db.close()


def _setup(cls: type[Sampler], sampler: Sampler, oracle: Oracle, warm_spec: tuple[str, int] | None, move: str | None,
           move_random_prob: float, table_seconds: float, level: int) -> dict[str, Any]:
    """What defines a search run's answers (recorded with it; a resume must match it)."""
    config = {
        "algorithm": cls.name, "params": sampler.config(), "warmup": list(warm_spec) if warm_spec else None,
        "move": move, "move_random_prob": move_random_prob if move is not None else None,
        "table_seconds": table_seconds, "oracle": oracle.describe(),
    }
    if len(oracle.fidelities) > 1 and not cls.multi_fidelity:
        config["fidelity"] = oracle.fidelities[level]
    return config


def search_config(space: SearchSpace, algorithm: str | type[Sampler], oracle: Oracle,
                  warmup: tuple[str, int] | str | None = None, move: str | None = None,
                  move_random_prob: float = DEFAULT_MOVE_RANDOM_PROB, table_seconds: float = 0.0,
                  fidelity: int | str | None = None, **algo_kwargs: Any) -> dict[str, Any]:
    """The setup :func:`run` records for these arguments, without scoring or training anything (the sampler's
    hyper-parameters do not depend on its seed or guidance); lets a driver check a stored run before resuming it."""
    cls = _sampler_class(algorithm)
    oracle = oracle.bind(space)
    level = oracle.level(fidelity)
    if cls.multi_fidelity:
        algo_kwargs = {"levels": len(oracle.fidelities), **algo_kwargs}
    sampler = cls(space, seed=random.Random(0), warmup=None, move=None, **algo_kwargs)
    return _setup(cls, sampler, oracle, parse_warmup(warmup), move, move_random_prob, table_seconds, level)


class _Limits:
    """When a search stops, and the fidelity a plain sampler trains at."""

    def __init__(self, budget: int, max_cost: float | None, until: Callable[[History], bool] | None,
                 max_repeats: int, level: int) -> None:
        if max_cost is not None and not max_cost > 0:
            raise ValueError(f"max_cost must be a positive number of seconds, got {max_cost}")
        self.budget, self.max_cost, self.until = budget, max_cost, until
        self.max_repeats, self.level = max_repeats, level

    def reached(self, hist: History) -> bool:
        if len(hist) >= self.budget:
            return True
        return self.max_cost is not None and hist.total_cost_s >= self.max_cost


def _number(value: Any) -> float:
    return math.nan if value is None or pd.isna(value) else float(value)


def _drive(space: SearchSpace, sampler: Sampler, oracle: Oracle, limits: _Limits, hist: History, scorers: _Scorers,
           db: Recorder | None, recorded: Any, progress: bool) -> None:
    from tqdm.auto import tqdm

    trained: dict[tuple[str, int], OracleResult] = {}
    charged, cumulative, repeats = 0.0, 0.0, 0
    n_recorded = 0 if recorded is None else len(recorded)
    space_size = space.size
    multi = len(oracle.fidelities) > 1
    bar = tqdm(total=limits.budget, desc=hist.run_name, unit="arch", disable=not progress, leave=False)
    try:
        while not limits.reached(hist):
            if space_size is not None and len(trained) >= space_size * len(oracle.fidelities):
                hist.stopped = "every architecture of the space is trained"
                break
            arch, chosen = sampler.propose()
            level = limits.level if chosen is None else chosen
            key = space.key(arch)
            if (key, level) in trained:
                sampler.tell(arch, trained[key, level].valid, chosen)
                repeats += 1
                if repeats >= limits.max_repeats:
                    hist.stopped = f"{limits.max_repeats} proposals in a row were already trained"
                    break
                continue
            repeats = 0
            spent, charged = scorers.seconds() - charged, scorers.seconds()
            step = len(hist)
            fidelity = oracle.fidelities[level] if multi else None
            if step < n_recorded:
                row = recorded.iloc[step]
                was = row.get("fidelity") if "fidelity" in row.index else None
                was = None if was is None or pd.isna(was) else str(was)
                if row["arch_key"] != key or was != fidelity:
                    raise RuntimeError(
                        f"cannot resume {hist.run_name!r} seed {hist.seed}: step {step + 1} was {row['arch_key']}"
                        f"{f' at {was}' if was else ''} but the sampler now proposes {key}"
                        f"{f' at {fidelity}' if fidelity else ''} (the setup or the code changed; use a new run name)"
                    )
                result = OracleResult(_number(row["valid"]), _number(row["test"]), float(row["cost_s"]))
                proxy_s, cumulative = float(row["proxy_s"]), float(row["cumulative_cost_s"])
                hist.resumed += 1
            else:
                result = oracle.query(arch, level) if multi else oracle.query(arch)
                proxy_s = spent
                cumulative += result.cost_s + proxy_s
                if db is not None:
                    db.record(hist.run_name or "", hist.seed, step, key, result.valid, result.test, result.cost_s,
                              proxy_s, cumulative, fidelity)
            trained[key, level] = result
            hist.append(arch, key, result.valid, result.test, result.cost_s, proxy_s, cumulative, level)
            sampler.tell(arch, result.valid, chosen)
            if progress:
                best = hist.best()
                bar.set_postfix(valid=f"{best.valid:.2f}", test=f"{best.test:.2f}", refresh=False)
                bar.update(1)
            if limits.until is not None and limits.until(hist):
                hist.stopped = "until"
                break
    finally:
        bar.close()


def run_many(space: SearchSpace, seeds: Sequence[int], *, executor: Executor | None = None,
             **kwargs: Any) -> list[History]:
    """``run`` once per seed with the same arguments; the histories in the order of ``seeds``.

    ``executor`` (e.g. ``make_executor("ray", address="auto")`` or ``make_executor("local", workers=4)``) runs
    the seeds as parallel tasks; this process alone writes ``store``, and the trajectories equal the sequential
    ones (:mod:`archrank.search.parallel`). ``None``: one seed after the other in this process.
    """
    if executor is None:
        return [run(space, seed=s, **kwargs) for s in seeds]
    from archrank.search.parallel import run_on_executor

    return run_on_executor(executor, space, seeds, **kwargs)
