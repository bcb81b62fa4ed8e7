"""Rank consistency of reduced-training settings (EcoNAS, Zhou et al., CVPR 2020, Sec. 3).

:func:`train_many` trains a set of architectures under a grid of settings into a
:class:`~archrank.econas.store.TrainingStore`, architecture by architecture, skipping what is stored (an interrupted
run restarted with the same arguments resumes). :func:`consistency_table` correlates each setting's accuracies with
a ground truth (e.g. NAS-Bench-201's 200-epoch CIFAR-10 test accuracy) and lists its cost; :func:`pareto_front`
and :func:`plot_consistency` show which settings are worth their cost.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import stats
from tqdm.auto import tqdm

from archrank.econas.data import RawData, TrainData, load_data, prepare
from archrank.econas.keeper import Keeper
from archrank.econas.parallel import settings_todo, train_on_executor
from archrank.econas.setting import Setting, parse_setting
from archrank.econas.store import TrainingStore
from archrank.econas.trainer import Recipe, TrainResult, reduced_build_kwargs, variant_tag
from archrank.executors import Executor
from archrank.executors.base import one_line
from archrank.spaces import Arch, SearchSpace

# One factor varied at a time around c4r4s0e5 (c4r4: the zero-cost paper's EcoNAS proxy on NB201, Abdelfattah et
# al.), chosen to stay affordable on a shared CPU: c (c4, c8), r (r4, r8), s (s0, s1; s1e10 has the iterations of
# s0e5, for EcoNAS's "more samples, fewer epochs" finding) and e (5, 10).
DEFAULT_GRID: tuple[str, ...] = ("c4r4s0e5", "c8r4s0e5", "c4r8s0e5", "c4r4s1e5", "c4r4s1e10", "c4r4s0e10")
# Dearer settings (wider, longer) for a second pass when time allows.
EXTENDED_GRID: tuple[str, ...] = ("c8r4s0e10", "c4r8s0e10", "c4r4s1e20", "c2r4s0e10", "c4r4s0e20")
# The full-data study (issue 16): one factor at a time around c4r4s0e* and c4r2s0e* (epochs 5-30; channels c2/c8,
# samples s1 and resolution r1 at e10), plus c4r4s0e60 (the README's reading of EcoNAS's recommended proxy), in
# increasing order of estimated cost so that a partial run holds the cheap settings complete.
FULL_STUDY_GRID: tuple[str, ...] = (
    "c4r4s1e5", "c4r4s0e5", "c4r4s1e10", "c8r4s0e10", "c4r4s0e10", "c2r4s0e10", "c4r2s0e5", "c4r2s1e10",
    "c4r4s0e20", "c4r2s0e10", "c8r2s0e10", "c4r4s0e30", "c2r2s0e10", "c4r2s0e20", "c4r2s0e30", "c4r1s0e10",
    "c4r4s0e60",
)


def train_many(
    space: SearchSpace,
    archs: Iterable[Arch],
    settings: Sequence[str | Setting],
    data: RawData | tuple[str, Any] | str,
    store: TrainingStore,
    seeds: Sequence[int] = (0,),
    device: str | torch.device = "cpu",
    recipe: Recipe | None = None,
    width_kwarg: Mapping[str, int] | None = None,
    build_kwargs: Mapping[str, Any] | None = None,
    progress: bool = True,
    on_result: Callable[[TrainResult], None] | None = None,
    executor: Executor | None = None,
    stack: int = 1,
) -> int:
    """Train every (architecture, setting, seed) not yet in ``store``; returns how many trainings ran.

    ``executor`` (e.g. ``make_executor("ray", address="auto")``) spreads the trainings over worker processes or
    a cluster, one torch thread each (:mod:`archrank.econas.parallel`); by default they run here, in order.

    Architectures are the outer loop, so at any moment the store holds complete grids for a prefix of ``archs``.
    Each result is committed as soon as it exists. A training that raises (out of memory, a cell the trainer cannot
    build) is stored as ``failed`` with its reason (:meth:`TrainingStore.failures`) and the run goes on; the next
    run tries it again. Data is loaded once and reduced once per (r, s, seed).

    ``stack > 1`` (NB201, no executor) makes settings the outer loop instead, in the order given (put the cheapest
    first), and trains up to ``stack`` missing architectures of a setting together as one stacked network
    (:func:`archrank.econas.batched.train_stacked`; fewer at larger resolutions or widths, see :func:`stack_size`),
    so each setting completes before the next starts.
    """
    recipe = recipe or Recipe()
    parsed = [parse_setting(s) for s in settings]
    raw = load_data(data)
    cache: dict[tuple[int, int, int], TrainData] = {}
    tag = variant_tag(space, recipe, width_kwarg, build_kwargs)
    device_type = torch.device(device).type
    done = {(str(s), seed): store.done(space.name, str(s) + tag, seed, raw.key, device_type)
            for s in parsed for seed in seeds}
    keeper = Keeper(store, done, space.name, raw.key, str(torch.device(device)), tag, on_result)
    arch_list = list(archs)
    if stack > 1:
        if executor is not None:
            raise ValueError("stacked training (stack > 1) runs in this process: pass no executor")
        _train_stacked_many(space, arch_list, parsed, raw, seeds, device, recipe, width_kwarg, build_kwargs, stack,
                            keeper)
        return keeper.ran
    if executor is not None:
        todo = settings_todo([space.key(a) for a in arch_list], parsed, seeds, done)
        train_on_executor(executor, space, todo, raw, keeper, device=str(device), recipe=recipe,
                          width_kwarg=width_kwarg, build_kwargs=build_kwargs, progress=progress)
        return keeper.ran
    bar = tqdm(arch_list, disable=not progress, desc="econas", unit="arch")
    for arch in bar:
        key = space.key(arch)
        for setting in parsed:
            for seed in seeds:
                if key in done[(str(setting), seed)]:
                    continue
                cache_key = (setting.resolution_divisor, setting.s, seed)
                if cache_key not in cache:
                    cache[cache_key] = prepare(raw, setting, seed)
                keeper.train_alone(space, arch, setting, cache[cache_key], seed, device, recipe, width_kwarg,
                                   build_kwargs)
    return keeper.ran


def stack_size(stack: int, side: int, width: int) -> int:
    """How many networks to stack for inputs of ``side`` pixels and width ``width``: ``stack`` at the c4r4 size
    (8×8 inputs, C=4), fewer for larger activations (and never more than ``stack``), so a stacked training holds
    about the memory of ``stack`` c4r4 networks (~2 GB for 32 at batch 256) whatever the setting."""
    return max(1, min(stack, stack * 8 * 8 * 4 // (side * side * width)))


def _train_stacked_many(
    space: SearchSpace,
    archs: list[Arch],
    settings: list[Setting],
    raw: RawData,
    seeds: Sequence[int],
    device: str | torch.device,
    recipe: Recipe,
    width_kwarg: Mapping[str, int] | None,
    build_kwargs: Mapping[str, Any] | None,
    stack: int,
    keeper: Keeper,
) -> None:
    """The ``stack > 1`` branch of :func:`train_many`: setting by setting, ``stack`` architectures at a time. A stack
    whose training raises is trained again network by network, so one failing architecture (or a stack too large
    for memory) costs only its own result."""
    from archrank.econas.batched import train_stacked

    for setting in settings:
        for seed in seeds:
            todo = [a for a in archs if space.key(a) not in keeper.done[(str(setting), seed)]]
            if not todo:
                continue
            prepared = prepare(raw, setting, seed)
            width = sum(reduced_build_kwargs(space, setting, width_kwarg).values()) or 1
            size = stack_size(stack, prepared.side, width)
            for start in range(0, len(todo), size):
                chunk = todo[start : start + size]
                try:
                    results = train_stacked(space, chunk, setting, prepared, seed=seed, device=device, recipe=recipe,
                                            width_kwarg=width_kwarg, build_kwargs=build_kwargs)
                except Exception as exc:  # e.g. out of memory, one cell the stacked network cannot hold
                    tqdm.write(f"econas: a stack of {len(chunk)} under {setting} failed ({one_line(exc)}); "
                               "training its networks one by one", file=sys.stderr)
                    for arch in chunk:
                        keeper.train_alone(space, arch, setting, prepared, seed, device, recipe, width_kwarg,
                                           build_kwargs)
                    continue
                for result in results:
                    keeper.keep(result)


def nb201_truth(space: SearchSpace, metric: str = "cifar10_test_acc") -> pd.Series:
    """NAS-Bench-201's 200-epoch metric per arch key (from the shared table)."""
    from archrank.bench.tables import load_nb201_cifar10

    return load_nb201_cifar10(space)[metric]


