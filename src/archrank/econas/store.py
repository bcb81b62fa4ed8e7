"""SQLite storage of reduced trainings, beside the project's results store (same file, own table).

Table ``econas_trainings`` holds one row per (space, arch_key, setting, seed, data), where ``setting`` is the
EcoNAS string plus the recipe tag when the recipe is not the default. Writes are idempotent (the first result of a
key is kept) and each training is committed on its own, so a run killed at any instant loses at most the training
in progress and a restart skips everything already stored (resume at the architecture level). WAL mode lets other
processes read while one writes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence

import pandas as pd

from archrank.econas.trainer import TrainResult
from archrank.store import SQLiteFile

_SCHEMA = """
CREATE TABLE IF NOT EXISTS econas_trainings (
    space TEXT NOT NULL,
    arch_key TEXT NOT NULL,
    setting TEXT NOT NULL,
    seed INTEGER NOT NULL,
    data TEXT NOT NULL,
    device TEXT NOT NULL,
    accuracy REAL,
    seconds REAL,
    cpu_seconds REAL,
    epochs INTEGER,
    iterations INTEGER,
    final_train_loss REAL,
    final_train_accuracy REAL,
    num_params INTEGER,
    resolution INTEGER,
    train_samples INTEGER,
    test_samples INTEGER,
    threads INTEGER,
    extra TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (space, arch_key, setting, seed, data)
);
"""

_COLUMNS = (
    "space", "arch_key", "setting", "seed", "data", "device", "accuracy", "seconds", "cpu_seconds", "epochs",
    "iterations", "final_train_loss", "final_train_accuracy", "num_params", "resolution", "train_samples",
    "test_samples", "threads", "extra", "created_at",
)


class TrainingStore(SQLiteFile):
    """Reduced-training results in ``econas_trainings`` of an SQLite file (``":memory:"`` for a throw-away one)."""

    SCHEMA = _SCHEMA
    KIND = "SQLite store of trainings"

    def put(self, result: TrainResult) -> bool:
        """Store one result; ``False`` (and nothing changed) when its key is already there."""
        space, arch_key, setting, seed, data = result.key
        extra = json.dumps({"width": result.width, "recipe": result.recipe}, sort_keys=True)
        values = (
            space, arch_key, setting, seed, data, result.device, result.accuracy, result.seconds, result.cpu_seconds,
            result.epochs, result.iterations, result.final_train_loss, result.final_train_accuracy, result.num_params,
            result.resolution, result.train_samples, result.test_samples, result.threads, extra, time.time(),
        )
        sql = (
            f"INSERT OR IGNORE INTO econas_trainings ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
        )
        return self._db.execute(sql, values).rowcount > 0

    def get(self, space: str, arch_key: str, setting: str, seed: int, data: str) -> TrainResult | None:
        """The stored result of one key (``setting`` includes the recipe tag), or ``None``."""
        cur = self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM econas_trainings"
            " WHERE space=? AND arch_key=? AND setting=? AND seed=? AND data=?",
            (space, arch_key, setting, seed, data),
        )
        row = cur.fetchone()
        if row is None:
            return None
        record = dict(zip(_COLUMNS, row, strict=True))
        extra = json.loads(record.pop("extra") or "{}")
        record.pop("created_at")
        name, _, tag = record["setting"].partition("|")
        record["setting"] = name
        return TrainResult(**record, width=extra.get("width", {}), recipe="|" + tag if tag else "")

    def done(self, space: str, setting: str, seed: int, data: str) -> set[str]:
        """Architecture keys already trained under (space, setting, seed, data)."""
        cur = self._db.execute(
            "SELECT arch_key FROM econas_trainings WHERE space=? AND setting=? AND seed=? AND data=?",
            (space, setting, seed, data),
        )
        return {key for (key,) in cur}

    def score_table(self, space: str, settings: Sequence[str] | None = None, data: str | None = None) -> pd.DataFrame:
        """Wide table like the proxy store's ``score_table``: one row per arch key, one column ``econas_<setting>``
        per setting holding the test accuracy (mean over seeds; higher is better), ready to be joined with
        zero-cost scores and passed to :func:`archrank.bench.evaluate.evaluate`."""
        frame = self.results(space=space, settings=settings, data=data)
        if frame.empty:
            return pd.DataFrame()
        wide = frame.pivot_table(index="arch_key", columns="setting", values="accuracy", aggfunc="mean")
        wide.columns = [f"econas_{c}" for c in wide.columns]
        wide.columns.name = "proxy"
        return wide

    def results(
        self, space: str | None = None, settings: Sequence[str] | None = None, data: str | None = None
    ) -> pd.DataFrame:
        """Stored rows as a DataFrame, optionally filtered by space, settings and data key."""
        where, params = [], []
        for column, value in (("space", space), ("data", data)):
            if value is not None:
                where.append(f"{column}=?")
                params.append(value)
        if settings:
            where.append(f"setting IN ({', '.join('?' * len(settings))})")
            params.extend(settings)
        sql = "SELECT * FROM econas_trainings" + (" WHERE " + " AND ".join(where) if where else "")
        return pd.read_sql_query(sql + " ORDER BY space, setting, arch_key, seed", self._db, params=params)
