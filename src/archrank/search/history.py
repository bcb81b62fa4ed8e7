"""Search trajectories: the in-memory :class:`History` and its SQLite persistence (:class:`HistoryDB`).

``HistoryDB`` is the search's view of the one results store (:mod:`archrank.store`): each (run name, seed) is one
``runs`` row of kind ``search`` (its setup as the run's config) and each trained architecture one ``trials`` row
(arch key, valid, test, training seconds, proxy seconds spent since the previous query, cumulative cost).

Each query is committed as it happens, so an interrupted search loses nothing and ``search.run`` resumes it
by replaying the recorded queries into a fresh sampler.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from archrank.spaces.base import Arch
from archrank.store import StoreError
from archrank.store.view import StoreView


class Query(NamedTuple):
    """One trained architecture, in query order: ``arch, valid_acc, test_acc, cumulative_cost_s``."""

    arch: Arch
    valid: float
    test: float
    cumulative_cost_s: float


@dataclass
class History:
    """The trajectory of one search: ``queries`` plus per-query training and proxy seconds."""

    space: str
    algorithm: str
    seed: int
    run_name: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    scorers: dict[str, str] = field(default_factory=dict)
    queries: list[Query] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    train_seconds: list[float] = field(default_factory=list)
    proxy_seconds: list[float] = field(default_factory=list)
    resumed: int = 0
    stopped: str = ""
    fidelities: tuple[str, ...] = ("full",)
    levels: list[int] = field(default_factory=list)

    def append(self, arch: Arch, key: str, valid: float, test: float, cost_s: float, proxy_s: float,
               cumulative_cost_s: float, level: int | None = None) -> Query:
        """Add one query; ``level`` indexes :attr:`fidelities` (default: the last, most faithful one)."""
        query = Query(arch, float(valid), float(test), float(cumulative_cost_s))
        self.queries.append(query)
        self.keys.append(key)
        self.train_seconds.append(float(cost_s))
        self.proxy_seconds.append(float(proxy_s))
        self.levels.append(len(self.fidelities) - 1 if level is None else int(level))
        return query

    def _rank(self, i: int) -> tuple[int, float]:
        """What the search returns is judged by: the fidelity level first, then the validation value (NaN last)."""
        valid = self.queries[i].valid
        return self.levels[i], (-np.inf if np.isnan(valid) else valid)

    def __len__(self) -> int:
        return len(self.queries)

    # --- summaries -----------------------------------------------------------------------------------
    @property
    def total_cost_s(self) -> float:
        return self.queries[-1].cumulative_cost_s if self.queries else 0.0

    def best_index(self) -> int:
        """Index of what the search returns: the best validation value (NaN last) among the queries at the
        highest fidelity reached (the first one on ties)."""
        if not self.queries:
            raise ValueError("empty history")
        best = 0
        for i in range(1, len(self.queries)):
            if self._rank(i) > self._rank(best):
                best = i
        return best

    def best(self) -> Query:
        """The query with the best validation accuracy at the highest fidelity reached (the first one on ties):
        what the search returns."""
        return self.queries[self.best_index()]

    def incumbent(self) -> tuple[np.ndarray, np.ndarray]:
        """After each query: validation and test accuracy of what the search would return so far."""
        valid = np.array([q.valid for q in self.queries], dtype=float)
        test = np.array([q.test for q in self.queries], dtype=float)
        out_v, out_t = np.empty_like(valid), np.empty_like(test)
        best = -1
        for i in range(len(valid)):
            if best < 0 or self._rank(i) > self._rank(best):
                best = i
            out_v[i], out_t[i] = valid[best], test[best]
        return out_v, out_t

    def first_reach(self, threshold: float, incumbent: bool = True) -> int | None:
        """1-based number of trained architectures until the test accuracy reaches ``threshold``: of the
        incumbent chosen by validation (default), or of any queried architecture; ``None`` if never."""
        test = self.incumbent()[1] if incumbent else np.array([q.test for q in self.queries])
        hits = np.flatnonzero(test >= threshold)
        return int(hits[0]) + 1 if hits.size else None

    def to_frame(self) -> pd.DataFrame:
        inc_v, inc_t = self.incumbent() if self.queries else (np.array([]), np.array([]))
        return pd.DataFrame({
            "run_name": self.run_name, "algorithm": self.algorithm, "seed": self.seed,
            "step": np.arange(1, len(self.queries) + 1), "arch": self.keys,
            "valid": [q.valid for q in self.queries], "test": [q.test for q in self.queries],
            "cost_s": self.train_seconds, "proxy_s": self.proxy_seconds,
            "cumulative_cost_s": [q.cumulative_cost_s for q in self.queries],
            "fidelity": [self.fidelities[level] for level in self.levels],
            "incumbent_valid": inc_v, "incumbent_test": inc_t,
        })

    def summary(self) -> str:
        if not self.queries:
            return f"{self.run_name or self.algorithm} seed {self.seed}: no queries"
        index = self.best_index()
        best, key = self.queries[index], self.keys[index]
        return (
            f"{self.run_name or self.algorithm} seed {self.seed}: {len(self)} trained, "
            f"cost {self.total_cost_s / 3600:.2f} h (proxies {sum(self.proxy_seconds):.1f} s); best by valid "
            f"{best.valid:.2f} (test {best.test:.2f}) {key}"
        )


def _json_number(value: float) -> float | None:
    """NaN is stored as JSON null (NaN is not JSON, and NaN != NaN would make a repeated step look different)."""
    return None if value is None or np.isnan(value) else float(value)


def search_run_name(run_name: str, seed: int) -> str:
    """The store's name of one seed of a named search (``runs.name`` of kind ``search``)."""
    return f"{run_name}#seed={seed}"


