"""EcoNAS rank consistency on NAS-Bench-201 (Zhou et al., CVPR 2020): reduced settings vs 200-epoch accuracy.

Trains a seeded uniform sample of NB201 architectures under a grid of reduced settings (one factor varied at a time
around c4r4s0e10) on the shared CIFAR-10 data (a 5085-image training subset: the first 1017 images of each official
batch; 1017 test images), stores every training in SQLite as it finishes (kill and rerun to resume), and writes
``consistency.md`` / ``.csv`` / ``.png`` plus the raw trainings to ``--out`` every ``--report-every`` architectures.

    nice -n 10 .venv/bin/python benchmarks/econas_consistency.py --archs 100 --store /tmp/econas.sqlite
    .venv/bin/python benchmarks/econas_consistency.py --report-only --store /tmp/econas.sqlite
"""

from __future__ import annotations

import argparse
import math
import platform
import re
import time
from pathlib import Path

import pandas as pd
import torch
from scipy import stats

from archrank import get_space
from archrank.econas import ZERO_COST_PAPER_SETTING, TrainingStore, load_data, save_trainings
from archrank.econas.consistency import (
    DEFAULT_GRID,
    consistency_table,
    markdown_table,
    nb201_truth,
    plot_consistency,
    train_many,
)

CAPTION = (
    "NB201, {archs} architectures (uniform sample, seed {sample_seed}), {seeds} seed(s) per setting. Training data: "
    "the shared CIFAR-10 5085-image training SUBSET (first 1017 images of each official batch, ~1/10 of CIFAR-10), "
    "tested on 1017 test images at the reduced resolution; reference: NB201 200-epoch CIFAR-10 test accuracy "
    "(full 50k training). Cost: CPU seconds per architecture, torch {torch} with {threads} thread(s) on a shared "
    "2-core machine ({cpu})."
)


def report(store: TrainingStore, space, keys: list[str], settings: list[str], out: Path, meta: dict,
           data_key: str) -> pd.DataFrame:
    """The subset study's report: the trainings of ``data_key`` only (a store may hold other data sets' too)."""
    results = store.results(space=space.name, settings=settings, data=data_key)
    results = results[results["arch_key"].isin(keys)]
    truth = nb201_truth(space)
    table = consistency_table(results, truth, settings=settings)
    if table.empty:
        return table
    baselines = zero_cost_baselines(space, results, settings)
    caption = CAPTION.format(archs=int(table["archs"].min()), **meta)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "consistency.csv", index=False)
    save_trainings(results, out / "consistency_trainings.csv")
    references = {f"{row.scorer} (table)": row.spearman for row in baselines.itertuples()}
    plot_consistency(table, out / "consistency.png", caption, references=references)
    shown = table.rename(
        columns={
            "cpu_seconds_per_arch": "CPU s/arch",
            "seconds_per_arch": "wall s/arch",
            "model_cost_epochs": "model cost (full epochs)",
            "mean_accuracy": "mean acc %",
        }
    )
    lines = [
        "# EcoNAS reduced-training rank consistency on NAS-Bench-201",
        "",
        f"Caption: {caption}",
        "",
        markdown_table(shown),
        "",
        "Zero-cost baselines on the same architectures (NB201 table values, no training):",
        "",
        markdown_table(baselines),
        "",
        "`model cost` = epochs × (1/c)² × (1/r)² × 2^-s in units of one full-size (c0r0s0) epoch; `pareto` marks "
        "settings that no other setting beats on both CPU seconds and Spearman.",
        "",
        "Commands: `nice -n 10 .venv/bin/python benchmarks/econas_consistency.py "
        f"--archs {meta['requested']} --threads {meta['threads']} --shard I/2 --store STORE` for I = 0, 1 in "
        "parallel, then the same with `--report-only`.",
        "",
    ]
    (out / "consistency.md").write_text("\n".join(lines))
    return table


def zero_cost_baselines(space, results: pd.DataFrame, settings: list[str]) -> pd.DataFrame:
    """Spearman/Kendall of params and FLOPs (free to compute) on the architectures of the table."""
    from archrank.bench.tables import load_nb201_cifar10

    table = load_nb201_cifar10(space)
    counts = results[results["setting"].isin(settings)].groupby("arch_key")["setting"].nunique()
    keys = counts[counts == len(settings)].index
    part = table.loc[keys]
    rows = []
    for column in ("params_M", "flops_M"):
        rows.append(
            {
                "scorer": column,
                "archs": len(part),
                "spearman": float(stats.spearmanr(part[column], part["cifar10_test_acc"]).statistic),
                "kendall": float(stats.kendalltau(part[column], part["cifar10_test_acc"]).statistic),
            }
        )
    return pd.DataFrame(rows)


