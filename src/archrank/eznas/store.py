"""EZNAS's view of the one results store (:mod:`archrank.store`): no tables of its own.

- a fitness definition (tasks, architectures, seeds, summary) is a ``configs`` row (method ``eznas_fitness``)
  keyed by its hash ``fitness_key``;
- an evaluated program is a ``measurements`` row of the program space ``eznas-programs`` (arch key = the program
  text, method ``eznas_fitness``, config hash = fitness key): a program already stored under a fitness key is
  never evaluated again, by any run (the first result wins). An invalid program is status ``nan`` with its
  reason; per-task correlations, size and height ride in ``extra``;
- a GP run is a ``runs`` row (kind ``evolve``, name = the run's hash) and each generation a ``trials`` row holding
  the population and random state, so an interrupted run resumes exactly where it stopped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from archrank.store import ScoreRow
from archrank.store.view import StoreView

__all__ = ["PROGRAM_SPACE", "EznasStore", "FitnessRecord", "GenerationRecord"]

PROGRAM_SPACE = "eznas-programs"
METHOD = "eznas_fitness"


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


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


class EznasStore(StoreView):
    """EZNAS records in a results store (a path or an open :class:`~archrank.store.Store`). Context manager."""

    # ------------------------------------------------------------------ fitness definitions and programs
    def put_fitness_def(self, fitness_key: str, spec: dict[str, Any]) -> None:
        self.store.put_config(fitness_key, METHOD, spec)

    def fitness_def(self, fitness_key: str) -> dict[str, Any] | None:
        return self.store.get_config(fitness_key)

    def put_programs(self, fitness_key: str, records: Iterable[FitnessRecord]) -> int:
        """Insert records in one transaction (a program already stored under ``fitness_key`` keeps its first
        result); returns how many were new."""
        rows = []
        for r in records:
            ok = r.status == "ok" and math.isfinite(r.fitness)
            rows.append(ScoreRow(
                space=PROGRAM_SPACE, arch_key=r.program, proxy=METHOD, config_hash=fitness_key, seed=0,
                batch_hash="none", device="any", score=float(r.fitness) if ok else None, seconds=r.seconds,
                status="ok" if ok else "nan", error=None if ok else f"{r.status} program",
                extra={"status": r.status, "per_task": [_finite(v) for v in r.per_task], "size": r.size,
                       "height": r.height},
            ))
        return self.store.put_scores(rows)

    def _records(self, where: str, params: tuple[Any, ...], tail: str = "") -> list[FitnessRecord]:
        rows = self.store._db.execute(
            "SELECT arch_key, value, seconds, extra FROM measurements WHERE space=? AND method=? AND config_hash=?"
            f" {where} {tail}",
            (PROGRAM_SPACE, METHOD, *params),
        ).fetchall()
        out = []
        for program, value, seconds, extra in rows:
            more = json.loads(extra) if extra else {}
            out.append(FitnessRecord(
                program,
                -math.inf if value is None else float(value),
                tuple(math.nan if v is None else float(v) for v in more.get("per_task", [])),
                more.get("status", "ok"),
                int(more.get("size") or 0),
                int(more.get("height") or 0),
                float(seconds or 0.0),
            ))
        return out

    def programs(self, fitness_key: str) -> dict[str, FitnessRecord]:
        """Every program stored under ``fitness_key``."""
        return {r.program: r for r in self._records("", (fitness_key,))}

    def top_programs(self, fitness_key: str, n: int = 10) -> list[FitnessRecord]:
        """The ``n`` fittest valid programs (ties: shorter first, then alphabetical)."""
        valid = self._records("AND status = 'ok'", (fitness_key,))
        return sorted(valid, key=lambda r: (-r.fitness, r.size, r.program))[: int(n)]

    def count_programs(self, fitness_key: str) -> dict[str, int]:
        """Stored programs per EZNAS status (``ok``, ``invalid``)."""
        counts: dict[str, int] = {}
        for record in self._records("", (fitness_key,)):
            counts[record.status] = counts.get(record.status, 0) + 1
        return counts

    # ------------------------------------------------------------------ runs and generations
    def start_run(self, run_id: str, fitness_key: str, config: dict[str, Any]) -> int:
        """Find or start the GP run named ``run_id``; returns its store run id."""
        number, _ = self.store.resume_run("evolve", run_id, {"fitness_key": fitness_key, "gp": config})
        return number

    def _run_number(self, run_id: str) -> int:
        number = self.store.find_run("evolve", run_id)
        if number is None:
            raise KeyError(f"no EZNAS run {run_id!r} in {self.path}: start it first")
        return number

    def put_generation(self, record: GenerationRecord) -> None:
        payload = {
            "population": record.population,
            "rng_state": json.loads(json.dumps(record.rng_state)),
            "best_program": record.best_program,
            "n_evaluated": record.n_evaluated,
            "seconds": record.seconds,
        }
        self.store.put_trial(self._run_number(record.run_id), record.generation, payload,
                             None if record.best_fitness is None else _finite(record.best_fitness),
                             identity=("population", "best_program"))

    def generations(self, run_id: str) -> list[GenerationRecord]:
        number = self.store.find_run("evolve", run_id)
        if number is None:
            return []
        out = []
        for t in self.store.trials(number):
            state = t["rng_state"]
            if isinstance(state, str):  # migrated from a version-1 file, where it was a JSON string
                state = json.loads(state)
            out.append(GenerationRecord(
                run_id, int(t["step"]), list(t["population"]), _tuples(state), t.get("best_program"),
                None if math.isnan(t["value"]) else t["value"], int(t["n_evaluated"]), float(t["seconds"]),
            ))
        return out

    def last_generation(self, run_id: str) -> GenerationRecord | None:
        gens = self.generations(run_id)
        return gens[-1] if gens else None
