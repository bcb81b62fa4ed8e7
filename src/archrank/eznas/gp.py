"""The EZNAS search: strongly-typed genetic programming (DEAP) over programs, fitness = rank correlation.

Following EZNAS (Akhauri et al., NeurIPS 2022): a population of random typed trees (ramped half-and-half) is
varied each generation by DEAP's ``varOr`` (one-point crossover or uniform subtree mutation, with a static height
limit against bloat); parents and offspring compete (μ+λ) through elitism and tournament selection. A program's
fitness is the *minimum* over tasks of the Kendall τ (or Spearman ρ) between its scores and trained accuracies,
which favours programs that generalise across tasks; a program that is NaN/inf on any network, or constant on a
task, is invalid (fitness −inf).

The loop is driven generation by generation so that every evaluated program is stored (and never evaluated twice:
:class:`~archrank.eznas.store.EznasStore` dedupes by program string) and each generation's population and random
state are checkpointed; a run with the same configuration resumes from its last generation and reproduces the
uninterrupted run exactly. DEAP's operators draw from the module-level :mod:`random`; the runner lends them its own
seeded ``random.Random`` state for each call and restores the global state afterwards, so runs are seeded and leave
no global state behind. Individuals are plain subclasses of ``gp.PrimitiveTree`` (no ``deap.creator`` classes).
"""

from __future__ import annotations

import hashlib
import json
import math
import operator
import random
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

import numpy as np
from deap import algorithms, base, gp, tools
from scipy import stats
from tqdm.auto import tqdm

from archrank.eznas.program import Program, StatsBatch, build_pset, evaluate
from archrank.eznas.store import EznasStore, FitnessRecord, GenerationRecord

__all__ = [
    "GPConfig",
    "GPResult",
    "Task",
    "fitness_key",
    "program_fitness",
    "run_gp",
]

T = TypeVar("T")
METRICS = ("kendall", "spearman")


@dataclass(frozen=True)
class GPConfig:
    """GP settings (EZNAS: population 50–200, 10–100 generations, crossover/mutation 0.4–0.5, height limit 10).

    ``lambda_`` offspring per generation (default: ``population``); ``elite`` best programs always survive;
    ``max_seconds`` stops after the generation that exceeds it (resume continues)."""

    population: int = 64
    generations: int = 20
    cxpb: float = 0.5
    mutpb: float = 0.4
    tournament: int = 3
    elite: int = 2
    init_min_height: int = 1
    init_max_height: int = 4
    mut_max_height: int = 3
    max_height: int = 8
    lambda_: int | None = None
    metric: str = "kendall"
    seed: int = 0
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.population < 2 or self.generations < 0:
            raise ValueError("population must be >= 2 and generations >= 0")
        if self.cxpb < 0 or self.mutpb < 0 or self.cxpb + self.mutpb > 1:
            raise ValueError("cxpb and mutpb must be >= 0 with cxpb + mutpb <= 1 (DEAP varOr)")
        if self.metric not in METRICS:
            raise ValueError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if not 1 <= self.init_min_height <= self.init_max_height <= self.max_height:
            raise ValueError("need 1 <= init_min_height <= init_max_height <= max_height")
        if not 0 <= self.elite < self.population:
            raise ValueError("elite must be in [0, population)")

    def search_dict(self) -> dict[str, Any]:
        """The settings that define the search trajectory (``max_seconds`` does not)."""
        out = asdict(self)
        out.pop("max_seconds")
        return out


@dataclass
class Task:
    """One fitness task: statistics of a few labelled architectures and their trained accuracies."""

    name: str
    batch: StatsBatch
    accuracy: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.accuracy = np.asarray(self.accuracy, dtype=float)
        if self.accuracy.shape != (self.batch.n_networks,):
            raise ValueError(f"task {self.name}: {self.batch.n_networks} networks but {self.accuracy.shape} accuracies")


@dataclass
class GPResult:
    run_id: str
    fitness_key: str
    best: list[FitnessRecord]
    history: list[GenerationRecord]
    n_evaluated: int
    completed: bool