FULL_CAPTION = (
    "NB201, {archs} cells (uniform sample, seed {sample_seed}; {subset_note}), one seed. "
    "EcoNAS trainings on the FULL CIFAR-10 (50 000 training / 10 000 test images, JPEG-decoded by "
    "../shared/tools/cifar10_from_jpeg.py, so pixels differ slightly from the original), tested at the reduced "
    "resolution. Truth: NB201 200-epoch CIFAR-10 test accuracy. Cost: CPU s per architecture on a shared 2-core "
    "machine, 1 torch thread, stacked training amortised over the stack; the zero-cost ensemble's cost is the wall "
    "seconds its scoring took here.{grey}"
)
GREY = " Grey: the older 5085-image-subset study (first 100 cells, unstacked)."
SUBSET_CELLS = 100  # the 5085-image subset study trained the first 100 cells of the same seeded sample


def full_caption(archs: int, sample_seed: int, subset: bool = True) -> str:
    """The report's caption for a sample of ``archs`` cells (how it relates to the subset study's 100); ``subset``:
    whether the subset study's rows are drawn."""
    subset_note = (f"the first {SUBSET_CELLS} are the subset study's" if archs >= SUBSET_CELLS
                   else f"the first {archs} of the subset study's {SUBSET_CELLS}")
    return FULL_CAPTION.format(archs=archs, sample_seed=sample_seed, subset_note=subset_note,
                               grey=GREY if subset else "")


ON_GPU = " on GPU (mixed precision)"
ANCHOR = 0.61  # Spearman of the EcoNAS proxy on NB201, zero-cost paper (Abdelfattah et al., ICLR 2021)
TARGET = 0.6