def consistency_table(
    results: pd.DataFrame,
    truth: pd.Series,
    settings: Sequence[str] | None = None,
    common_only: bool = True,
) -> pd.DataFrame:
    """Spearman / Kendall of each setting's accuracy (mean over seeds) against ``truth``, with its cost.

    ``results`` is :meth:`TrainingStore.results` output; ``truth`` maps arch keys to the reference accuracy.
    ``common_only`` restricts every setting to the architectures trained under all of them, so the rows compare
    like with like. Cost columns: mean wall and CPU seconds per architecture, and the FLOP model
    ``epochs × relative_cost`` (:meth:`Setting.relative_cost`), in units of one full-size epoch.
    """
    frame = results[results["arch_key"].isin(truth.index)]
    if settings is not None:
        frame = frame[frame["setting"].isin(list(settings))]
    if frame.empty:
        return pd.DataFrame()
    per_arch = frame.groupby(["setting", "arch_key"], as_index=False).agg(
        accuracy=("accuracy", "mean"), seconds=("seconds", "mean"), cpu_seconds=("cpu_seconds", "mean"),
        seeds=("seed", "nunique"),
    )
    names = list(settings) if settings is not None else sorted(per_arch["setting"].unique())
    names = [n for n in names if n in set(per_arch["setting"])]
    if common_only:
        counts = per_arch.groupby("arch_key")["setting"].nunique()
        keep = counts[counts == len(names)].index
        per_arch = per_arch[per_arch["arch_key"].isin(keep)]
    rows = []
    for name in names:
        part = per_arch[per_arch["setting"] == name]
        if len(part) < 3:
            continue
        reference = truth.reindex(part["arch_key"]).to_numpy(dtype=float)
        acc = part["accuracy"].to_numpy(dtype=float)
        setting = parse_setting(name.partition("|")[0])
        rho = stats.spearmanr(acc, reference)
        rows.append(
            {
                "setting": name,
                "archs": len(part),
                "seeds": int(part["seeds"].min()),
                "spearman": float(rho.statistic),
                "spearman_p": float(rho.pvalue),
                "kendall": float(stats.kendalltau(acc, reference).statistic),
                "mean_accuracy": float(acc.mean()),
                "seconds_per_arch": float(part["seconds"].mean()),
                "cpu_seconds_per_arch": float(part["cpu_seconds"].mean()),
                "model_cost_epochs": setting.epochs * setting.relative_cost(),
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty:
        table["pareto"] = pareto_front(table["cpu_seconds_per_arch"].to_numpy(), table["spearman"].to_numpy())
    return table


def markdown_table(frame: pd.DataFrame, digits: int = 3) -> str:
    """A GitHub-markdown table of ``frame`` (floats rounded to ``digits``), without optional dependencies."""

    def cell(value: Any) -> str:
        if isinstance(value, (float, np.floating)):
            return f"{value:.{digits}f}"
        return str(value)

    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *body])