def fitness_key(spec: Mapping[str, Any]) -> str:
    """Stable hash of a fitness definition (what the tasks are), used to share evaluations across runs."""
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _correlation(scores: np.ndarray, truth: np.ndarray, metric: str) -> float:
    if np.ptp(scores) == 0:
        return math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if metric == "kendall":
            return float(stats.kendalltau(scores, truth).statistic)
        return float(stats.spearmanr(scores, truth).statistic)


def program_fitness(program: Program | str, tasks: Sequence[Task], metric: str = "kendall") -> FitnessRecord:
    """Min over tasks of the correlation between the program's scores and accuracy; −inf if invalid anywhere."""
    start = time.perf_counter()
    prog = Program.parse(program) if isinstance(program, str) else program
    per_task: list[float] = []
    status = "ok"
    for task in tasks:
        scores = evaluate(prog, task.batch)
        value = _correlation(scores, task.accuracy, metric) if np.isfinite(scores).all() else math.nan
        per_task.append(value)
        if not math.isfinite(value):
            status = "invalid"
            break
    fit = min(per_task) if status == "ok" and per_task else -math.inf
    return FitnessRecord(prog.text, fit, tuple(per_task), status, len(prog), prog.height, time.perf_counter() - start)


class _Fitness(base.Fitness):
    weights = (1.0,)


class _Individual(gp.PrimitiveTree):
    """A program tree with a DEAP fitness (what ``creator.create("Individual", ...)`` would build)."""

    def __init__(self, content: Any) -> None:
        super().__init__(content)
        self.fitness = _Fitness()


@contextmanager
def _lent_random(rng: random.Random) -> Iterator[None]:
    """Let DEAP draw from ``rng`` through the global :mod:`random` module; restore the global state afterwards."""
    saved = random.getstate()
    random.setstate(rng.getstate())
    try:
        yield
    finally:
        rng.setstate(random.getstate())
        random.setstate(saved)


def _toolbox(config: GPConfig) -> base.Toolbox:
    pset = build_pset()
    tb = base.Toolbox()
    tb.register("expr", gp.genHalfAndHalf, pset=pset, min_=config.init_min_height, max_=config.init_max_height)
    tb.register("individual", tools.initIterate, _Individual, tb.expr)
    tb.register("mate", gp.cxOnePoint)
    tb.register("expr_mut", gp.genHalfAndHalf, min_=0, max_=config.mut_max_height)
    tb.register("mutate", gp.mutUniform, expr=tb.expr_mut, pset=pset)
    limit = gp.staticLimit(key=operator.attrgetter("height"), max_value=config.max_height)
    tb.decorate("mate", limit)
    tb.decorate("mutate", limit)
    return tb


def _select(pool: list[_Individual], config: GPConfig, rng: random.Random) -> list[_Individual]:
    """(μ+λ) survival: the ``elite`` best distinct programs, the rest by tournament among distinct programs."""
    unique: dict[str, _Individual] = {}
    for ind in pool:
        unique.setdefault(str(ind), ind)
    distinct = sorted(unique.values(), key=lambda ind: (-ind.fitness.values[0], len(ind), str(ind)))
    elites = distinct[: config.elite]
    with _lent_random(rng):
        rest = tools.selTournament(distinct, config.population - len(elites), config.tournament)
    return [_clone(ind) for ind in elites + rest]


def _clone(ind: _Individual) -> _Individual:
    out = _Individual(list(ind))
    out.fitness.values = ind.fitness.values
    return out