def full_report(args: argparse.Namespace, space, keys: list[str], settings: list[str]) -> pd.DataFrame:
    """Write consistency_full.{md,csv,png}: finished EcoNAS settings on the full data set beside the reference
    rankings (12-epoch NB201 training, params, FLOPs, zero-cost ensemble), the subset study and the NDS epochs."""
    from archrank.econas.effects import factor_effects
    from archrank.econas.epochs import nds_epoch_table
    from archrank.econas.references import ensemble_row, rank_row, sample_typicality, table_rows

    truth = nb201_truth(space)
    raw_key = load_data(args.data).key
    with TrainingStore(args.store) as store:
        results = store.results(space=space.name, settings=settings, data=raw_key)
    results = results[results["arch_key"].isin(keys)]
    args.out.mkdir(parents=True, exist_ok=True)
    save_trainings(results, args.out / "consistency_full_trainings.csv")  # every training behind the tables
    # GPU trainings (mixed precision, another machine) are their own rows, never averaged with CPU ones.
    on_gpu = results["device"].str.startswith("cuda")
    results = results.assign(setting=results["setting"].where(~on_gpu, results["setting"] + ON_GPU))
    counts = results.groupby("setting")["arch_key"].nunique()
    finished = [s for s in [*settings, *(s + ON_GPU for s in settings)] if counts.get(s, 0) >= args.min_archs]
    rows = []
    for setting in finished:
        part = results[results["setting"] == setting]
        per_arch = part.groupby("arch_key")[["accuracy", "cpu_seconds", "seconds"]].mean()
        gpu = setting.endswith(ON_GPU)
        cost, unit = (("seconds", "wall s (GPU machine)") if gpu else ("cpu_seconds", "CPU s (this machine, shared)"))
        row = rank_row(f"EcoNAS {setting}", per_arch["accuracy"], truth, float(per_arch[cost].mean()), unit)
        row.update(kind="econas-gpu" if gpu else "econas-full", setting=setting,
                   wall_s=float(per_arch["seconds"].mean()), mean_acc=float(per_arch["accuracy"].mean()))
        rows.append(row)
    for row in table_rows(keys, truth):
        rows.append({**row, "kind": "reference"})
    if args.zc_store and Path(args.zc_store).exists():
        rows.append({**ensemble_row(args.zc_store, keys, truth), "kind": "zero-cost"})
    subset_csv = args.subset_trainings
    if subset_csv.exists():
        subset = pd.read_csv(subset_csv)
        for setting, part in subset.groupby("setting", sort=False):
            per_arch = part.groupby("arch_key")[["accuracy", "cpu_seconds"]].mean()
            row = rank_row(f"EcoNAS {setting} (5085-image subset)", per_arch["accuracy"], truth,
                           float(per_arch["cpu_seconds"].mean()), "CPU s (this machine, shared)")
            rows.append({**row, "kind": "econas-subset", "setting": setting})
    table = pd.DataFrame(rows)
    from archrank.econas.consistency import pareto_front

    # Two fronts: with the zero-cost ensemble (which, cheaper and better, may leave only itself on it) and among
    # the reduced-training settings alone (which of them are worth their cost).
    for column, kinds in {"pareto": ["econas-full", "zero-cost"], "pareto_econas": ["econas-full"]}.items():
        points = table["kind"].isin(kinds).to_numpy()
        table[column] = False
        if points.any():
            table.loc[points, column] = pareto_front(table.loc[points, "cost_per_arch"].to_numpy(),
                                                     table.loc[points, "spearman"].to_numpy())
    out = args.out  # created above, with the trainings file
    table.to_csv(out / "consistency_full.csv", index=False)
    caption = full_caption(len(keys), args.sample_seed, subset=subset_csv.exists())
    accuracy = {s: results[results["setting"] == s].groupby("arch_key")["accuracy"].mean() for s in finished}
    population, check = population_estimates(accuracy, truth)
    if not population.empty:
        population.to_csv(out / "consistency_full_population.csv", index=False)
    plot_full(table, out / "consistency_full.png", caption, population)
    nds = nds_epoch_table()
    nds.to_csv(out / "nds_epochs.csv", index=False)
    subset_trainings = pd.read_csv(subset_csv) if subset_csv.exists() else None
    same = pd.concat([same_cells(accuracy[setting], setting, truth, args.zc_store, subset_trainings)
                      for setting in finished]
                     or [pd.DataFrame()])
    if not same.empty:
        same.to_csv(out / "consistency_full_same_cells.csv", index=False)
    targets = what_it_ranks(accuracy)
    if not targets.empty:
        targets.to_csv(out / "consistency_full_targets.csv", index=False)
    typical = sample_typicality(keys, truth)
    typical.to_csv(out / "consistency_full_sample.csv", index=False)
    effects = factor_effects(accuracy, truth)
    if not effects.empty:
        effects.to_csv(out / "consistency_full_effects.csv", index=False)
    shown = table[["ranker", "archs", "spearman", "spearman_p", "kendall", "cost_per_arch", "cost_unit", "pareto",
                   "pareto_econas"]]
    lines = [
        "# EcoNAS reduced training on the full CIFAR-10 (JPEG-decoded) vs real reference points, NAS-Bench-201",
        "",
        f"Caption: {caption}",
        "",
        f"EcoNAS settings finished on at least {args.min_archs} of the {len(keys)} cells: "
        f"{', '.join(finished) if finished else 'none yet'} (of {len(settings)} planned: {', '.join(settings)}).",
        "",
        markdown_table(shown),
        "",
        f"Anchor: the zero-cost paper measured Spearman {ANCHOR} for EcoNAS's proxy on NB201; target here >= {TARGET}. "
        f"Its released code (SamsungLabs/zero-cost-nas, `nasbench2_train.py`, `nasbench201_correlations.ipynb`) "
        f"trains C=4 at 8x8 with batch size 2048 on a 40-epoch cosine schedule and reads the validation accuracy "
        f"after epoch 20, over all 15625 cells: `{ZERO_COST_PAPER_SETTING}` with `--batch-size 2048 "
        f"--schedule-epochs 40` here (`archrank.econas.ZERO_COST_PAPER_RECIPE`), not `c4r4s0e10`.",
        "",
        "`pareto` marks, among the full-data EcoNAS rows and the zero-cost ensemble (seconds on this machine), those "
        "no other beats on both cost and Spearman; `pareto_econas` the same among the EcoNAS rows alone (the red "
        "dashed line in the figure). 12-epoch NB201 costs are the benchmark's own GPU seconds (12/200 "
        "of its 200-epoch time), not comparable to this machine's CPU seconds.",
        "",
        "## Each finished setting beside the references on exactly its cells",
        "",
        "The table above ranks every reference on all cells; a setting that finished on fewer cells is compared "
        "here on its own cells only. `ci95`: 2.5-97.5 % percentiles of Spearman over 2000 bootstrap resamples of "
        "the cells (seed 0), the same resamples for every row.",
        "",
        markdown_table(same) if not same.empty else "(no setting finished)",
        "",
        "## One factor at a time: paired differences on common cells",
        "",
        "Every two finished settings that differ in one EcoNAS factor (same recipe), compared on the cells both "
        "finished: their Spearmans against NB201's 200-epoch test accuracy and the difference (larger subscript "
        "minus smaller), with a 95 % interval from 2000 paired bootstrap resamples of those cells "
        "(`archrank.econas.effects.factor_effects`). c: channels divided by c; s: 1/2^s of the samples; e: epochs.",
        "",
        markdown_table(effects) if not effects.empty else "(no two finished settings are one factor apart)",
        "",
        "## What a reduced training ranks: each finished setting against other targets, on its own cells",
        "",
        "Spearman of the setting's test accuracy with NB201's 200-epoch test and validation accuracy, NB201's own "
        "12-epoch training (validation and test accuracy), the parameter count, and each other finished setting "
        "(on the cells both finished). A reduced training that agrees with a short full training but not with the "
        "200-epoch result measures early trainability, not final accuracy.",
        "",
        markdown_table(targets) if not targets.empty else "(no setting finished)",
        "",
        "## How typical the sample is",
        "",
        "Rankers the NB201 tables give on every cell, on the study's cells and on all 15625, with the 2.5/50/97.5 % "
        "quantiles of their Spearman over 2000 seeded uniform samples of as many cells and the study sample's "
        "percentile among them (`archrank.econas.references.sample_typicality`). Reduced trainings agree best with "
        "NB201's own short training (previous section), so a sample in the low tail for it reads them low too.",
        "",
        markdown_table(typical),
        "",
        "## Over every cell: each setting's Spearman corrected by a control (an estimate)",
        "",
        "The study's cells read NB201's own 12-epoch training lower than most samples of the same size do (previous "
        "section), and reduced trainings agree with that training, so their Spearman on these cells is likely low "
        "too. The regression (control-variate) estimator corrects for it with a control known on every cell, "
        "NB201's 12-epoch validation accuracy: `rho_adj = rho - beta * (rho_control_here - rho_control_all)`, beta "
        "and the interval from 2000 bootstrap resamples of the cells "
        "(`archrank.bench.estimate.control_variate_estimate`); `r` is the correlation of the two resampled "
        "Spearmans (the variance shrinks by 1 - r^2). Rows marked *stand-in* are rankers known on every cell, "
        "treated as if measured only on the largest setting's cells, with their true all-cells Spearman beside the "
        "estimate: the check of the method on these very cells.",
        "",
        markdown_table(shown_population(population)) if not population.empty else "(no setting finished)",
        "",
        check,
        "",
        "## Epoch factor without training: NDS ImageNet records (Spearman of epoch-e error vs final error)",
        "",
        "A snapshot at epoch e of a 50-epoch cosine schedule (not an e-epoch schedule annealed to zero, as EcoNAS's "
        "e-reduced settings are). `econas.epochs.nds_epoch_table()`; the lr-wd families also vary learning rate "
        "and weight decay between models.",
        "",
        markdown_table(nds.pivot(index="family", columns="epoch", values="spearman").reset_index()),
        "",
        "Top-10 % overlap (share of the final top 10 % already in the top 10 % at epoch e):",
        "",
        markdown_table(nds.pivot(index="family", columns="epoch", values="top10_overlap").reset_index()),
        "",
    ]
    (out / "consistency_full.md").write_text("\n".join(lines))
    return table


