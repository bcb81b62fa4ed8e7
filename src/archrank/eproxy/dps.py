"""Discrete Proxy Search (DPS): tune Eproxy's configuration to a search space or task from a few labelled
architectures (Li et al., "Extensible Proxy for Efficient NAS", arXiv 2210.09459).

DPS is a search: archrank's one regularised evolution (:class:`~archrank.search.samplers.rea.RegularizedEvolution`)
driven by :func:`archrank.search.run` over :class:`~archrank.eproxy.dps_space.DPSSpace`, whose architectures are
Eproxy configurations, against :class:`DPSFitness`, an oracle whose "accuracy" is the Spearman correlation between
a configuration's Eproxy values and the accuracies of ~20 labelled architectures (NaN when undefined: it ranks
below every number in tournaments). As in the paper and its public code: ``population`` (40) configurations
first, then tournaments of ``tournament`` (10) among the ``population`` most recent ones, the winner mutated
(each gene resampled with probability ``mutate_ratio`` = 0.2), until ``budget`` (200) proposals.

Every proposal is one trial of the run (kind ``dps``) and every per-architecture Eproxy score a measurement, in
the results store; the labelled architectures are recorded with the run (any evaluation of the tuned proxy must
exclude them). An interrupted run resumes like any search (the recorded steps are replayed into a fresh sampler;
nothing is re-evaluated) and can be continued with a larger budget.

Robustness to the labels' noise (20 points: the standard error of ρ is about 0.1, so the fittest of many
proposals is mostly selection noise). Two measures, on by default:

- ``start_from``: the first proposal is a known good configuration (default: the base preset itself), so the
  population holds it and the search can only replace it by something that looks better;
- ``select="confident"``: the result is the fittest configuration whose advantage over ``start_from`` holds in
  at least ``confidence`` of bootstrap resamples of the labelled set (held-in bootstrap: the same 20 labels,
  resampled with replacement; no new evaluation), else ``start_from`` itself. ``select="fittest"`` returns the
  fittest proposal, as the paper does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from archrank.eproxy.config import EproxyConfig, save_config
from archrank.eproxy.dps_space import DPSSpace, Genotype
from archrank.eproxy.evaluate import input_hash, rank_metrics, score_archs
from archrank.eproxy.presets import resolve_config
from archrank.eproxy.store import EproxyStore
from archrank.executors import Executor
from archrank.search.history import History
from archrank.search.oracles import Oracle, OracleResult
from archrank.spaces import Arch, SearchSpace

__all__ = ["SELECTIONS", "Candidate", "DPSFitness", "DPSResult", "dps_fitness", "run_dps", "select_confident"]

SELECTIONS = ("confident", "fittest")
DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP = 1000
DEFAULT_FINALISTS = 5


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
        """Fitness used for ranking: −1 where undefined, as in the reference code."""
        return self.fitness if math.isfinite(self.fitness) else -1.0


def dps_fitness(values: Sequence[float], accuracies: Sequence[float]) -> float:
    """Spearman ρ of Eproxy values against accuracies; an architecture whose value is undefined ranks last."""
    if sum(1 for v in values if math.isfinite(v)) < 2:
        return math.nan
    return rank_metrics(values, accuracies)["spearman"]


class DPSFitness(Oracle):
    """The oracle of DPS: a configuration's fitness on the labelled architectures, and what scoring them cost.

    Scores are read from and written to ``store`` (so a configuration proposed again, or by another run on the
    same labels, costs no new evaluation but is still charged its recorded seconds). The reported "test" value
    is the fitness too: DPS has no other accuracy to report.
    """

    def __init__(
        self,
        space: SearchSpace,
        dps_space: DPSSpace,
        labelled: Sequence[tuple[Any, float]],
        batch: Any = None,
        *,
        seed: int = 0,
        device: str = "cpu",
        store: EproxyStore | None = None,
        executor: Executor | None = None,
    ) -> None:
        self.space, self.dps_space = space, dps_space
        self.executor = executor
        self.archs = [space.parse(a) for a, _ in labelled]
        self.accuracies = [float(acc) for _, acc in labelled]
        self.keys = [space.key(a) for a in self.archs]
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("the labelled architectures must be distinct")
        self.batch, self.seed, self.device, self.store = batch, seed, device, store
        self.batch_hash = input_hash(dps_space.base, batch)

    def values(self, arch: Arch) -> list[float]:
        """The configuration's Eproxy value of each labelled architecture (NaN where undefined)."""
        return [r["value"] for r in self._scores(arch)]

    def _scores(self, arch: Arch) -> list[dict[str, Any]]:
        config = self.dps_space.config(arch)
        if self.store is not None:
            self.store.put_config(config)
        scores = score_archs(self.space, self.archs, config, self.batch, seed=self.seed, device=self.device,
                             store=self.store, executor=self.executor)
        return [scores[k] for k in self.keys]

    def query(self, arch: Arch, fidelity: int | str | None = None) -> OracleResult:
        records = self._scores(arch)
        fitness = dps_fitness([r["value"] for r in records], self.accuracies)
        seconds = float(sum(r["seconds"] or 0.0 for r in records))
        return OracleResult(fitness, fitness, seconds)

    def describe(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "space": self.space.name, "seed": self.seed,
                "batch_hash": self.batch_hash, "labelled": self.labelled()}

    def labelled(self) -> list[list[Any]]:
        return [[k, a] for k, a in zip(self.keys, self.accuracies, strict=True)]


