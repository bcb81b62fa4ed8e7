"""Median / inter-quartile plots of search trajectories over seeds (matplotlib, imported lazily).

The plotted quantity is the test accuracy of the incumbent, the architecture with the best validation accuracy
so far, against the number of trained architectures and against the simulated cost (training plus proxy
seconds). A run that stopped early keeps its last incumbent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from archrank.search.history import History


def trajectories_frame(groups: Mapping[str, Sequence[History]]) -> pd.DataFrame:
    """Long frame ``variant, seed, step, incumbent_test, cumulative_cost_s`` from histories grouped by variant."""
    frames = []
    for variant, histories in groups.items():
        for hist in histories:
            if not len(hist):
                continue
            frame = hist.to_frame()[["seed", "step", "incumbent_test", "cumulative_cost_s"]]
            frames.append(frame.assign(variant=variant))
    if not frames:
        return pd.DataFrame(columns=["variant", "seed", "step", "incumbent_test", "cumulative_cost_s"])
    return pd.concat(frames, ignore_index=True)


def frame_from_store(trajectories: pd.DataFrame) -> pd.DataFrame:
    """The long frame from ``HistoryDB.trajectories()`` rows (variant = run name)."""
    rows = []
    for (run_name, seed), group in trajectories.groupby(["run_name", "seed"], sort=False):
        group = group.sort_values("step")
        valid, test = group["valid"].to_numpy(), group["test"].to_numpy()
        best = np.maximum.accumulate(valid)
        first_best = [int(np.flatnonzero(valid[: i + 1] == best[i])[0]) for i in range(len(valid))]
        rows.append(pd.DataFrame({
            "variant": run_name, "seed": seed, "step": group["step"].to_numpy() + 1,
            "incumbent_test": test[first_best], "cumulative_cost_s": group["cumulative_cost_s"].to_numpy(),
        }))
    return pd.concat(rows, ignore_index=True) if rows else trajectories_frame({})


def by_queries(frame: pd.DataFrame, variant: str, max_steps: int) -> np.ndarray:
    """Seeds x steps matrix of incumbent test accuracy, carried forward past a run's end."""
    out = []
    for _, group in frame[frame["variant"] == variant].groupby("seed"):
        values = group.sort_values("step")["incumbent_test"].to_numpy()
        padded = np.full(max_steps, values[-1])
        padded[: min(len(values), max_steps)] = values[:max_steps]
        out.append(padded)
    return np.array(out)


def by_cost(frame: pd.DataFrame, variant: str, grid: np.ndarray) -> np.ndarray:
    """Seeds x grid matrix: incumbent test accuracy once ``cost`` seconds are spent (NaN before any query)."""
    out = []
    for _, group in frame[frame["variant"] == variant].groupby("seed"):
        group = group.sort_values("step")
        cost, values = group["cumulative_cost_s"].to_numpy(), group["incumbent_test"].to_numpy()
        index = np.searchsorted(cost, grid, side="right") - 1
        out.append(np.where(index >= 0, values[np.clip(index, 0, None)], np.nan))
    return np.array(out)


def plot_trajectories(
    frame: pd.DataFrame,
    out_dir: str | Path,
    prefix: str = "search",
    title: str = "",
    threshold: float | None = None,
    max_steps: int | None = None,
) -> list[Path]:
    """Write ``<prefix>_queries.png`` and ``<prefix>_cost.png`` (median line, 25-75 % band per variant)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    variants = list(dict.fromkeys(frame["variant"]))
    steps = int(max_steps or frame["step"].max())
    positive = frame["cumulative_cost_s"][frame["cumulative_cost_s"] > 0]
    lo = float(positive.min()) if len(positive) else 1.0
    grid = np.geomspace(lo, max(float(frame["cumulative_cost_s"].max()), lo * 1.01), 300)
    paths = []
    for kind in ("queries", "cost"):
        fig, ax = plt.subplots(figsize=(7.5, 4.8))
        lows = []
        for variant in variants:
            if kind == "queries":
                x, values = np.arange(1, steps + 1), by_queries(frame, variant, steps)
            else:
                x, values = grid / 3600.0, by_cost(frame, variant, grid)
            enough = np.sum(~np.isnan(values), axis=0) * 2 >= len(values)
            x, values = x[enough], values[:, enough]
            if not values.size:
                continue
            q25, med, q75 = np.nanpercentile(values, [25, 50, 75], axis=0)
            (line,) = ax.plot(x, med, label=f"{variant} (n={len(values)})", lw=1.6)
            ax.fill_between(x, q25, q75, color=line.get_color(), alpha=0.18, lw=0)
            lows.append(np.nanmin(med[len(med) // 10 :]) if len(med) > 10 else np.nanmin(med))
        if threshold is not None:
            ax.axhline(threshold, color="k", ls=":", lw=1, label="top 0.1 % (test)")
        ax.set_xscale("log")
        ax.set_xlabel("trained architectures" if kind == "queries" else "simulated cost (GPU hours)")
        ax.set_ylabel("test accuracy of best-by-validation (%)")
        if lows:
            top = float(np.nanmax(frame["incumbent_test"]))
            ax.set_ylim(min(lows) - 0.3, top + 0.15)
        ax.grid(True, which="both", alpha=0.3)
        ax.set_title(title or prefix)
        ax.legend(fontsize=7, loc="lower right")
        fig.tight_layout()
        path = out_dir / f"{prefix}_{kind}.png"
        fig.savefig(path, dpi=120)
        plt.close(fig)
        paths.append(path)
    return paths