def population_estimates(per_setting: dict[str, pd.Series], truth: pd.Series) -> tuple[pd.DataFrame, str]:
    """Each finished setting's Spearman (``per_setting``: accuracy per arch key) over every NB201 cell, estimated
    from its cells with the 12-epoch validation accuracy as a control; stand-in rows (12-epoch test accuracy,
    params) on the largest setting's cells with their true all-cells value; and one line checking the method over
    100 random samples of as many cells."""
    from archrank.bench.estimate import control_variate_check, control_variate_estimate
    from archrank.bench.tables import load_nb201_cifar10
    from archrank.econas.references import CONTROL, load_twelve_epoch

    if not per_setting:
        return pd.DataFrame(), ""
    twelve = load_twelve_epoch()
    control = twelve["cifar10_valid_acc_12ep"]
    rows = [{"ranker": f"EcoNAS {setting}", **control_variate_estimate(accuracy, truth, control)}
            for setting, accuracy in per_setting.items()]
    largest = max(per_setting, key=lambda s: len(per_setting[s]))
    keys = list(per_setting[largest].index)
    table = load_nb201_cifar10(get_space("nb201"))
    stand_ins = {"NB201 12-epoch training (test acc)": twelve["cifar10_test_acc_12ep"], "params": table["params_M"]}
    for name, values in stand_ins.items():
        joined = pd.concat([values.rename("s"), truth.rename("t")], axis=1, join="inner").astype(float).dropna()
        rows.append({"ranker": f"stand-in: {name} (cells of {largest})",
                     **control_variate_estimate(values.reindex(keys), truth, control),
                     "rho_all_cells": float(stats.spearmanr(joined["s"], joined["t"]).statistic)})
    frame = pd.DataFrame(rows)
    check = control_variate_check(twelve["cifar10_test_acc_12ep"], truth, control, archs=len(keys))
    line = (f"Check over {check['samples']} random samples of {check['archs']} cells, with NB201's 12-epoch test "
            f"accuracy standing in for the unknown (all-cells Spearman {check['rho_all']:.3f}) and {CONTROL} as the "
            f"control: root-mean-square error {check['rmse_raw']:.3f} raw vs {check['rmse_adj']:.3f} adjusted; the "
            f"95 % interval covers the all-cells value in {check['coverage_raw']:.0%} (raw) and "
            f"{check['coverage_adj']:.0%} (adjusted) of the samples (`control_variate_check`).")
    return frame, line