class _DPSRecorder:
    """Records a DPS search as a ``dps`` run of the store (through :class:`EproxyStore`): each query one step
    with its config key and genotype, the fitness as the step's value; replays it for a resume."""

    def __init__(self, store: EproxyStore, dps_space: DPSSpace, oracle: DPSFitness, settings: dict[str, Any]) -> None:
        self.store, self.dps_space, self.oracle, self.settings = store, dps_space, oracle, settings

    def start(self, run_name: str, seed: int, space: str, algorithm: str, config: dict[str, Any]) -> int:
        settings = {**self.settings, "search": {k: v for k, v in config.items() if k != "oracle"}}
        return self.store.start_dps_run(run_name, self.oracle.space.name, settings, self.oracle.labelled())

    def queries(self, run_name: str, seed: int) -> pd.DataFrame:
        rows = []
        cumulative = 0.0
        for step in self.store.dps_history(run_name):
            seconds = float(step["seconds"] or 0.0)
            cumulative += seconds
            key = self.dps_space.key(self.dps_space.from_genotype(step["genotype"]))
            rows.append({"step": step["step"], "arch_key": key, "valid": step["fitness"], "test": step["fitness"],
                         "cost_s": seconds, "proxy_s": 0.0, "cumulative_cost_s": cumulative, "fidelity": None})
        return pd.DataFrame(rows, columns=["step", "arch_key", "valid", "test", "cost_s", "proxy_s",
                                           "cumulative_cost_s", "fidelity"])

    def record(self, run_name: str, seed: int, step: int, key: str, valid: float, test: float, cost_s: float,
               proxy_s: float, cumulative_cost_s: float, fidelity: str | None = None) -> bool:
        arch = self.dps_space.from_str(key)
        self.store.put_dps_step(run_name, step, self.dps_space.config(arch).key, None, self.dps_space.genotype(arch),
                                valid, cost_s)
        return True

    def finish(self, run_name: str, seed: int, status: str = "done") -> None:
        run_id = self.store.store.find_run("dps", run_name)
        if run_id is not None:
            self.store.store.finish_run(run_id, status)


def select_confident(
    oracle: DPSFitness,
    candidates: Sequence[Arch],
    reference: Arch,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_BOOTSTRAP,
    seed: int = 0,
) -> tuple[Arch, dict[str, float]]:
    """The first of ``candidates`` (fittest first) whose Spearman ρ on the labelled set beats ``reference``'s in
    at least ``confidence`` of ``n_boot`` bootstrap resamples of the labelled architectures, else ``reference``;
    with the win rate of every candidate (keyed by config key). Reads the stored scores: nothing is recomputed."""
    from scipy.stats import rankdata

    acc = np.asarray(oracle.accuracies, dtype=float)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(acc), size=(n_boot, len(acc)))

    def boot_rho(values: Sequence[float]) -> np.ndarray:
        v = np.asarray(values, dtype=float)
        v = np.where(np.isnan(v), np.nanmin(v) - 1.0 if np.isfinite(v).any() else 0.0, v)  # undefined ranks last
        out = np.empty(n_boot)
        for i, idx in enumerate(draws):
            a, b = rankdata(v[idx]), rankdata(acc[idx])
            if a.std() == 0 or b.std() == 0:
                out[i] = np.nan
            else:
                out[i] = np.corrcoef(a, b)[0, 1]
        return out

    ref = boot_rho(oracle.values(reference))
    rates: dict[str, float] = {}
    for arch in candidates:
        rho = boot_rho(oracle.values(arch))
        ok = ~(np.isnan(rho) | np.isnan(ref))
        rate = float(np.mean(rho[ok] > ref[ok])) if ok.any() else 0.0
        rates[oracle.dps_space.config(arch).key] = rate
        if rate >= confidence:
            return arch, rates
    return reference, rates


