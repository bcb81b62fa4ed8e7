"""EcoNAS's hierarchical-proxy search (Zhou et al., CVPR 2020, Sec. 4) on real fidelities, and its baselines.

The algorithm is archrank's one regularised evolution with EcoNAS's hierarchy as a policy over the oracle's
fidelities (:class:`~archrank.search.samplers.hierarchical.HierarchicalEvolution`): every child is trained at the
cheapest fidelity, the best of each level are periodically trained at the next one. Everything runs through
:func:`archrank.search.run`, so cost accounting, zero-cost warmup and move proposal, persistence and resume are the
search's own. Oracles with real fidelities:

- :meth:`TableOracle.nb201_fidelities <archrank.search.oracles.TableOracle.nb201_fidelities>`: every NB201 cell at
  12 epochs (the benchmark's own 12-epoch training; cost 12/200 of its 200-epoch time) and at 200 epochs (full
  time) — table lookups, so searches over all 15625 cells at scale cost nothing to run;
- :func:`training_oracle`: real reduced trainings at EcoNAS settings (e.g. ``c4r4s0e5`` then ``c4r4s0e20``), cached
  in the results store and reused across seeds, each charged its measured seconds.

A search's pick is the best architecture at the highest fidelity it reached; it is judged by the reported test
accuracy (the benchmark's 200-epoch test accuracy on NB201) against the cumulative cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from archrank.search.history import History
from archrank.search.oracles import Oracle, TableOracle, TrainingOracle, econas_oracle
from archrank.search.samplers.hierarchical import HierarchicalEvolution
from archrank.spaces import SearchSpace

UNBOUNDED = 10**9  # query budget of cost-limited searches: only max_cost stops them


@dataclass(frozen=True)
class HierarchicalConfig:
    """Hyper-parameters of the hierarchy (defaults are ours; EcoNAS does not fix them for NB201). ``None``
    capacities/weights: 30 members at the cheapest level halving upward, equal weights."""

    initial: int = 20
    tier_capacity: tuple[int, ...] | None = None
    tournament: int = 5
    promote_every: int = 5
    promote_top: int = 2
    tier_weights: tuple[float, ...] | None = None

    def kwargs(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


def hierarchical_search(
    space: SearchSpace,
    oracle: Oracle,
    max_cost: float,
    config: HierarchicalConfig | None = None,
    seed: int = 0,
    **run_kwargs: Any,
) -> History:
    """EcoNAS hierarchical evolution until the cumulative cost reaches ``max_cost`` seconds. ``run_kwargs`` go to
    :func:`archrank.search.run` (e.g. ``warmup=("synflow", 1000), move="synflow"``, ``store=``, ``run_name=``)."""
    from archrank import search

    return search.run(space, HierarchicalEvolution, oracle, budget=UNBOUNDED, max_cost=max_cost, seed=seed,
                      **(config or HierarchicalConfig()).kwargs(), **run_kwargs)


def flat_evolution(
    space: SearchSpace,
    oracle: Oracle,
    max_cost: float,
    fidelity: int | str | None = None,
    population: int = 20,
    tournament: int = 5,
    seed: int = 0,
    **run_kwargs: Any,
) -> History:
    """Regularised evolution (Real et al., AAAI 2019) with every child trained at one ``fidelity`` (default: the
    most faithful), until the cumulative cost reaches ``max_cost`` seconds."""
    from archrank import search

    return search.run(space, "rea", oracle, budget=UNBOUNDED, max_cost=max_cost, fidelity=fidelity, seed=seed,
                      population_size=population, sample_size=tournament, **run_kwargs)


def training_oracle(
    space: SearchSpace,
    tiers: Sequence[str],
    data: Any = ("cifar10", None),
    seed: int = 0,
    device: str = "cpu",
    store: Any = None,
    truth: Mapping[str, float] | None = None,
    cost: str = "wall",
    holdout: float | None = 0.1,
    **scorer_kwargs: Any,
) -> TrainingOracle:
    """Real reduced trainings as a multi-fidelity oracle: one fidelity per EcoNAS setting of ``tiers`` (cheapest
    first; a promotion retrains from scratch at the next setting and pays its seconds). Trainings are cached in
    ``store`` and reused across seeds; each is charged its ``cost`` seconds (``wall`` or ``cpu``). The searched
    accuracy is measured on a held-out ``holdout`` fraction of the training images (see
    :func:`archrank.search.oracles.econas_oracle`). ``truth`` (arch key -> benchmark accuracy) is the reported
    test value (NaN for a cell it lacks); by default the shared NB201 table on NB201."""
    import pandas as pd

    report = None
    if truth is not None:
        frame = pd.DataFrame({"truth": pd.Series(dict(truth), dtype=float)})
        report = TableOracle(frame, "truth", "truth", source="truth")
        report.space = space
    elif space.name == "nb201":
        try:
            report = TableOracle.nb201_cifar10(space)
        except FileNotFoundError:
            report = None
    return econas_oracle(space, list(tiers), data, seed=seed, device=device, report=report, store=store, cost=cost,
                         holdout=holdout, **scorer_kwargs)


def on_grid(hist: History, grid: np.ndarray) -> np.ndarray:
    """The reported test accuracy of the search's pick at each cost of ``grid`` (NaN before the first query)."""
    costs = np.array([q.cumulative_cost_s for q in hist.queries])
    values = hist.incumbent()[1] if len(hist) else np.array([])
    index = np.searchsorted(costs, grid, side="right") - 1
    out = np.full(len(grid), np.nan)
    ok = index >= 0
    out[ok] = values[index[ok]]
    return out