def shown_population(frame: pd.DataFrame) -> pd.DataFrame:
    """The estimates as the report shows them: each interval in one column next to its value."""
    def interval(low: str, high: str) -> list[str]:
        return [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(frame[low], frame[high], strict=True)]

    shown = frame.assign(rho_ci95=interval("rho_lo", "rho_hi"), rho_adj_ci95=interval("rho_adj_lo", "rho_adj_hi"))
    return shown[["ranker", "archs", "rho", "rho_ci95", "rho_adj", "rho_adj_ci95", "beta", "r", "control_rho",
                  "control_rho_all", "rho_all_cells"]]


def what_it_ranks(per_setting: dict[str, pd.Series]) -> pd.DataFrame:
    """Spearman of each finished setting's accuracy (``per_setting``: accuracy per arch key) against several targets
    on the cells it finished: NB201's 200-epoch test/validation accuracy, its 12-epoch training, params, and every
    other finished setting."""
    from archrank.bench.tables import load_nb201_cifar10
    from archrank.econas.references import load_twelve_epoch, rank_row

    table = load_nb201_cifar10(get_space("nb201"))
    twelve = load_twelve_epoch()
    targets = {"NB201 200-epoch test": table["cifar10_test_acc"], "NB201 200-epoch valid": table["cifar10_valid_acc"],
               "NB201 12-epoch valid": twelve["cifar10_valid_acc_12ep"],
               "NB201 12-epoch test": twelve["cifar10_test_acc_12ep"], "params": table["params_M"]}
    rows = []
    for setting, accuracy in per_setting.items():
        others = {f"EcoNAS {s}": v for s, v in per_setting.items() if s != setting}
        for target, values in {**targets, **others}.items():
            row = rank_row(f"EcoNAS {setting}", accuracy, values, float("nan"), "")
            rows.append({"setting": setting, "target": target, "archs": row["archs"], "spearman": row["spearman"],
                         "kendall": row["kendall"]})
    return pd.DataFrame(rows)