@dataclass(frozen=True)
class DPSResult:
    """Outcome of :func:`run_dps`: the chosen config (``best``), the fittest proposal, every candidate, the
    labelled arch keys, and how the choice was made (``selection``; bootstrap win rates in ``win_rates``)."""

    run_name: str
    best: Candidate
    history: list[Candidate]
    labelled: list[str]
    fittest: Candidate | None = None
    selection: str = "fittest"
    win_rates: dict[str, float] | None = None

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
    mutate_ratio: float | None = None,
    seed: int = 0,
    eval_seed: int = 0,
    device: str = "cpu",
    start_from: Any = "base",
    select: str = "confident",
    confidence: float = DEFAULT_CONFIDENCE,
    progress: bool = True,
    out: str | Path | None = None,
    executor: Executor | None = None,
) -> DPSResult:
    """Discrete Proxy Search on ``space`` with ``labelled`` (architecture, accuracy) pairs; resumable.

    Every proposal is stored in ``store_path`` under ``run_name`` (with every architecture's score, so even a
    half-evaluated config resumes); the labelled architectures are recorded with the run. ``budget`` is not part of
    the run's identity: rerunning with a larger budget continues the search. ``start_from``: the first proposal
    (``"base"``: the DPS space's base config; a preset name, a config or a JSON path; ``None``: none, as in the
    paper). ``select``: ``"confident"`` or ``"fittest"`` (module doc). ``out``: write the chosen config as JSON
    there (usable as ``create_proxy("eproxy", config=out)``). ``executor``: where each proposal's labelled
    architectures are scored (worker processes or a Ray cluster; default here, one after the other).
    """
    from archrank import search

    if select not in SELECTIONS:
        raise ValueError(f"select must be one of {', '.join(SELECTIONS)}, got {select!r}")
    dps_space = dps_space or DPSSpace()
    if mutate_ratio is not None and mutate_ratio != dps_space.mutate_ratio:
        from dataclasses import replace

        dps_space = replace(dps_space, mutate_ratio=mutate_ratio)
    if not 1 <= tournament <= population:
        raise ValueError(f"need 1 <= tournament ({tournament}) <= population ({population})")
    reference = _start_arch(dps_space, start_from)
    if select == "confident" and reference is None:
        raise ValueError("select='confident' compares with start_from: give one, or use select='fittest'")
    settings = {"space": space.name, "dps_space": dps_space.to_dict(), "eval_seed": eval_seed,
                "select": select, "confidence": confidence if select == "confident" else None}
    with EproxyStore(store_path) as store:
        oracle = DPSFitness(space, dps_space, labelled, batch, seed=eval_seed, device=device, store=store,
                            executor=executor)
        settings["batch_hash"] = oracle.batch_hash
        recorder = _DPSRecorder(store, dps_space, oracle, settings)
        hist = search.run(
            dps_space, "rea", oracle, budget=budget, seed=seed, store=recorder, run_name=run_name,
            progress=progress, population_size=population, sample_size=tournament,
            start_with=[] if reference is None else [reference],
        )
        history = _candidates(dps_space, hist)
        fittest = max(history, key=lambda c: (c.rank_fitness, -c.step))
        best, rates = fittest, None
        if select == "confident" and reference is not None:
            finalists = _finalists(dps_space, hist, DEFAULT_FINALISTS)
            chosen, rates = select_confident(oracle, finalists, reference, confidence=confidence, seed=seed)
            key = dps_space.key(chosen)
            best = next(c for c in history if dps_space.key(dps_space.from_genotype(c.genotype)) == key)
    result = DPSResult(run_name=run_name, best=best, history=history, labelled=oracle.keys, fittest=fittest,
                       selection=select, win_rates=rates)
    if out is not None:
        save_config(best.config, out, name=run_name, meta={
            "fitness_spearman": best.fitness, "step": best.step, "proposals": len(history),
            "unique_configs": len({c.config.key for c in history}), "labelled": oracle.labelled(),
            "selection": select, "fittest_spearman": fittest.fitness, "win_rates": rates, "settings": settings,
        })
    return result


def _start_arch(dps_space: DPSSpace, start_from: Any) -> Arch | None:
    if start_from is None:
        return None
    config = dps_space.base if isinstance(start_from, str) and start_from == "base" else resolve_config(start_from)
    try:
        return dps_space.arch_of(config)
    except ValueError as exc:
        raise ValueError(f"start_from is not a configuration of the DPS space ({exc}); use start_from=None") from None


def _candidates(dps_space: DPSSpace, hist: History) -> list[Candidate]:
    out = []
    for step, (query, seconds) in enumerate(zip(hist.queries, hist.train_seconds, strict=True)):
        genotype = dps_space.genotype(query.arch)
        out.append(Candidate(step, genotype, dps_space.config(query.arch), query.valid, None, seconds))
    return out


def _finalists(dps_space: DPSSpace, hist: History, k: int) -> list[Arch]:
    """The ``k`` fittest distinct configurations (finite fitness), fittest first (earliest on ties)."""
    finite = [i for i in range(len(hist)) if math.isfinite(hist.queries[i].valid)]  # NaN would break the sort
    order = sorted(finite, key=lambda i: (-hist.queries[i].valid, i))
    seen: set[str] = set()
    out = []
    for i in order:
        arch, value = hist.queries[i].arch, hist.queries[i].valid
        key = dps_space.canonical(arch)
        if not math.isfinite(value) or key in seen:
            continue
        seen.add(key)
        out.append(arch)
        if len(out) == k:
            break
    return out


