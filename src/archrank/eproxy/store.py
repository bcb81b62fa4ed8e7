"""Eproxy's own tables in the archrank SQLite results file (WAL mode, idempotent writes, safe to kill and resume).

Tables (all prefixed ``eproxy_``; the store's own tables are left alone):

- ``eproxy_configs``: config key → canonical JSON of an :class:`~archrank.eproxy.config.EproxyConfig`;
- ``eproxy_scores``: one row per (space, arch_key, config_key, seed, batch_hash, device) with value (negated
  score), score, loss, MACs, seconds and status; written one architecture per transaction;
- ``eproxy_dps_runs``: a Discrete Proxy Search run: its settings (JSON), the labelled architectures it used (JSON
  list of keys with accuracies, to be excluded from any evaluation of the tuned proxy) and its best config;
- ``eproxy_dps_history``: every proposal of a run, in order: step, config key, parent key, genotype, fitness.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable
from typing import Any

from archrank.eproxy.config import EproxyConfig
from archrank.store import SQLiteFile

__all__ = ["EproxyStore", "ScoreRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS eproxy_configs (
    config_key TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS eproxy_scores (
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    config_key TEXT NOT NULL,
    seed INTEGER NOT NULL,
    batch_hash TEXT NOT NULL,
    device TEXT NOT NULL,
    value REAL,
    score REAL,
    loss REAL,
    macs REAL,
    seconds REAL,
    status TEXT NOT NULL,
    error TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (space, arch_key, config_key, seed, batch_hash, device)
);
CREATE TABLE IF NOT EXISTS eproxy_dps_runs (
    run_name TEXT PRIMARY KEY,
    space TEXT NOT NULL,
    settings TEXT NOT NULL,
    labelled TEXT NOT NULL,
    best_key TEXT,
    best_fitness REAL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS eproxy_dps_history (
    run_name TEXT NOT NULL,
    step INTEGER NOT NULL,
    config_key TEXT NOT NULL,
    parent_key TEXT,
    genotype TEXT NOT NULL,
    fitness REAL,
    seconds REAL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_name, step)
);
"""