def same_cells(
    part: pd.Series, setting: str, truth: pd.Series, zc_store: str | None, subset: pd.DataFrame | None = None
) -> pd.DataFrame:
    """``setting``'s Spearman (``part``: its accuracy per arch key) beside the reference rankers (12-epoch NB201,
    params, FLOPs, the zero-cost ensemble, and the same setting on the 5085-image subset where ``subset`` has it for
    every cell) on exactly the cells it finished, each with a bootstrap 95 % interval over the same resampled cells."""
    import numpy as np

    import archrank
    from archrank.bench.tables import load_nb201_cifar10
    from archrank.econas.references import load_twelve_epoch, rank_row
    from archrank.store import Store

    keys = list(part.index)
    table = load_nb201_cifar10(get_space("nb201")).reindex(keys)
    twelve = load_twelve_epoch().reindex(keys)
    scores = {f"EcoNAS {setting}": part, "NB201 12-epoch (valid acc)": twelve["cifar10_valid_acc_12ep"],
              "NB201 12-epoch (test acc)": twelve["cifar10_test_acc_12ep"], "params": table["params_M"],
              "FLOPs": table["flops_M"]}
    if subset is not None:
        on_subset = subset[subset["setting"] == setting].groupby("arch_key")["accuracy"].mean().reindex(keys)
        if on_subset.notna().all():
            scores[f"EcoNAS {setting} (5085-image subset)"] = on_subset
    if zc_store and Path(zc_store).exists():
        proxies = list(archrank.ENSEMBLE_PROXIES)
        with Store(zc_store) as store:
            wide = store.score_table("nb201", proxies=proxies).reindex(keys)
        missing = [name for name in proxies if name not in wide.columns]
        if missing:
            raise ValueError(f"store {zc_store} has no scores of {', '.join(missing)}")
        combined = archrank.aggregate({name: wide[name].to_numpy(dtype=float) for name in proxies})
        scores["zero-cost ensemble"] = pd.Series(np.asarray(combined, dtype=float), index=keys)
    rng = np.random.default_rng(0)
    resamples = rng.integers(0, len(keys), size=(2000, len(keys)))
    reference = truth.reindex(keys).to_numpy(dtype=float)
    rows = []
    for name, values in scores.items():
        row = rank_row(name, values, truth, float("nan"), "")
        v = values.reindex(keys).to_numpy(dtype=float)
        boot = [stats.spearmanr(v[i], reference[i]).statistic for i in resamples]
        low, high = np.nanpercentile(boot, [2.5, 97.5])
        rows.append({"cells of": setting, "ranker": name, "archs": row["archs"], "spearman": row["spearman"],
                     "ci95": f"[{low:.2f}, {high:.2f}]", "spearman_p": row["spearman_p"], "kendall": row["kendall"]})
    return pd.DataFrame(rows)


