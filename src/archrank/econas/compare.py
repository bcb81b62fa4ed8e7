"""EcoNAS's hierarchy against flat evolution and zero-cost-guided evolution at equal compute, over many seeds.

Each method is a function ``seed -> History`` (a search through :func:`archrank.search.run` stopped at the same
``max_cost``); the reported test accuracy of each run's pick is read on a common grid of costs, and the median and
quartiles over seeds are reported and plotted. :func:`real_fidelity_methods` builds the comparison of issue 16 on
a multi-fidelity oracle (e.g. NB201 at 12 and 200 epochs): the hierarchy, flat REA at each fidelity, REA with
zero-cost warmup and move proposal, and the zero-cost-warmed hierarchy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from archrank.econas.consistency import save_captioned
from archrank.econas.hierarchical import HierarchicalConfig, flat_evolution, hierarchical_search, on_grid
from archrank.search.history import History
from archrank.search.oracles import Oracle
from archrank.search.proxy import ProxyScorer
from archrank.spaces import SearchSpace

Method = Callable[[int], History]


def real_fidelity_methods(
    space: SearchSpace,
    oracle: Oracle,
    max_cost: float,
    zero_cost: ProxyScorer | None = None,
    warmup: int = 3000,
    config: HierarchicalConfig | None = None,
) -> dict[str, Method]:
    """The searches compared at equal compute on ``oracle`` (two or more fidelities, cheapest first).

    Flat REA uses NB201's REA baseline (population 10, tournament 3). With a ``zero_cost`` scorer (forked per
    seed, so each seed pays for the scores it uses), REA and the hierarchy also run with a warmup pool of
    ``warmup`` random cells and move proposal by that proxy.
    """
    low, high = oracle.fidelities[0], oracle.fidelities[-1]
    methods: dict[str, Method] = {
        f"hierarchical ({low} -> {high})": lambda s: hierarchical_search(space, oracle, max_cost, config, seed=s),
        f"REA @ {high}": lambda s: flat_evolution(space, oracle, max_cost, high, population=10, tournament=3, seed=s),
        f"REA @ {low}": lambda s: flat_evolution(space, oracle, max_cost, low, population=10, tournament=3, seed=s),
    }
    if zero_cost is not None:
        name = zero_cost.name

        def guided(s: int) -> dict[str, object]:
            return {"warmup": (name, warmup), "move": name, "proxy_scorer": {name: zero_cost.fork()}}

        methods[f"REA @ {high} + {name} warmup & move"] = lambda s: flat_evolution(
            space, oracle, max_cost, high, population=10, tournament=3, seed=s, **guided(s))
        methods[f"hierarchical + {name} warmup & move"] = lambda s: hierarchical_search(
            space, oracle, max_cost, config, seed=s, **guided(s))
    return methods


def compare_searches(
    methods: Mapping[str, Method], seeds: Sequence[int], max_cost: float, grid_points: int = 60
) -> pd.DataFrame:
    """Long table (method, seed, cost, test accuracy of the pick, queries per fidelity so far) of every method
    and seed, read on a cost grid of ``grid_points`` up to ``max_cost``; rows seed by seed, each seed's methods in
    the given order (so :func:`summarize` keeps that order)."""
    grid = np.linspace(max_cost / grid_points, max_cost, grid_points)
    rows = []
    # seed by seed across the methods: with real trainings cached in a store, a run stopped part-way has trained
    # every method on the same seeds, and a rerun with fewer seeds replays them from the store
    for seed in seeds:
        for method, search in methods.items():
            hist = search(seed)
            values = on_grid(hist, grid)
            costs = np.array([q.cumulative_cost_s for q in hist.queries])
            levels = np.array(hist.levels)
            for cost, value in zip(grid, values, strict=True):
                done = levels[costs <= cost]
                row = {"method": method, "seed": seed, "cost": cost, "test_accuracy": value}
                row.update({f"queries {f}": int(np.sum(done == i)) for i, f in enumerate(hist.fidelities)})
                rows.append(row)
    return pd.DataFrame(rows)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles of the pick's test accuracy per (method, cost), and the median queries per fidelity."""
    grouped = frame.groupby(["method", "cost"], sort=False)
    out = grouped["test_accuracy"].agg(median="median", q25=lambda v: v.quantile(0.25),
                                       q75=lambda v: v.quantile(0.75), runs="count")
    queries = [c for c in frame.columns if c.startswith("queries ")]
    if queries:
        out = out.join(grouped[queries].median())
    return out.reset_index()


def plot_comparison(summary: pd.DataFrame, path: str | Path, caption: str, cost_unit: float = 3600.0,
                    ylabel: str = "NB201 CIFAR-10 test acc of the pick (%)",
                    xlabel: str = "training cost (GPU hours, NB201's own timings)") -> Path:
    """Median (line) and interquartile band of the pick's test accuracy vs cost (GPU hours by default); the legend
    sits right of the plot, since the curves of searches that stay low for long run through every corner."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10.5, 5.6))
    for method, part in summary.groupby("method", sort=False):
        x = part["cost"] / cost_unit
        ax.plot(x, part["median"], label=method)
        ax.fill_between(x, part["q25"], part["q75"], alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return save_captioned(fig, ax, caption, path, bottom=0.13, legend_outside=True)