# Payload keys that identify a query; the measured seconds of proxies (and so the cumulative cost) may differ
# between two processes running the same search and are not compared.
_QUERY_IDENTITY = ("arch_key", "valid", "test", "cost_s", "fidelity")


class HistoryDB(StoreView):
    """Search trajectories in a results store (a path or an open :class:`~archrank.store.Store`): each seed of a
    named search is one ``runs`` row (kind ``search``) and each trained architecture one ``trials`` row."""

    def start(self, run_name: str, seed: int, space: str, algorithm: str, config: dict[str, Any]) -> int:
        """Register a run, or resume it after checking it was recorded with the same space, algorithm and config."""
        setup = {"run_name": run_name, "seed": seed, "space": space, "algorithm": algorithm,
                 "config": json.loads(json.dumps(config, sort_keys=True, default=str))}
        try:
            run_id, _ = self.store.resume_run("search", search_run_name(run_name, seed), setup, space=space)
        except StoreError as exc:
            raise ValueError(
                f"search run {run_name!r} seed {seed} was recorded with a different setup ({exc}); use another "
                "run name"
            ) from None
        return run_id

    def _run_id(self, run_name: str, seed: int) -> int | None:
        return self.store.find_run("search", search_run_name(run_name, seed))

    def record(self, run_name: str, seed: int, step: int, key: str, valid: float, test: float, cost_s: float,
               proxy_s: float, cumulative_cost_s: float, fidelity: str | None = None) -> bool:
        """Record one query (``fidelity``: its name, ``None`` for a single-fidelity oracle); ``False`` when
        another process running the same search recorded it already."""
        run_id = self._run_id(run_name, seed)
        if run_id is None:
            raise KeyError(f"search run {run_name!r} seed {seed} is not started in {self.path}")
        payload = {"arch_key": key, "valid": _json_number(valid), "test": _json_number(test), "cost_s": cost_s,
                   "proxy_s": proxy_s,
                   "cumulative_cost_s": cumulative_cost_s}
        if fidelity is not None:
            payload["fidelity"] = fidelity
        return self.store.put_trial(run_id, step, payload, valid, identity=_QUERY_IDENTITY)

    def finish(self, run_name: str, seed: int, status: str = "done") -> None:
        run_id = self._run_id(run_name, seed)
        if run_id is not None:
            self.store.finish_run(run_id, status)

    def queries(self, run_name: str, seed: int) -> pd.DataFrame:
        """Recorded queries of one run, in step order."""
        run_id = self._run_id(run_name, seed)
        trials = self.store.trials(run_id) if run_id is not None else []
        return pd.DataFrame.from_records(trials, columns=["step", *_QUERY_COLUMNS])

    def _search_runs(self, run_names: Sequence[str] | None) -> list[tuple[int, dict[str, Any]]]:
        runs = self.store.runs(kind="search")
        out = []
        for run_id, config in zip(runs["run_id"], runs["config"], strict=True):
            setup = json.loads(config) if config else {}
            if run_names and setup.get("run_name") not in run_names:
                continue
            out.append((int(run_id), setup))
        return out

    def runs(self, run_names: Sequence[str] | None = None) -> pd.DataFrame:
        """Registered runs with their number of recorded queries."""
        rows = [
            {"run_name": s.get("run_name"), "seed": s.get("seed"), "space": s.get("space"),
             "algorithm": s.get("algorithm"), "config": json.dumps(s.get("config", {}), sort_keys=True),
             "queries": len(self.store.trials(run_id))}
            for run_id, s in self._search_runs(run_names)
        ]
        frame = pd.DataFrame(rows, columns=["run_name", "seed", "space", "algorithm", "config", "queries"])
        return frame.sort_values(["run_name", "seed"], kind="stable").reset_index(drop=True)

    def trajectories(self, run_names: Sequence[str] | None = None) -> pd.DataFrame:
        """All recorded queries (of the given runs), one row per query."""
        rows = [
            {"run_name": s.get("run_name"), "seed": s.get("seed"), **{k: t.get(k) for k in ("step", *_QUERY_COLUMNS)}}
            for run_id, s in self._search_runs(run_names)
            for t in self.store.trials(run_id)
        ]
        frame = pd.DataFrame(rows, columns=["run_name", "seed", "step", *_QUERY_COLUMNS])
        return frame.sort_values(["run_name", "seed", "step"], kind="stable").reset_index(drop=True)


_QUERY_COLUMNS = ("arch_key", "valid", "test", "cost_s", "proxy_s", "cumulative_cost_s", "fidelity")
