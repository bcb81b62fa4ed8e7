"""The results store: SQLite (stdlib ``sqlite3``, WAL mode), safe to kill and resume.

Tables
- ``scores``: one row per (space, arch_key, proxy, config_hash, seed, batch_hash, device) with the score,
  seconds, status (``ok`` / ``nan`` / ``failed``) and error text. NaN scores are stored as NULL with status
  ``nan`` (SQLite has no NaN) and read back as NaN, never as a number.
- ``proxy_configs``: the JSON configuration behind each config hash.
- ``ground_truth``: (source, space, arch_key, metric) -> value, e.g. a benchmark's test accuracy.
- ``runs``: metadata of each run (library, torch and Python versions, device, command line, host).

Writes are idempotent: writing the same key twice keeps the first result, except that a ``failed`` row is
replaced by a later attempt. Each architecture's results are written in one transaction, so a run killed at
any instant (even ``kill -9``) leaves only complete architectures behind and a restart scores the rest.
"""

from __future__ import annotations

import json
import math
import platform
import socket
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

DEFAULT_PATH = "archrank.db"
SCORE_KEY = ("space", "arch_key", "proxy", "config_hash", "seed", "batch_hash", "device")
STATUSES = ("ok", "nan", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    started_at REAL NOT NULL,
    command TEXT,
    archrank_version TEXT,
    torch_version TEXT,
    python_version TEXT,
    device TEXT,
    host TEXT,
    extra TEXT
);
CREATE TABLE IF NOT EXISTS scores (
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    proxy TEXT NOT NULL,
    config_hash TEXT NOT NULL,
    seed INTEGER NOT NULL,
    batch_hash TEXT NOT NULL,
    device TEXT NOT NULL,
    score REAL,
    seconds REAL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'nan', 'failed')),
    error TEXT,
    run_id INTEGER REFERENCES runs(run_id),
    created_at REAL NOT NULL,
    PRIMARY KEY (space, arch_key, proxy, config_hash, seed, batch_hash, device)
);
CREATE TABLE IF NOT EXISTS proxy_configs (
    config_hash TEXT PRIMARY KEY,
    proxy TEXT NOT NULL,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ground_truth (
    source TEXT NOT NULL,
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    metric TEXT NOT NULL,
    value REAL,
    PRIMARY KEY (source, space, arch_key, metric)
);
"""


@dataclass(frozen=True)
class ScoreRow:
    """One proxy result for one architecture under one (config, seed, batch, device)."""

    space: str
    arch_key: str
    proxy: str
    config_hash: str
    seed: int
    batch_hash: str
    device: str
    score: float | None
    seconds: float | None
    status: str
    error: str | None = None
    run_id: int | None = None

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"score status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "ok" and (self.score is None or not math.isfinite(self.score)):
            raise ValueError(f"status 'ok' needs a finite score, got {self.score!r} for {self.proxy}")


_File = TypeVar("_File", bound="SQLiteFile")


class SQLiteFile:
    """One SQLite file holding a subclass's tables (``SCHEMA``); the one way archrank opens its SQLite files.

    WAL mode lets readers run beside one writer and writers wait (``timeout``) for each other, so several
    processes may share a file. Statements autocommit; :meth:`transaction` groups several into one atomic write.
    ``":memory:"`` gives a throw-away file. Use as a context manager or call :meth:`close`.
    """

    SCHEMA = ""
    KIND = "archrank store"

    def __init__(self, path: str | Path, timeout: float = 60.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            parent = Path(self.path).expanduser().resolve().parent
            if not parent.is_dir():
                raise FileNotFoundError(f"store folder does not exist: {parent}")
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(self.SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise ValueError(f"{self.path} is not a usable {self.KIND}: {exc}") from exc

    def close(self) -> None:
        self._db.close()

    def __enter__(self: _File) -> _File:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside are written together or not at all (``BEGIN IMMEDIATE`` … ``COMMIT``)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


class Store(SQLiteFile):
    """A results store backed by one SQLite file (``":memory:"`` for a throw-away store); see the module doc."""

    SCHEMA = _SCHEMA

    def __init__(self, path: str | Path = DEFAULT_PATH, timeout: float = 60.0) -> None:
        super().__init__(path, timeout)

    # --- runs ----------------------------------------------------------------------------------------
    def start_run(self, device: str, command: str | None = None, extra: dict[str, Any] | None = None) -> int:
        """Record a run's environment; returns its id (stored on every score row it writes)."""
        import torch

        from archrank._version import __version__

        cur = self._db.execute(
            "INSERT INTO runs (started_at, command, archrank_version, torch_version, python_version, device,"
            " host, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                time.time(),
                command if command is not None else " ".join(sys.argv),
                __version__,
                torch.__version__,
                platform.python_version(),
                device,
                socket.gethostname(),
                json.dumps(extra or {}, sort_keys=True, default=str),
            ),
        )
        return int(cur.lastrowid or 0)

    def runs(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM runs ORDER BY run_id", self._db)

    # --- scores --------------------------------------------------------------------------------------
    def put_config(self, config_hash: str, proxy: str, config: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT OR IGNORE INTO proxy_configs (config_hash, proxy, config) VALUES (?, ?, ?)",
            (config_hash, proxy, json.dumps(config, sort_keys=True, default=str)),
        )

    def put_scores(self, rows: Iterable[ScoreRow]) -> int:
        """Write rows in one transaction (all or nothing); returns how many were new or replaced a failure."""
        now = time.time()
        names = [f.name for f in fields(ScoreRow)]
        sql = (
            f"INSERT INTO scores ({', '.join(names)}, created_at) VALUES ({', '.join('?' * (len(names) + 1))})"
            f" ON CONFLICT ({', '.join(SCORE_KEY)}) DO UPDATE SET"
            " score=excluded.score, seconds=excluded.seconds, status=excluded.status, error=excluded.error,"
            " run_id=excluded.run_id, created_at=excluded.created_at WHERE scores.status = 'failed'"
        )
        written = 0
        with self.transaction() as db:
            for row in rows:
                written += db.execute(sql, (*astuple(row), now)).rowcount
        return written

    def done(
        self,
        space: str,
        proxies: dict[str, str],
        seed: int,
        batch_hash: str,
        device: str,
    ) -> set[tuple[str, str]]:
        """(arch_key, proxy) pairs already finished (status ok or nan) for ``proxies`` = {name: config_hash}."""
        out: set[tuple[str, str]] = set()
        for proxy, config_hash in proxies.items():
            cur = self._db.execute(
                "SELECT arch_key FROM scores WHERE space=? AND proxy=? AND config_hash=? AND seed=?"
                " AND batch_hash=? AND device=? AND status != 'failed'",
                (space, proxy, config_hash, seed, batch_hash, device),
            )
            out.update((key, proxy) for (key,) in cur)
        return out

    def scores(
        self,
        space: str | None = None,
        proxies: Sequence[str] | None = None,
        status: str | None = None,
    ) -> pd.DataFrame:
        """Score rows as a DataFrame (``score`` is NaN wherever the stored value is missing)."""
        where, params = _filters(space=space, status=status)
        if proxies:
            where.append(f"proxy IN ({', '.join('?' * len(proxies))})")
            params.extend(proxies)
        sql = "SELECT * FROM scores" + (" WHERE " + " AND ".join(where) if where else "")
        frame = pd.read_sql_query(sql + " ORDER BY space, arch_key, proxy", self._db, params=params)
        frame["score"] = frame["score"].astype(float)
        return frame

    def score_table(self, space: str, proxies: Sequence[str] | None = None) -> pd.DataFrame:
        """Wide table: one row per architecture, one column per proxy (latest ok/nan result of each)."""
        frame = self.scores(space=space, proxies=proxies)
        frame = frame[frame["status"] != "failed"]
        if frame.empty:
            return pd.DataFrame()
        # The latest row of each (arch, proxy) wins, NaN included (a pivot's "last" would skip a NaN and pick
        # an older number).
        frame = frame.sort_values("created_at", kind="stable").drop_duplicates(["arch_key", "proxy"], keep="last")
        table = frame.pivot(index="arch_key", columns="proxy", values="score")
        table.columns.name = "proxy"
        return table

    def count(self, space: str | None = None) -> dict[str, int]:
        """Number of score rows per status."""
        where, params = _filters(space=space)
        sql = "SELECT status, COUNT(*) FROM scores" + (" WHERE " + " AND ".join(where) if where else "")
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({status: n for status, n in self._db.execute(sql + " GROUP BY status", params)})
        return counts

    # --- ground truth --------------------------------------------------------------------------------
    def put_ground_truth(self, source: str, space: str, table: pd.DataFrame) -> int:
        """Store a ground-truth table indexed by arch_key with one column per metric."""
        rows = [
            (source, space, str(key), metric, None if pd.isna(value) else float(value))
            for key, record in table.iterrows()
            for metric, value in record.items()
        ]
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO ground_truth (source, space, arch_key, metric, value)"
                " VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def ground_truth(self, source: str, space: str) -> pd.DataFrame:
        """Wide ground-truth table: one row per arch_key, one column per metric."""
        frame = pd.read_sql_query(
            "SELECT arch_key, metric, value FROM ground_truth WHERE source=? AND space=?",
            self._db,
            params=(source, space),
        )
        if frame.empty:
            return pd.DataFrame()
        return frame.pivot(index="arch_key", columns="metric", values="value")

    # --- export --------------------------------------------------------------------------------------
    def export(self, path: str | Path, space: str | None = None, wide: bool = False) -> Path:
        """Write scores to CSV or Parquet (chosen by the file suffix); ``wide`` pivots to one column per proxy."""
        path = Path(path)
        if wide:
            if space is None:
                raise ValueError("a wide export needs --space")
            frame = self.score_table(space).reset_index()
        else:
            frame = self.scores(space=space)
        suffix = path.suffix.lower()
        if suffix == ".csv":
            frame.to_csv(path, index=False)
        elif suffix in (".parquet", ".pq"):
            frame.to_parquet(path, index=False)
        else:
            raise ValueError(f"cannot export to {path.name}: use a .csv or .parquet file name")
        return path


def _filters(**conditions: Any) -> tuple[list[str], list[Any]]:
    where = [f"{column}=?" for column, value in conditions.items() if value is not None]
    params = [value for value in conditions.values() if value is not None]
    return where, params
