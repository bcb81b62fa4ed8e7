"""Hierarchical vs flat evolution on the table oracle, over many seeds (EcoNAS, Zhou et al., CVPR 2020, Sec. 4).

Each method runs once per seed with its own :class:`~archrank.econas.hierarchical.TableOracle` (same seed, so the
same simulated noise draws per architecture); the true accuracy of each run's pick is read on a common grid of
simulated costs, and the median and quartiles over seeds are reported and plotted.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from archrank.econas.consistency import save_captioned
from archrank.econas.hierarchical import (
    DEFAULT_TIERS,
    HierarchicalConfig,
    TableOracle,
    flat_evolution,
    hierarchical_search,
    on_grid,
)
from archrank.spaces import SearchSpace

SIMULATION_NOTE = (
    "SIMULATED: table oracle, accuracy after e epochs = NB201 200-epoch test accuracy + noise shrinking with e "
    "(noise_at_ref={noise_at_ref}, ref_epochs={ref_epochs}, decay={noise_decay}, persistence={persistence}); cost = "
    "NB201 cifar10-valid training time per epoch × epochs (promotions pay only the extra epochs)."
)


def compare_searches(
    space: SearchSpace,
    table: pd.DataFrame,
    seeds: Sequence[int],
    budget: float,
    tiers: Sequence[str] = DEFAULT_TIERS,
    config: HierarchicalConfig | None = None,
    population: int = 20,
    tournament: int = 5,
    grid_points: int = 60,
    oracle_kwargs: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Long table (method, seed, cost, true_accuracy) of hierarchical search, flat evolution at the top tier and
    flat evolution at the cheapest tier, each read on the same cost grid."""
    grid = np.linspace(budget / grid_points, budget, grid_points)
    rows = []
    for seed in seeds:
        runs = {
            "hierarchical": lambda o, s=seed: hierarchical_search(space, o, budget, config, seed=s),
            f"flat (top tier, e{tiers[-1].split('e')[-1]})": lambda o, s=seed: flat_evolution(
                space, o, budget, tier=-1, population=population, tournament=tournament, seed=s
            ),
            f"flat (cheapest tier, e{tiers[0].split('e')[-1]})": lambda o, s=seed: flat_evolution(
                space, o, budget, tier=0, population=population, tournament=tournament, seed=s
            ),
        }
        for method, run in runs.items():
            oracle = TableOracle(space, table, tiers=tuple(tiers), seed=seed, **(oracle_kwargs or {}))
            values = on_grid(run(oracle), grid)
            rows.extend(
                {"method": method, "seed": seed, "cost": c, "true_accuracy": v}
                for c, v in zip(grid, values, strict=True)
            )
    return pd.DataFrame(rows)


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """Median and quartiles of the pick's true accuracy per (method, cost)."""
    grouped = frame.groupby(["method", "cost"])["true_accuracy"]
    out = grouped.agg(median="median", q25=lambda v: v.quantile(0.25), q75=lambda v: v.quantile(0.75), runs="count")
    return out.reset_index()


def plot_comparison(summary: pd.DataFrame, path: str | Path, caption: str, cost_unit: float = 3600.0) -> Path:
    """Median (line) and interquartile band of the pick's true accuracy vs simulated cost (hours by default)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    for method, part in summary.groupby("method", sort=False):
        x = part["cost"] / cost_unit
        ax.plot(x, part["median"], label=method)
        ax.fill_between(x, part["q25"], part["q75"], alpha=0.2)
    ax.set_xlabel("simulated training cost (GPU hours, NB201 timings)")
    ax.set_ylabel("true NB201 CIFAR-10 test acc of the pick (%)")
    return save_captioned(fig, ax, caption, path, bottom=0.12)
