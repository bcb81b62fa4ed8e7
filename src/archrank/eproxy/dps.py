"""Discrete Proxy Search (DPS): tune Eproxy's configuration to a search space or task from a few labelled
architectures (Li et al., "Extensible Proxy for Efficient NAS", arXiv 2210.09459).

DPS is regularised evolution (Real et al., AAAI 2019) over :class:`~archrank.eproxy.dps_space.DPSSpace`, as in the
paper and its public code: ``population`` (40) random configurations first; then, repeatedly, ``tournament`` (10)
of the ``population`` most recent ones are drawn, the fittest is mutated (each gene resampled with probability
``mutate_ratio`` = 0.2) and evaluated, until ``budget`` (200) proposals. Fitness is the Spearman correlation between
the Eproxy values (higher = better) and the accuracies of ~20 labelled architectures; an undefined fitness counts
as −1 in tournaments. :func:`run_dps` stores every proposal, its fitness and every per-architecture score in the
results file, records the labelled architectures (to exclude them from any evaluation of the tuned proxy), resumes
an interrupted run exactly (the proposal sequence is a deterministic function of the seed and the stored
fitnesses) and can be continued with a larger budget.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from archrank.eproxy.config import EproxyConfig, save_config
from archrank.eproxy.dps_space import DPSSpace, Genotype
from archrank.eproxy.evaluate import input_hash, rank_metrics, score_archs
from archrank.eproxy.store import EproxyStore
from archrank.spaces import SearchSpace

__all__ = ["Candidate", "DPSResult", "dps_fitness", "regularized_evolution", "run_dps"]


@dataclass(frozen=True)
class Candidate:
    """One DPS proposal: its step, genotype, decoded config, fitness (NaN if undefined), parent config key."""

    step: int
    genotype: Genotype
    config: EproxyConfig
    fitness: float
    parent: str | None = None
    seconds: float = 0.0

    @property
    def rank_fitness(self) -> float:
        """Fitness used for selection: −1 where undefined, as in the reference code."""
        return self.fitness if math.isfinite(self.fitness) else -1.0


def regularized_evolution(
    space: DPSSpace,
    fitness: Callable[[EproxyConfig, Genotype], float],
    *,
    budget: int = 200,
    population: int = 40,
    tournament: int = 10,
    mutate_ratio: float = 0.2,
    seed: int = 0,
    known: Mapping[int, tuple[str, float]] | None = None,
    on_step: Callable[[Candidate], None] | None = None,
) -> list[Candidate]:
    """Run ``budget`` proposals of regularised evolution; returns all candidates in order.

    ``known`` maps steps already evaluated (e.g. read back from a store) to (config key, fitness): those are not
    re-evaluated, and a key that does not match the replayed proposal raises ``ValueError`` (changed settings).
    ``on_step`` is called after each newly evaluated candidate.
    """
    if not 1 <= tournament <= population:
        raise ValueError(f"need 1 <= tournament ({tournament}) <= population ({population})")
    rng = random.Random(seed)
    known = dict(known or {})
    history: list[Candidate] = []
    for step in range(budget):
        parent: Candidate | None = None
        if step < population:
            genotype = space.random_genotype(rng)
        else:
            pool = history[-population:]
            contestants = rng.sample(pool, tournament)
            parent = max(contestants, key=lambda c: c.rank_fitness)
            genotype = space.mutate(parent.genotype, rng, mutate_ratio)
        config = space.decode(genotype)
        parent_key = parent.config.key if parent is not None else None
        if step in known:
            key, value = known[step]
            if key != config.key:
                raise ValueError(f"DPS step {step}: stored config {key} differs from the replayed {config.key}")
            history.append(Candidate(step, genotype, config, value, parent_key))
            continue
        start = time.perf_counter()
        value = float(fitness(config, genotype))
        cand = Candidate(step, genotype, config, value, parent_key, time.perf_counter() - start)
        history.append(cand)
        if on_step is not None:
            on_step(cand)
    return history


def dps_fitness(values: Sequence[float], accuracies: Sequence[float]) -> float:
    """Spearman ρ of Eproxy values against accuracies; an architecture whose value is undefined ranks last."""
    if sum(1 for v in values if math.isfinite(v)) < 2:
        return math.nan
    return rank_metrics(values, accuracies)["spearman"]


@dataclass(frozen=True)
class DPSResult:
    """Outcome of :func:`run_dps`: the best config, its fitness, every candidate and the labelled arch keys."""

    run_name: str
    best: Candidate
    history: list[Candidate]
    labelled: list[str]

    @property
    def config(self) -> EproxyConfig:
        return self.best.config


def run_dps(
    space: SearchSpace,
    labelled: Sequence[tuple[Any, float]],
    *,
    store_path: str | Path,
    run_name: str = "dps",
    batch: Any = None,
    dps_space: DPSSpace | None = None,
    budget: int = 200,
    population: int = 40,
    tournament: int = 10,
    mutate_ratio: float = 0.2,
    seed: int = 0,
    eval_seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
    out: str | Path | None = None,
) -> DPSResult:
    """Discrete Proxy Search on ``space`` with ``labelled`` (architecture, accuracy) pairs; resumable.

    Every proposal is stored in ``store_path`` under ``run_name`` (with every architecture's score, so even a
    half-evaluated config resumes); the labelled architectures are recorded with the run. ``budget`` is not part of
    the run's identity: rerunning with a larger budget continues the search. ``out``: write the best config as
    JSON there (usable as ``create_proxy("eproxy", config=out)``).
    """
    dps_space = dps_space or DPSSpace()
    archs = [space.parse(a) for a, _ in labelled]
    accs = [float(acc) for _, acc in labelled]
    keys = [space.key(a) for a in archs]
    if len(set(keys)) != len(keys):
        raise ValueError("the labelled architectures must be distinct")
    digest = input_hash(dps_space.base, batch)
    settings = {
        "space": space.name,
        "dps_space": dps_space.to_dict(),
        "population": population,
        "tournament": tournament,
        "mutate_ratio": mutate_ratio,
        "seed": seed,
        "eval_seed": eval_seed,
        "batch_hash": digest,
    }
    with EproxyStore(store_path) as store:
        store.start_dps_run(run_name, space.name, settings, [[k, a] for k, a in zip(keys, accs, strict=True)])
        stored = store.dps_history(run_name)
        known = {row["step"]: (row["config_key"], row["fitness"]) for row in stored if row["step"] < budget}
        bar = _progress(budget, len(known), run_name) if progress else None
        best = [max((f for _, f in known.values() if math.isfinite(f)), default=math.nan)]

        def fitness(config: EproxyConfig, genotype: Genotype) -> float:
            scores = score_archs(space, archs, config, batch, seed=eval_seed, device=device, store=store)
            return dps_fitness([scores[k]["value"] for k in keys], accs)

        def on_step(cand: Candidate) -> None:
            store.put_config(cand.config)
            store.put_dps_step(
                run_name, cand.step, cand.config.key, cand.parent, cand.genotype, cand.fitness, cand.seconds
            )
            if math.isfinite(cand.fitness) and not cand.fitness <= best[0]:
                best[0] = cand.fitness
            if bar is not None:
                bar.update(1)
                bar.set_postfix(best=f"{best[0]:.3f}", last=f"{cand.fitness:.3f}")

        try:
            history = regularized_evolution(
                dps_space,
                fitness,
                budget=budget,
                population=population,
                tournament=tournament,
                mutate_ratio=mutate_ratio,
                seed=seed,
                known=known,
                on_step=on_step,
            )
        finally:
            if bar is not None:
                bar.close()
    top = max(history, key=lambda c: (c.rank_fitness, -c.step))
    result = DPSResult(run_name=run_name, best=top, history=history, labelled=keys)
    if out is not None:
        save_config(
            top.config,
            out,
            name=run_name,
            meta={
                "fitness_spearman": top.fitness,
                "step": top.step,
                "proposals": len(history),
                "unique_configs": len({c.config.key for c in history}),
                "labelled": [[k, a] for k, a in zip(keys, accs, strict=True)],
                "settings": settings,
            },
        )
    return result


def _progress(total: int, initial: int, name: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=f"DPS {name}", unit="config")
