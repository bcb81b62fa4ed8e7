"""EcoNAS's epoch factor ``e`` measured without training: rank consistency of early-epoch errors in NDS records.

The NDS ImageNet records (Radosavovic et al., "On Network Design Spaces for Visual Recognition", ICCV 2019) hold
every model's top-1 test **error** after each of its 50 training epochs (``test_ep_top1``). Ranking the models by
their error after epoch ``e`` and comparing with the ranking by the final error measures how early a training
already orders the models, the question EcoNAS (Zhou et al., CVPR 2020) asks of its ``e`` factor.

One difference from an EcoNAS reduced setting: an NDS record at epoch ``e`` is a snapshot of a 50-epoch cosine
schedule (the learning rate is still high), whereas ``c?r?s?e<e>`` trains a complete ``e``-epoch schedule that
anneals to zero. The snapshot is the more pessimistic of the two; say so beside any number from here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from archrank import config

DEFAULT_EPOCHS: tuple[int, ...] = (1, 2, 5, 10, 20, 30, 40)
CURVE_KEY = "test_ep_top1"


def nds_epoch_sources() -> list[tuple[str, Path]]:
    """``(family, file)`` of every NDS ground truth present with per-epoch errors, in the order of the registered
    NDS spaces: the families shared with accuracy, and a structure-only family as soon as a copy of its file with
    accuracy is present (the spaces' own truth sources decide, :mod:`archrank.spaces.nds`)."""
    from archrank.bench.truth_spaces import source_path
    from archrank.spaces import get_space
    from archrank.spaces.nds import NDS_SPACES

    found = []
    for name in NDS_SPACES:
        for source in get_space(name).truth_sources():
            path = source_path(source)
            if path is not None:
                found.append((path.name.removesuffix("_in.json"), path))
    return found


def error_curves(records: Iterable[Mapping[str, Any]]) -> np.ndarray:
    """Per-epoch test errors of ``records`` as an (models × epochs) array; ``ValueError`` when a record has no
    ``test_ep_top1`` list or the curves differ in length (they must come from one training schedule)."""
    curves = []
    for i, record in enumerate(records):
        curve = record.get(CURVE_KEY)
        if not isinstance(curve, Sequence) or isinstance(curve, str) or not curve:
            raise ValueError(f"record {i} has no per-epoch error list {CURVE_KEY!r}")
        curves.append([float(v) for v in curve])
    lengths = {len(c) for c in curves}
    if len(lengths) > 1:
        raise ValueError(f"records have per-epoch error lists of different lengths: {sorted(lengths)}")
    return np.asarray(curves, dtype=float)


def epoch_consistency(
    records: Iterable[Mapping[str, Any]], epochs: Sequence[int] = DEFAULT_EPOCHS
) -> pd.DataFrame:
    """Spearman and Kendall between the error after each epoch ``e`` (1-based) and the final error.

    One row per epoch that the curves reach: ``epoch``, ``fraction`` (e / total epochs), ``models`` (those with
    finite errors at both epochs), ``spearman``, ``kendall``, ``top10_overlap`` (share of the final top 10 %
    that epoch ``e`` also puts in its top 10 %). A model with a non-finite error at either epoch is left out of
    that row; nothing is filled in.
    """
    curves = error_curves(records)
    if curves.shape[0] < 3:
        raise ValueError(f"need at least 3 records to correlate rankings, got {curves.shape[0]}")
    total = curves.shape[1]
    final = curves[:, -1]
    rows = []
    for epoch in epochs:
        if epoch < 1:
            raise ValueError(f"epochs are 1-based, got {epoch}")
        if epoch > total:
            continue
        early = curves[:, epoch - 1]
        ok = np.isfinite(early) & np.isfinite(final)
        if ok.sum() < 3:
            continue
        rows.append({
            "epoch": int(epoch),
            "fraction": epoch / total,
            "models": int(ok.sum()),
            "spearman": float(stats.spearmanr(early[ok], final[ok]).statistic),
            "kendall": float(stats.kendalltau(early[ok], final[ok]).statistic),
            "top10_overlap": _top_overlap(early[ok], final[ok], 0.1),
        })
    return pd.DataFrame(rows, columns=["epoch", "fraction", "models", "spearman", "kendall", "top10_overlap"])


def _top_overlap(early: np.ndarray, final: np.ndarray, share: float) -> float:
    """Fraction of the ``share`` lowest final errors that are also among the ``share`` lowest early errors."""
    count = max(1, math.ceil(share * len(final)))
    best_final = set(np.argsort(final, kind="stable")[:count].tolist())
    best_early = set(np.argsort(early, kind="stable")[:count].tolist())
    return len(best_final & best_early) / count


def nds_epoch_table(families: Sequence[str] | None = None, epochs: Sequence[int] = DEFAULT_EPOCHS) -> pd.DataFrame:
    """:func:`epoch_consistency` of every NDS family with per-epoch errors (or of ``families``, named as their files
    are: ``DARTS``, ``ResNet_lr-wd``, ...), stacked with a ``family`` column."""
    from archrank.bench.truth_nds import load_records

    sources = dict(nds_epoch_sources())
    chosen = list(sources) if families is None else list(families)
    unknown = [f for f in chosen if f not in sources]
    if unknown or not chosen:
        raise ValueError(f"no NDS ground truth with per-epoch errors for {', '.join(unknown) or 'any family'} "
                         f"(present: {', '.join(sources) or 'none'}; the data root is {config.data_root()})")
    parts = []
    for family in chosen:
        table = epoch_consistency(load_records(sources[family]), epochs)
        table.insert(0, "family", family)
        parts.append(table)
    return pd.concat(parts, ignore_index=True)