def plot_full(table: pd.DataFrame, path: Path, caption: str, population: pd.DataFrame | None = None) -> Path:
    """Spearman vs CPU seconds per architecture: EcoNAS full-data settings (with their all-cells estimates from
    ``population`` beside them), the zero-cost ensemble, the subset study (grey), the Pareto front, and the
    cost-free or GPU-measured references as horizontal lines."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(11.0, 6.0))
    labels: list[tuple[float, float, str, str]] = []  # placed after every point is drawn, clear of each other
    bars: list[tuple[float, float, float]] = []
    styles = {"econas-full": ("tab:blue", "o", "EcoNAS, full CIFAR-10"),
              "econas-gpu": ("tab:purple", "D", "EcoNAS, full CIFAR-10, GPU (x: GPU wall s)"),
              "zero-cost": ("tab:green", "*", "zero-cost ensemble"),
              "econas-subset": ("0.6", "s", "EcoNAS, 5085-image subset (older study)")}
    for kind, (color, marker, label) in styles.items():
        part = table[table["kind"] == kind]
        if part.empty:
            continue
        ax.scatter(part["cost_per_arch"], part["spearman"], c=color, marker=marker, s=70 if marker == "*" else 30,
                   label=label, zorder=3)
        for row in part.itertuples():
            name = str(row.ranker).replace("EcoNAS ", "").replace(" (5085-image subset)", "")
            name, _, tag = name.partition("|")  # a recipe variant's tag goes on a second line
            if kind.startswith("econas-") and kind != "econas-subset":
                name = f"{name} (n={row.archs})"
            name += "\n" + tag.replace(",", "\n") if tag else ""  # one recipe change per line: narrow
            labels.append((row.cost_per_arch, row.spearman, name, color))
    if population is not None and not population.empty:
        estimated = table.merge(population[["ranker", "rho_adj", "rho_adj_lo", "rho_adj_hi"]], on="ranker")
        estimated = estimated[estimated["kind"].isin(["econas-full", "econas-gpu"])]
        if not estimated.empty:
            x = estimated["cost_per_arch"] * 1.06  # beside the measured point
            bars += list(zip(x, estimated["rho_adj_lo"], estimated["rho_adj_hi"], strict=True))
            ax.errorbar(x, estimated["rho_adj"], yerr=[estimated["rho_adj"] - estimated["rho_adj_lo"],
                                                      estimated["rho_adj_hi"] - estimated["rho_adj"]],
                        fmt="o", mfc="none", mec="tab:blue", ecolor="tab:blue", elinewidth=0.8, capsize=2, ms=5,
                        label="EcoNAS, over all 15625 cells: estimate (control variate) with 95 % CI", zorder=2)
    front = table[table["pareto_econas"]].sort_values("cost_per_arch")
    if len(front) > 1:
        ax.plot(front["cost_per_arch"], front["spearman"], color="tab:red", lw=1, ls="--",
                label="Pareto front of the EcoNAS settings (Spearman vs cost)")
    overall = table[table["pareto"]]
    if not overall.empty and (overall["kind"] == "zero-cost").all():
        ax.plot([], [], " ", label="the zero-cost ensemble alone is on the front\nof all points (cheaper and better)")
    for i, row in enumerate(table[table["kind"] == "reference"].itertuples()):
        ax.axhline(row.spearman, color=f"C{i + 3}", ls=":", lw=1.1, label=f"{row.ranker}: {row.spearman:.2f}")
    ax.axhline(ANCHOR, color="black", ls="-.", lw=1, label=f"anchor: EcoNAS proxy, zero-cost paper ({ANCHOR})")
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    xlabel = "CPU seconds per architecture (this machine, 1 thread, shared; log scale)"
    if (table["kind"] == "econas-gpu").any():
        xlabel += "; GPU rows: wall seconds on the GPU machine"
    ax.set_xlabel(xlabel)
    ax.set_ylabel("Spearman ρ vs NB201 200-epoch CIFAR-10 test acc")
    ax.set_ylim(min(-0.3, float(table["spearman"].min()) - 0.05), 1.0)
    left, right = ax.get_xlim()
    ax.set_xlim(left, max(right, float(table["cost_per_arch"].max()) * 5))  # room for the dearest points' labels
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, framealpha=0.9)
    fig.text(0.01, 0.01, caption, fontsize=7.5, wrap=True, va="bottom")
    fig.tight_layout(rect=(0, 0.13, 1, 1))
    place_labels(ax, labels, bars)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def place_labels(ax, labels: list[tuple[float, float, str, str]],
                 bars: list[tuple[float, float, float]] = ()) -> None:
    """Write each ``(x, y, text, colour)`` label beside its point at the first of a few offsets where it stays inside
    the axes and overlaps no label already placed, no marker and no error bar ``(x, low, high)`` (greedy, in
    display coordinates); when none is free, at the offset that overlaps least (area outside the axes counts as
    overlap), so two crowded labels never land on the same spot."""
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    to_display = ax.transData.transform
    taken = [Bbox.from_bounds(*(to_display((x, y)) - 6), 12, 12) for x, y, _, _ in labels]  # the markers
    for x, low, high in bars:
        (x0, y0), (_, y1) = to_display((x, low)), to_display((x, high))
        taken.append(Bbox.from_extents(x0 - 3, y0, x0 + 3, y1))
    inside = ax.get_window_extent(renderer)
    # beside the point first, then further out on rings (with a leader line), so a crowded cluster finds space
    offsets = [(radius * math.cos(angle), radius * math.sin(angle)) for radius in (8, 24, 44, 66, 90, 120)
               for angle in (math.radians(a) for a in (20, 160, -20, -160, 60, 120, -60, -120, 90, -90))]

    def area(box: Bbox) -> float:
        return max(box.width, 0.0) * max(box.height, 0.0)

    def overlap(box: Bbox) -> float:
        clipped = Bbox.intersection(box, inside)
        outside = area(box) - (area(clipped) if clipped is not None else 0.0)
        shared = (Bbox.intersection(box, other) for other in taken)
        return outside + sum(area(b) for b in shared if b is not None)

    for x, y, text, color in sorted(labels, key=lambda label: -label[0]):  # right to left: the edge is tightest
        best: tuple[float, float, float] | None = None  # (overlap, dx, dy)
        for dx, dy in offsets:
            note = annotate_label(ax, x, y, text, color, dx, dy)
            box = text_extent(note, renderer)
            note.remove()
            score = overlap(box)
            if best is None or score < best[0]:
                best = (score, dx, dy)
            if score == 0:
                break
        assert best is not None
        note = annotate_label(ax, x, y, text, color, best[1], best[2])
        taken.append(text_extent(note, renderer))


def text_extent(note, renderer):
    """Display box of an annotation's text alone (``Annotation.get_window_extent`` spans its leader line too)."""
    from matplotlib.text import Text

    note.update_positions(renderer)
    return Text.get_window_extent(note, renderer)