def pareto_front(cost: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Boolean mask of points no other point beats (cost no higher and quality no lower, one strictly)."""
    cost, quality = np.asarray(cost, dtype=float), np.asarray(quality, dtype=float)
    mask = np.ones(len(cost), dtype=bool)
    for i in range(len(cost)):
        dominated = (cost <= cost[i]) & (quality >= quality[i]) & ((cost < cost[i]) | (quality > quality[i]))
        mask[i] = not dominated.any()
    return mask


def plot_consistency(
    table: pd.DataFrame,
    path: str | Path,
    caption: str,
    cost: str = "cpu_seconds_per_arch",
    references: Mapping[str, float] | None = None,
) -> Path:
    """Spearman vs cost per architecture (log scale), Pareto front joined, ``caption`` printed under the plot;
    ``references`` (name -> Spearman, e.g. zero-cost baselines on the same architectures) drawn as dotted lines."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    front = table[table["pareto"]].sort_values(cost)
    ax.scatter(table[cost], table["spearman"], c=np.where(table["pareto"], "tab:red", "tab:blue"), zorder=3)
    ax.plot(front[cost], front["spearman"], color="tab:red", lw=1, ls="--", label="Pareto front", zorder=2)
    for i, (_, row) in enumerate(table.sort_values(cost).iterrows()):
        ax.annotate(row["setting"], (row[cost], row["spearman"]), textcoords="offset points",
                    xytext=(5, 5 if i % 2 == 0 else -11), fontsize=8)
    for i, (name, value) in enumerate((references or {}).items()):
        ax.axhline(value, color=f"C{i + 2}", ls=":", lw=1.2, label=f"{name} (no training): ρ={value:.2f}")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.set_xlabel("CPU seconds per architecture (1 thread)" if "cpu" in cost else cost.replace("_", " "))
    ax.set_ylabel("Spearman ρ vs NB201 200-epoch CIFAR-10 test acc")
    return save_captioned(fig, ax, caption, path, bottom=0.1)


def save_captioned(fig: Any, ax: Any, caption: str, path: str | Path, bottom: float,
                   legend_outside: bool = False) -> Path:
    """Finish an EcoNAS figure the same way everywhere: grid, legend (in the lower right corner, or right of the
    plot with ``legend_outside``, where curves fill the whole plot), ``caption`` under the plot (the lowest
    ``bottom`` fraction of the figure), PNG at 130 dpi; the figure is closed."""
    import matplotlib.pyplot as plt

    ax.grid(alpha=0.3)
    if legend_outside:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    else:
        ax.legend(loc="lower right")
    fig.text(0.01, 0.01, caption, fontsize=7.5, wrap=True, va="bottom")
    fig.tight_layout(rect=(0, bottom, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
