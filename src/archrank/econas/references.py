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
