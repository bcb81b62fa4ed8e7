"""Search trajectories: the in-memory :class:`History` and its SQLite persistence (:class:`HistoryDB`).

``HistoryDB`` keeps its own tables in the results file (the store's own tables are left alone), through its
own connection in WAL mode:

- ``search_runs``: one row per (run_name, seed) with the space, algorithm and JSON configuration;
- ``search_queries``: one row per trained architecture: step, arch key, valid, test, training seconds,
  proxy seconds spent since the previous query, and the cumulative cost.

Each query is committed as it happens, so an interrupted search loses nothing and ``search.run`` resumes it
by replaying the recorded queries into a fresh sampler.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from archrank.spaces.base import Arch
from archrank.store import SQLiteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS search_runs (
    run_name TEXT NOT NULL,
    seed INTEGER NOT NULL,
    space TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (run_name, seed)
);
CREATE TABLE IF NOT EXISTS search_queries (
    run_name TEXT NOT NULL,
    seed INTEGER NOT NULL,
    step INTEGER NOT NULL,
    arch_key TEXT NOT NULL,
    valid REAL NOT NULL,
    test REAL NOT NULL,
    cost_s REAL NOT NULL,
    proxy_s REAL NOT NULL,
    cumulative_cost_s REAL NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_name, seed, step)
);
"""


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

    def append(self, arch: Arch, key: str, valid: float, test: float, cost_s: float, proxy_s: float,
               cumulative_cost_s: float) -> Query:
        query = Query(arch, float(valid), float(test), float(cumulative_cost_s))
        self.queries.append(query)
        self.keys.append(key)
        self.train_seconds.append(float(cost_s))
        self.proxy_seconds.append(float(proxy_s))
        return query

    def __len__(self) -> int:
        return len(self.queries)

    # --- summaries -----------------------------------------------------------------------------------
    @property
    def total_cost_s(self) -> float:
        return self.queries[-1].cumulative_cost_s if self.queries else 0.0

    def best(self) -> Query:
        """The query with the best validation accuracy (the first one on ties): what the search returns."""
        if not self.queries:
            raise ValueError("empty history")
        return self.queries[int(np.argmax([q.valid for q in self.queries]))]

    def incumbent(self) -> tuple[np.ndarray, np.ndarray]:
        """After each query: validation and test accuracy of the best-by-validation architecture so far."""
        valid = np.array([q.valid for q in self.queries], dtype=float)
        test = np.array([q.test for q in self.queries], dtype=float)
        out_v, out_t = np.empty_like(valid), np.empty_like(test)
        best = -1
        for i, v in enumerate(valid):
            if best < 0 or v > valid[best]:
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
            "incumbent_valid": inc_v, "incumbent_test": inc_t,
        })

    def summary(self) -> str:
        if not self.queries:
            return f"{self.run_name or self.algorithm} seed {self.seed}: no queries"
        best = self.best()
        key = self.keys[self.queries.index(best)]
        return (
            f"{self.run_name or self.algorithm} seed {self.seed}: {len(self)} trained, "
            f"cost {self.total_cost_s / 3600:.2f} h (proxies {sum(self.proxy_seconds):.1f} s); best by valid "
            f"{best.valid:.2f} (test {best.test:.2f}) {key}"
        )


class HistoryDB(SQLiteFile):
    """Search tables in an SQLite file (the results store's file, or any other); context manager."""

    SCHEMA = _SCHEMA
    KIND = "search history file"

    def start(self, run_name: str, seed: int, space: str, algorithm: str, config: dict[str, Any]) -> None:
        """Register a run; if it exists, check it was recorded with the same space, algorithm and config."""
        blob = json.dumps(config, sort_keys=True, default=str)
        row = self._db.execute(
            "SELECT space, algorithm, config FROM search_runs WHERE run_name=? AND seed=?", (run_name, seed)
        ).fetchone()
        now = time.time()
        if row is None:
            self._db.execute(
                "INSERT INTO search_runs VALUES (?, ?, ?, ?, ?, ?, ?)",
                (run_name, seed, space, algorithm, blob, now, now),
            )
            return
        if (row[0], row[1], row[2]) != (space, algorithm, blob):
            raise ValueError(
                f"search run {run_name!r} seed {seed} was recorded with a different setup "
                f"({row[1]} on {row[0]}, {row[2]}); use another run name"
            )

    def record(self, run_name: str, seed: int, step: int, key: str, valid: float, test: float, cost_s: float,
               proxy_s: float, cumulative_cost_s: float) -> None:
        now = time.time()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO search_queries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_name, seed, step, key, valid, test, cost_s, proxy_s, cumulative_cost_s, now),
            )
            db.execute("UPDATE search_runs SET updated_at=? WHERE run_name=? AND seed=?", (now, run_name, seed))

    def queries(self, run_name: str, seed: int) -> pd.DataFrame:
        """Recorded queries of one run, in step order."""
        return pd.read_sql_query(
            "SELECT step, arch_key, valid, test, cost_s, proxy_s, cumulative_cost_s FROM search_queries"
            " WHERE run_name=? AND seed=? ORDER BY step",
            self._db,
            params=(run_name, seed),
        )

    def runs(self, run_names: Sequence[str] | None = None) -> pd.DataFrame:
        """Registered runs with their number of recorded queries."""
        sql = (
            "SELECT r.run_name, r.seed, r.space, r.algorithm, r.config, COUNT(q.step) AS queries"
            " FROM search_runs r LEFT JOIN search_queries q ON q.run_name=r.run_name AND q.seed=r.seed"
        )
        params: list[Any] = []
        if run_names:
            sql += f" WHERE r.run_name IN ({', '.join('?' * len(run_names))})"
            params.extend(run_names)
        return pd.read_sql_query(sql + " GROUP BY r.run_name, r.seed ORDER BY r.run_name, r.seed", self._db,
                                 params=params)

    def trajectories(self, run_names: Sequence[str] | None = None) -> pd.DataFrame:
        """All recorded queries (of the given runs), one row per query."""
        sql = "SELECT * FROM search_queries"
        params: list[Any] = []
        if run_names:
            sql += f" WHERE run_name IN ({', '.join('?' * len(run_names))})"
            params.extend(run_names)
        return pd.read_sql_query(sql + " ORDER BY run_name, seed, step", self._db, params=params)