ScoreRecord = dict[str, Any]


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class EproxyStore(SQLiteFile):
    """Eproxy tables on one SQLite file (``":memory:"`` for a throw-away store). Use as a context manager."""

    SCHEMA = _SCHEMA
    KIND = "Eproxy store"

    # --- configs and scores ---------------------------------------------------------------------------
    def put_config(self, config: EproxyConfig) -> str:
        """Record ``config``; returns its key."""
        self._db.execute(
            "INSERT OR IGNORE INTO eproxy_configs (config_key, config) VALUES (?, ?)", (config.key, config.to_json())
        )
        return config.key

    def get_config(self, key: str) -> EproxyConfig:
        row = self._db.execute("SELECT config FROM eproxy_configs WHERE config_key = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(f"no Eproxy config {key!r} in {self.path}")
        return EproxyConfig.from_dict(json.loads(row[0]))

    def put_score(self, record: ScoreRecord) -> None:
        """Write one architecture's result (first result wins, except that a ``failed`` row is replaced)."""
        values = (
            record["space"],
            record["arch_key"],
            record["config_key"],
            int(record["seed"]),
            record["batch_hash"],
            record["device"],
            _num(record.get("value")),
            _num(record.get("score")),
            _num(record.get("loss")),
            _num(record.get("macs")),
            _num(record.get("seconds")),
            record["status"],
            record.get("error"),
            time.time(),
        )
        with self._db:
            self._db.execute(
                "DELETE FROM eproxy_scores WHERE space=? AND arch_key=? AND config_key=? AND seed=? AND batch_hash=? "
                "AND device=? AND status='failed'",
                values[:6],
            )
            self._db.execute(f"INSERT OR IGNORE INTO eproxy_scores VALUES ({', '.join('?' * 14)})", values)

    def scores(
        self, space: str, config_key: str, seed: int, batch_hash: str, arch_keys: Iterable[str] | None = None
    ) -> dict[str, ScoreRecord]:
        """Stored results of one config, keyed by arch key (any device)."""
        cur = self._db.execute(
            "SELECT arch_key, value, score, loss, macs, seconds, status, error, device FROM eproxy_scores "
            "WHERE space=? AND config_key=? AND seed=? AND batch_hash=? ORDER BY created_at",
            (space, config_key, int(seed), batch_hash),
        )
        wanted = set(arch_keys) if arch_keys is not None else None
        out: dict[str, ScoreRecord] = {}
        for arch_key, value, score, loss, macs, seconds, status, error, device in cur:
            if wanted is not None and arch_key not in wanted:
                continue
            out.setdefault(
                arch_key,
                {
                    "value": math.nan if value is None else value,
                    "score": math.nan if score is None else score,
                    "loss": math.nan if loss is None else loss,
                    "macs": macs,
                    "seconds": seconds,
                    "status": status,
                    "error": error,
                    "device": device,
                },
            )
        return out

    # --- DPS runs -------------------------------------------------------------------------------------
    def dps_run(self, run_name: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT space, settings, labelled, best_key, best_fitness FROM eproxy_dps_runs WHERE run_name = ?",
            (run_name,),
        ).fetchone()
        if row is None:
            return None
        space, settings, labelled, best_key, best_fitness = row
        return {
            "run_name": run_name,
            "space": space,
            "settings": json.loads(settings),
            "labelled": json.loads(labelled),
            "best_key": best_key,
            "best_fitness": best_fitness,
        }

    def dps_runs(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT run_name FROM eproxy_dps_runs ORDER BY created_at")]

    def start_dps_run(self, run_name: str, space: str, settings: dict[str, Any], labelled: list[Any]) -> None:
        """Create the run, or check that an existing one has the same settings and labelled set (resume)."""
        existing = self.dps_run(run_name)
        settings_json = json.loads(json.dumps(settings))
        labelled_json = json.loads(json.dumps(labelled))
        if existing is not None:
            if existing["settings"] != settings_json or existing["labelled"] != labelled_json:
                raise ValueError(
                    f"DPS run {run_name!r} exists in {self.path} with other settings or labelled architectures; "
                    "use another run name"
                )
            return
        now = time.time()
        self._db.execute(
            "INSERT INTO eproxy_dps_runs (run_name, space, settings, labelled, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (run_name, space, json.dumps(settings_json, sort_keys=True), json.dumps(labelled_json), now, now),
        )

    def dps_history(self, run_name: str) -> list[dict[str, Any]]:
        cur = self._db.execute(
            "SELECT step, config_key, parent_key, genotype, fitness, seconds FROM eproxy_dps_history "
            "WHERE run_name = ? ORDER BY step",
            (run_name,),
        )
        return [
            {
                "step": step,
                "config_key": key,
                "parent_key": parent,
                "genotype": json.loads(genotype),
                "fitness": math.nan if fitness is None else fitness,
                "seconds": seconds,
            }
            for step, key, parent, genotype, fitness, seconds in cur
        ]

    def put_dps_step(
        self,
        run_name: str,
        step: int,
        config_key: str,
        parent_key: str | None,
        genotype: dict[str, Any],
        fitness: float,
        seconds: float,
    ) -> None:
        with self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO eproxy_dps_history VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_name, step, config_key, parent_key, json.dumps(genotype), _num(fitness), seconds, time.time()),
            )
            row = self._db.execute(
                "SELECT config_key, fitness FROM eproxy_dps_history WHERE run_name = ? AND fitness IS NOT NULL "
                "ORDER BY fitness DESC, step ASC LIMIT 1",
                (run_name,),
            ).fetchone()
            if row is not None:
                self._db.execute(
                    "UPDATE eproxy_dps_runs SET best_key = ?, best_fitness = ?, updated_at = ? WHERE run_name = ?",
                    (row[0], row[1], time.time(), run_name),
                )