def annotate_label(ax, x: float, y: float, text: str, color: str, dx: float, dy: float):
    """One label of :func:`place_labels`, offset (dx, dy) points from its point, with a leader line when far."""
    far = math.hypot(dx, dy) > 10
    return ax.annotate(text, (x, y), textcoords="offset points", xytext=(dx, dy), fontsize=7, color=color,
                       ha="left" if dx >= 0 else "right", va="center",
                       arrowprops={"arrowstyle": "-", "color": color, "lw": 0.5} if far else None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", type=int, default=100)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--settings", default=",".join(DEFAULT_GRID))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--store", default="econas_consistency.sqlite")
    parser.add_argument("--out", type=Path, default=Path("docs/results/econas"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--report-every", type=int, default=10)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--report-full", action="store_true",
                        help="write consistency_full.* (full-data study beside the reference rankings) and exit")
    parser.add_argument("--zc-store", default=None, help="results store with the zero-cost ensemble's scores")
    parser.add_argument("--subset-trainings", type=Path, default=Path("docs/results/econas/consistency_trainings.csv"),
                        help="--report-full: the older subset study's trainings, drawn grey beside the full-data rows")
    parser.add_argument("--min-archs", type=int, default=20, help="report a setting once this many cells finished")
    parser.add_argument("--data", default="cifar10",
                        help="cifar10[:DIR]; the full JPEG-decoded CIFAR-10 from ../shared/tools/cifar10_from_jpeg.py "
                        "is cifar10:OUT_DIR")
    parser.add_argument("--stack", type=int, default=1,
                        help="train this many architectures of a setting at once as one stacked network (NB201)")
    parser.add_argument(
        "--shard",
        default="0/1",
        help="i/n: train every n-th architecture from the i-th (run n "
        "processes on one store); only shard 0 writes reports",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    archs = space.sample_many(args.archs, seed=args.sample_seed)
    keys = [space.key(a) for a in archs]
    # a recipe tag holds commas too (c4r4s0e20|batch_size=2048,schedule_epochs=40): split before each setting only
    settings = [s.strip() for s in re.split(r",(?=\s*c\d)", args.settings) if s.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    meta = {
        "sample_seed": args.sample_seed,
        "seeds": len(seeds),
        "torch": torch.__version__,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "requested": args.archs,
    }
    if args.report_full:
        table = full_report(args, space, keys, settings)
        print(table.drop(columns=["cost_unit"]).to_string(index=False))
        return
    store = TrainingStore(args.store)
    shard, shards = (int(v) for v in args.shard.split("/"))
    if not args.report_only:
        raw = load_data(args.data)
        start = time.time()
        mine = archs[shard::shards]
        if args.stack > 1:  # setting by setting, cheapest first; report with --report-only
            for setting in settings:
                c0 = time.process_time()
                ran = train_many(space, mine, [setting], raw, store, seeds=seeds, device=args.device,
                                 progress=False, stack=args.stack)
                print(f"[{time.time() - start:7.0f} s] shard {shard}: {setting} done for {len(mine)} architectures "
                      f"({ran} new trainings, {time.process_time() - c0:.0f} CPU s)", flush=True)
            store.close()
            return
        for i in range(0, len(mine), args.report_every):
            chunk = mine[i : i + args.report_every]
            ran = train_many(space, chunk, settings, raw, store, seeds=seeds, device=args.device, progress=False,
                             stack=args.stack)
            print(
                f"[{time.time() - start:7.0f} s] shard {shard}: {i + len(chunk)}/{len(mine)} architectures "
                f"({ran} new trainings)",
                flush=True,
            )
            if shard == 0:
                report(store, space, keys, settings, args.out, meta, raw.key)
    if shard == 0:
        table = report(store, space, keys, settings, args.out, meta, load_data(args.data).key)
        print(table.to_string(index=False))
    store.close()


if __name__ == "__main__":
    main()