def run_gp(
    tasks: Sequence[Task],
    config: GPConfig | None = None,
    *,
    store: EznasStore | None = None,
    fitness_spec: Mapping[str, Any] | None = None,
    progress: bool = True,
    top: int = 10,
    on_generation: Callable[[GenerationRecord], None] | None = None,
) -> GPResult:
    """Evolve programs on ``tasks``; with a ``store`` every evaluation is recorded and the run resumes.

    ``fitness_spec`` describes the tasks (architectures, seeds, summary...) and keys the evaluation cache; it must
    change whenever the tasks change (default: task names and sizes only, fine for in-memory runs).
    """
    config = config or GPConfig()
    if not tasks:
        raise ValueError("run_gp needs at least one task")
    spec = (
        dict(fitness_spec)
        if fitness_spec is not None
        else {"tasks": [{"name": t.name, "n": t.batch.n_networks} for t in tasks]}
    )
    spec["metric"] = config.metric
    fkey = fitness_key(spec)
    run_id = fitness_key({"fitness": fkey, "gp": config.search_dict()})
    cache: dict[str, FitnessRecord] = {}
    if store is not None:
        store.put_fitness_def(fkey, spec)
        store.start_run(run_id, fkey, config.search_dict())
        cache.update(store.programs(fkey))
    tb = _toolbox(config)
    rng = random.Random(config.seed)
    pset = build_pset()
    lam = config.lambda_ or config.population
    n_evaluated = 0  # new evaluations in this call; generation records count cumulatively over resumes
    evaluated_before = 0
    history: list[GenerationRecord] = list(store.generations(run_id)) if store is not None else []

    def assess(individuals: Sequence[_Individual]) -> None:
        nonlocal n_evaluated
        fresh: list[FitnessRecord] = []
        for ind in individuals:
            text = str(ind)
            record = cache.get(text)
            if record is None:
                record = program_fitness(Program(text), tasks, config.metric)
                cache[text] = record
                fresh.append(record)
                n_evaluated += 1
            ind.fitness.values = (record.fitness,)
        if store is not None and fresh:
            store.put_programs(fkey, fresh)

    def checkpoint(generation: int, population: list[_Individual], seconds: float) -> None:
        best = max(population, key=lambda ind: ind.fitness.values[0])
        record = GenerationRecord(
            run_id,
            generation,
            [str(ind) for ind in population],
            rng.getstate(),
            str(best),
            best.fitness.values[0],
            evaluated_before + n_evaluated,
            seconds,
        )
        history.append(record)
        if store is not None:
            store.put_generation(record)
        if on_generation is not None:
            on_generation(record)

    started = time.perf_counter()
    if history:
        last = history[-1]
        evaluated_before = last.n_evaluated
        rng.setstate(last.rng_state)
        population = [_Individual(gp.PrimitiveTree.from_string(text, pset)) for text in last.population]
        assess(population)
        start_gen = last.generation + 1
    else:
        with _lent_random(rng):
            population = [tb.individual() for _ in range(config.population)]
        assess(population)
        checkpoint(0, population, time.perf_counter() - started)
        start_gen = 1
    bar = tqdm(
        total=config.generations,
        initial=min(start_gen - 1, config.generations),
        desc="eznas GP",
        unit="gen",
        disable=not progress,
    )
    completed = True
    try:
        for generation in range(start_gen, config.generations + 1):
            if config.max_seconds is not None and time.perf_counter() - started > config.max_seconds:
                completed = False
                break
            t0 = time.perf_counter()
            with _lent_random(rng):
                offspring = algorithms.varOr(population, tb, lam, config.cxpb, config.mutpb)
            offspring = [_Individual(list(ind)) for ind in offspring]
            assess(offspring)
            population = _select(population + offspring, config, rng)
            checkpoint(generation, population, time.perf_counter() - t0)
            best = history[-1]
            valid = sum(math.isfinite(ind.fitness.values[0]) for ind in population)
            bar.set_postfix(best=f"{best.best_fitness:.3f}", valid=f"{valid}/{len(population)}", evals=best.n_evaluated)
            bar.update(1)
    finally:
        bar.close()
    ranked = sorted((r for r in cache.values() if r.ok), key=lambda r: (-r.fitness, r.size, r.program))
    best_records = store.top_programs(fkey, top) if store is not None else ranked[:top]
    return GPResult(run_id, fkey, best_records, history, n_evaluated, completed)
