"""Reference rankings to set reduced-training consistency against, on the same NB201 cells.

EcoNAS (Zhou et al., CVPR 2020) asks how well a cheap training ranks architectures. This module gives the yardsticks
for that question on NAS-Bench-201, each measured on exactly the cells of the study:

- NB201's own **12-epoch** full training of every cell (``nb201/nb201_cifar10_12epoch.csv``: cifar10-valid
  validation and test accuracy after 12 epochs, trained with the benchmark's 12-epoch schedule);
- parameter count and FLOPs (the NB201 table's ``params_M`` / ``flops_M``; free);
- a zero-cost ensemble read from a results store (default: the label-free ensemble ``archrank.ENSEMBLE_PROXIES``
  combined with :func:`archrank.aggregate`), with the seconds per cell the store recorded.

Every row is a Spearman/Kendall against one truth (by default NB201's 200-epoch CIFAR-10 test accuracy) and a cost
per architecture with its unit, because the costs are not all measured on the same hardware.

How far a study's cells stand for all of NB201: :func:`sample_typicality` places them among random samples, and
:func:`control_variate_estimate` turns a setting's Spearman on them into an estimate over every cell, using a
ranker known on every cell (the 12-epoch training) as a control; :func:`control_variate_check` tests that estimator
on the tables themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from archrank.config import data_file

TWELVE_EPOCH_FILE = ("nb201", "nb201_cifar10_12epoch.csv")


def load_twelve_epoch() -> pd.DataFrame:
    """NB201's 12-epoch table indexed by arch string (columns ``cifar10_valid_acc_12ep``, ``cifar10_test_acc_12ep``)."""
    return pd.read_csv(data_file(*TWELVE_EPOCH_FILE)).set_index("arch_str")


def rank_row(name: str, scores: pd.Series, truth: pd.Series, cost: float, cost_unit: str) -> dict[str, object]:
    """Spearman/Kendall of ``scores`` against ``truth`` on their common finite keys, with a cost per architecture."""
    joined = pd.concat([scores.rename("s"), truth.rename("t")], axis=1, join="inner").astype(float)
    joined = joined[np.isfinite(joined["s"]) & np.isfinite(joined["t"])]
    if len(joined) < 3:
        raise ValueError(f"{name}: fewer than 3 architectures with both a score and a truth value")
    rho = stats.spearmanr(joined["s"], joined["t"])
    return {
        "ranker": name, "archs": len(joined), "spearman": float(rho.statistic), "spearman_p": float(rho.pvalue),
        "kendall": float(stats.kendalltau(joined["s"], joined["t"]).statistic), "cost_per_arch": cost,
        "cost_unit": cost_unit,
    }


def table_rows(keys: Sequence[str], truth: pd.Series) -> list[dict[str, object]]:
    """Rows for the 12-epoch NB201 training (validation and test accuracy) and for params and FLOPs on ``keys``.

    The 12-epoch cost is 12/200 of each cell's benchmark training time (``cifar10valid_train_time_200ep_s``, GPU
    seconds on the benchmark's hardware), averaged over ``keys``.
    """
    from archrank.bench.tables import load_nb201_cifar10
    from archrank.spaces import get_space

    table = load_nb201_cifar10(get_space("nb201")).reindex(list(keys))
    twelve = load_twelve_epoch().reindex(list(keys))
    gpu12 = float(table["cifar10valid_train_time_200ep_s"].mean() * 12 / 200)
    return [
        rank_row("NB201 12-epoch training (valid acc)", twelve["cifar10_valid_acc_12ep"], truth, gpu12,
                 "GPU s (benchmark)"),
        rank_row("NB201 12-epoch training (test acc)", twelve["cifar10_test_acc_12ep"], truth, gpu12,
                 "GPU s (benchmark)"),
        rank_row("params (no training)", table["params_M"], truth, 0.0, "-"),
        rank_row("FLOPs (no training)", table["flops_M"], truth, 0.0, "-"),
    ]


