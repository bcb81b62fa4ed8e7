"""SQLite tables of the EZNAS search: every evaluated program with its fitness, and per-generation checkpoints.

The tables live in the same database file as :class:`archrank.store.Store` (their own connection, WAL mode,
``CREATE TABLE IF NOT EXISTS``, idempotent inserts):

- ``eznas_fitness_defs``: a fitness definition (tasks, architectures, seeds, summary) by its hash ``fitness_key``;
- ``eznas_programs``: (fitness_key, program) -> fitness, per-task correlations, status (``ok``/``invalid``); a
  program already stored under a fitness key is never evaluated again, by any run;
- ``eznas_runs`` and ``eznas_generations``: a run's configuration and, after every generation, its population and
  random state, so an interrupted run resumes exactly where it stopped.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from archrank.store import SQLiteFile

__all__ = ["EznasStore", "FitnessRecord", "GenerationRecord"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS eznas_fitness_defs (
    fitness_key TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS eznas_programs (
    fitness_key TEXT NOT NULL,
    program TEXT NOT NULL,
    fitness REAL,
    per_task TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('ok', 'invalid')),
    size INTEGER,
    height INTEGER,
    seconds REAL,
    created_at REAL NOT NULL,
    PRIMARY KEY (fitness_key, program)
);
CREATE INDEX IF NOT EXISTS eznas_programs_by_fitness ON eznas_programs (fitness_key, fitness);
CREATE TABLE IF NOT EXISTS eznas_runs (
    run_id TEXT PRIMARY KEY,
    fitness_key TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS eznas_generations (
    run_id TEXT NOT NULL,
    generation INTEGER NOT NULL,
    population TEXT NOT NULL,
    rng_state TEXT NOT NULL,
    best_program TEXT,
    best_fitness REAL,
    n_evaluated INTEGER NOT NULL,
    seconds REAL NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (run_id, generation)
);
"""


@dataclass(frozen=True)
class FitnessRecord:
    """A program's fitness (``-inf`` when invalid), its per-task correlations (NaN where undefined) and status."""

    program: str
    fitness: float
    per_task: tuple[float, ...]
    status: str
    size: int = 0
    height: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True)
class GenerationRecord:
    run_id: str
    generation: int
    population: list[str]
    rng_state: Any
    best_program: str | None
    best_fitness: float | None
    n_evaluated: int
    seconds: float


def _encode_state(state: Any) -> str:
    return json.dumps(state)


def _decode_state(text: str) -> Any:
    def tuples(value: Any) -> Any:
        return tuple(tuples(v) for v in value) if isinstance(value, list) else value

    return tuples(json.loads(text))


def _nan_to_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class EznasStore(SQLiteFile):
    """The EZNAS tables in the SQLite file ``path`` (created if missing)."""

    SCHEMA = _SCHEMA
    KIND = "EZNAS store"

    # ------------------------------------------------------------------ fitness definitions and programs
    def put_fitness_def(self, fitness_key: str, spec: dict[str, Any]) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO eznas_fitness_defs VALUES (?, ?, ?)",
                (fitness_key, json.dumps(spec, sort_keys=True), time.time()),
            )

    def fitness_def(self, fitness_key: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT spec FROM eznas_fitness_defs WHERE fitness_key = ?", (fitness_key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_programs(self, fitness_key: str, records: Iterable[FitnessRecord]) -> int:
        """Insert records (a program already stored under ``fitness_key`` keeps its first result)."""
        rows = [
            (
                fitness_key,
                r.program,
                _nan_to_none(r.fitness),
                json.dumps([_nan_to_none(v) for v in r.per_task]),
                r.status,
                r.size,
                r.height,
                r.seconds,
                time.time(),
            )
            for r in records
        ]
        with self.transaction():
            cur = self._db.executemany("INSERT OR IGNORE INTO eznas_programs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        return cur.rowcount

    @staticmethod
    def _record(row: Sequence[Any]) -> FitnessRecord:
        program, fitness, per_task, status, size, height, seconds = row
        values = tuple(math.nan if v is None else float(v) for v in json.loads(per_task))
        return FitnessRecord(
            program,
            -math.inf if fitness is None else float(fitness),
            values,
            status,
            int(size or 0),
            int(height or 0),
            float(seconds or 0.0),
        )

    def programs(self, fitness_key: str) -> dict[str, FitnessRecord]:
        """Every program stored under ``fitness_key``."""
        rows = self._db.execute(
            "SELECT program, fitness, per_task, status, size, height, seconds FROM eznas_programs "
            "WHERE fitness_key = ?",
            (fitness_key,),
        ).fetchall()
        return {row[0]: self._record(row) for row in rows}

    def top_programs(self, fitness_key: str, n: int = 10) -> list[FitnessRecord]:
        """The ``n`` fittest valid programs (ties: shorter first)."""
        rows = self._db.execute(
            "SELECT program, fitness, per_task, status, size, height, seconds FROM eznas_programs "
            "WHERE fitness_key = ? AND status = 'ok' ORDER BY fitness DESC, size ASC, program ASC LIMIT ?",
            (fitness_key, int(n)),
        ).fetchall()
        return [self._record(row) for row in rows]

    def count_programs(self, fitness_key: str) -> dict[str, int]:
        rows = self._db.execute(
            "SELECT status, COUNT(*) FROM eznas_programs WHERE fitness_key = ? GROUP BY status", (fitness_key,)
        ).fetchall()
        return {status: int(n) for status, n in rows}

    # ------------------------------------------------------------------ runs and generations
    def start_run(self, run_id: str, fitness_key: str, config: dict[str, Any]) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO eznas_runs VALUES (?, ?, ?, ?)",
                (run_id, fitness_key, json.dumps(config, sort_keys=True), time.time()),
            )

    def put_generation(self, record: GenerationRecord) -> None:
        with self.transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO eznas_generations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.run_id,
                    record.generation,
                    json.dumps(record.population),
                    _encode_state(record.rng_state),
                    record.best_program,
                    None if record.best_fitness is None else _nan_to_none(record.best_fitness),
                    record.n_evaluated,
                    record.seconds,
                    time.time(),
                ),
            )

    def generations(self, run_id: str) -> list[GenerationRecord]:
        rows = self._db.execute(
            "SELECT run_id, generation, population, rng_state, best_program, best_fitness, n_evaluated, seconds "
            "FROM eznas_generations WHERE run_id = ? ORDER BY generation",
            (run_id,),
        ).fetchall()
        return [
            GenerationRecord(r[0], int(r[1]), json.loads(r[2]), _decode_state(r[3]), r[4], r[5], int(r[6]), float(r[7]))
            for r in rows
        ]

    def last_generation(self, run_id: str) -> GenerationRecord | None:
        gens = self.generations(run_id)
        return gens[-1] if gens else None