def ensemble_row(
    store_path: str | Path, keys: Sequence[str], truth: pd.Series, proxies: Sequence[str] | None = None,
    name: str = "zero-cost ensemble (default, label-free)",
) -> dict[str, object]:
    """The zero-cost ensemble of ``proxies`` (default: ``archrank.ENSEMBLE_PROXIES``) scored in ``store_path``,
    aggregated with :func:`archrank.aggregate`, and its mean seconds per cell as the store timed them (wall
    seconds, summed over its proxies)."""
    import archrank
    from archrank.store import Store

    proxies = list(proxies or archrank.ENSEMBLE_PROXIES)
    with Store(store_path) as store:
        wide = store.score_table("nb201", proxies=proxies).reindex(list(keys))
        rows = store.scores(space="nb201", proxies=proxies)
    missing = [p for p in proxies if p not in wide.columns]
    if missing:
        raise ValueError(f"store {store_path} has no scores of {', '.join(missing)}")
    combined = archrank.aggregate({p: wide[p].to_numpy(dtype=float) for p in proxies})
    rows = rows[rows["arch_key"].isin(set(keys))]
    seconds = float(rows.groupby("arch_key")["seconds"].sum().mean())
    return rank_row(name, pd.Series(np.asarray(combined, dtype=float), index=wide.index), truth, seconds,
                    "wall s (the store's timing, this machine)")


def sample_typicality(
    keys: Sequence[str], truth: pd.Series, draws: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """How typical the study's cells are for rankers known on every NB201 cell.

    A consistency measured on a few hundred cells depends on which cells were drawn. For each ranker that the
    benchmark tables give on all cells (NB201's 12-epoch training, params, FLOPs) this returns its Spearman on
    ``keys``, on all cells, the 2.5/50/97.5 % quantiles over ``draws`` seeded uniform samples of ``len(keys)`` cells,
    and the share of those samples below the study's value (its percentile). A study sample far in the tail reads
    every ranker of the same kind low or high, reduced trainings included.
    """
    from archrank.bench.tables import load_nb201_cifar10
    from archrank.spaces import get_space

    table = load_nb201_cifar10(get_space("nb201"))
    twelve = load_twelve_epoch()
    rankers = {
        "NB201 12-epoch training (valid acc)": twelve["cifar10_valid_acc_12ep"],
        "NB201 12-epoch training (test acc)": twelve["cifar10_test_acc_12ep"],
        "params": table["params_M"],
        "FLOPs": table["flops_M"],
    }
    frame = pd.concat({"truth": truth, **rankers}, axis=1, join="inner").astype(float).dropna()
    ranks = frame.rank().to_numpy()  # Spearman = Pearson of ranks within each sample: re-rank per sample below
    n = len([k for k in keys if k in frame.index])
    if n < 3:
        raise ValueError("sample_typicality: fewer than 3 study cells have every ranker and a truth value")
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(len(frame), size=n, replace=False) for _ in range(draws)])
    sampled = np.stack([stats.rankdata(ranks[p], axis=0) for p in picks])  # draws × n × columns
    centred = sampled - sampled.mean(axis=1, keepdims=True)
    norm = np.sqrt((centred**2).sum(axis=1))
    rows = []
    study = frame.loc[[k for k in keys if k in frame.index]]
    for j, name in enumerate(frame.columns[1:], start=1):
        rho = (centred[:, :, 0] * centred[:, :, j]).sum(axis=1) / (norm[:, 0] * norm[:, j])
        on_study = float(stats.spearmanr(study[name], study["truth"]).statistic)
        low, mid, high = np.quantile(rho, [0.025, 0.5, 0.975])
        rows.append({
            "ranker": name, "archs": n, "spearman_study": on_study,
            "spearman_all": float(stats.spearmanr(frame[name], frame["truth"]).statistic),
            "random_q025": float(low), "random_median": float(mid), "random_q975": float(high),
            "study_percentile": float((rho < on_study).mean()), "all_cells": len(frame),
        })
    return pd.DataFrame(rows)



CONTROL = "NB201 12-epoch training (valid acc)"
