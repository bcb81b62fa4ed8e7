"""Rank metrics: how well a proxy's ordering of architectures holds against trained accuracy.

Every metric is a pure function of ``(pred, truth)`` — two equally long arrays, one entry per architecture,
``pred`` oriented higher-is-better (archrank stores scores that way; signs are never flipped here).

Missing values are never hidden. A pair whose *truth* is missing cannot be judged and is always dropped. A
missing *prediction* (NaN or ±inf: a proxy that failed or overflowed) is handled by ``nan_policy``:

- ``"omit"`` (default): drop the pair, i.e. judge the proxy only where it produced a score;
- ``"worst"``: keep the pair and rank the architecture below every scored one (ties among the missing), i.e.
  charge the proxy for its failures as a search would experience them;
- ``"raise"``: refuse with ``ValueError``.

:func:`clean_pairs` applies the policy and returns a :class:`NanReport` saying what it did; the evaluator
puts these counts in every table. Correlations come from :mod:`scipy.stats`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

NanPolicy = Literal["omit", "worst", "raise"]
NAN_POLICIES: tuple[str, ...] = ("omit", "worst", "raise")
ArrayLike = Sequence[float] | np.ndarray
Metric = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class NanReport:
    """What :func:`clean_pairs` found and did: counts of missing values and the policy applied."""

    n_total: int
    n_pred_missing: int
    n_truth_missing: int
    n_used: int
    policy: str

    def describe(self) -> str:
        """One line for reports, e.g. ``"725 archs, 1 score missing (omitted), 0 truth missing, 724 used"``."""
        action = {"omit": "omitted", "worst": "ranked worst", "raise": "refused"}.get(self.policy, self.policy)
        return (
            f"{self.n_total} archs, {self.n_pred_missing} score(s) missing ({action}), "
            f"{self.n_truth_missing} truth missing (dropped), {self.n_used} used"
        )


def clean_pairs(
    pred: ArrayLike, truth: ArrayLike, nan_policy: NanPolicy = "omit"
) -> tuple[np.ndarray, np.ndarray, NanReport]:
    """Apply the NaN policy; return the usable ``(pred, truth)`` pairs and a report of what was done."""
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {', '.join(NAN_POLICIES)}, got {nan_policy!r}")
    p = np.asarray(pred, dtype=float).ravel()
    t = np.asarray(truth, dtype=float).ravel()
    if p.shape != t.shape:
        raise ValueError(f"pred and truth differ in length: {p.size} vs {t.size}")
    truth_ok = np.isfinite(t)
    # A missing prediction is NaN; ±inf are known, ordered values (e.g. log(0) = -inf is a worst score).
    pred_bad = np.isnan(p) & truth_ok
    n_pred_missing = int(pred_bad.sum())
    if nan_policy == "raise" and n_pred_missing:
        raise ValueError(f"{n_pred_missing} prediction(s) are missing (NaN) and nan_policy='raise'")
    if nan_policy == "worst" and n_pred_missing:
        if np.isneginf(p).any():
            # A real -inf is the lowest float: no number ranks below it, so go to ranks (which is all that rank
            # metrics read): the scored values keep their order and ties, and every missing one goes below them.
            scored = ~np.isnan(p)
            ranks = np.full(p.shape, np.nan)
            ranks[scored] = stats.rankdata(p[scored])  # 1, 2, ...: below them all, 0
            p = np.where(pred_bad, 0.0, ranks)
        else:
            finite = p[np.isfinite(p)]
            floor = finite.min() - 1.0 - abs(finite.min()) if finite.size else 0.0
            p = np.where(pred_bad, floor, p)
        keep = truth_ok
    else:
        keep = truth_ok & ~pred_bad
    report = NanReport(
        n_total=int(p.size),
        n_pred_missing=n_pred_missing,
        n_truth_missing=int((~truth_ok).sum()),
        n_used=int(keep.sum()),
        policy=nan_policy,
    )
    return p[keep], t[keep], report


def _degenerate(p: np.ndarray, t: np.ndarray) -> bool:
    """Fewer than two pairs or a constant side: no correlation is defined (NaN, not a warning)."""
    return p.size < 2 or bool(np.all(p == p[0])) or bool(np.all(t == t[0]))


def spearman(pred: ArrayLike, truth: ArrayLike, nan_policy: NanPolicy = "omit") -> float:
    """Spearman's rank correlation ρ (``scipy.stats.spearmanr``); NaN when undefined."""
    p, t, _ = clean_pairs(pred, truth, nan_policy)
    return math.nan if _degenerate(p, t) else float(stats.spearmanr(p, t).statistic)


def spearman_rows(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Spearman of each row of ``pred`` with the same row of ``truth`` (2-D arrays of finite values, ties ranked by
    their average): many resamples of the same cells at once, e.g. for a bootstrap."""
    rp = stats.rankdata(pred, axis=1)
    rt = stats.rankdata(truth, axis=1)
    rp -= rp.mean(axis=1, keepdims=True)
    rt -= rt.mean(axis=1, keepdims=True)
    return (rp * rt).sum(axis=1) / np.sqrt((rp**2).sum(axis=1) * (rt**2).sum(axis=1))


def kendall(pred: ArrayLike, truth: ArrayLike, nan_policy: NanPolicy = "omit") -> float:
    """Kendall's τ-b (``scipy.stats.kendalltau``, ties corrected); NaN when undefined."""
    p, t, _ = clean_pairs(pred, truth, nan_policy)
    return math.nan if _degenerate(p, t) else float(stats.kendalltau(p, t).statistic)


def pearson(pred: ArrayLike, truth: ArrayLike, nan_policy: NanPolicy = "omit") -> float:
    """Pearson's linear correlation r (``scipy.stats.pearsonr``) of the raw values; NaN when undefined — also
    when a kept value is ±inf (a known worst score such as synflow's log 0 orders fine for Spearman and Kendall,
    but has no linear distance), and under ``nan_policy="worst"`` when a score is missing: the stand-in that ranks
    it last is an order, not a value, so r of it would be r of a made-up number."""
    p, t, report = clean_pairs(pred, truth, nan_policy)
    if _degenerate(p, t) or not np.isfinite(p).all() or (nan_policy == "worst" and report.n_pred_missing):
        return math.nan
    return float(stats.pearsonr(p, t).statistic)


def top_count(n: int, frac: float) -> int:
    """How many architectures "the best ``frac``" means among ``n``: ``ceil(frac * n)``, at least 1."""
    if not 0.0 < frac <= 1.0:
        raise ValueError(f"top-k fraction must be in (0, 1], got {frac}")
    return max(1, math.ceil(frac * n - 1e-9))


def _top_share(values: np.ndarray, count: int) -> np.ndarray:
    """Per position, the chance of being among the ``count`` highest values when ties at the cut-off are broken at
    random: 1 above the cut-off value, the free places over the number tied at it, 0 below. Row order plays no part
    (breaking ties by position would reward a tied score whenever the rows happen to be sorted by accuracy)."""
    cut = np.sort(values)[::-1][count - 1]
    above = values > cut
    at = values == cut
    share = above.astype(float)
    share[at] = (count - above.sum()) / at.sum()
    return share


def _overlap(
    pred: ArrayLike, truth: ArrayLike, frac: float, true_frac: float | None, nan_policy: NanPolicy
) -> tuple[float, int, int]:
    """Expected hits (ties at either cut-off broken at random) and the sizes of the predicted and true top sets."""
    p, t, _ = clean_pairs(pred, truth, nan_policy)
    if p.size == 0:
        return 0.0, 0, 0
    n_pred = top_count(p.size, frac)
    n_true = top_count(p.size, frac if true_frac is None else true_frac)
    hits = float((_top_share(p, n_pred) * _top_share(t, n_true)).sum())
    return hits, n_pred, n_true


def topk_precision(
    pred: ArrayLike, truth: ArrayLike, frac: float = 0.1, true_frac: float | None = None,
    nan_policy: NanPolicy = "omit",
) -> float:
    """Of the proxy's best ``frac``, the fraction that is truly among the best ``true_frac`` (default ``frac``).

    With equal fractions precision equals recall (both sets have the same size). Ties at the cut-off count by
    their expectation under a random tie-break (as ``true_best_rank``'s average rank does), whatever the row order:
    a proxy that gives many architectures the same score gets the random baseline for them, no more.
    """
    hits, n_pred, _ = _overlap(pred, truth, frac, true_frac, nan_policy)
    return hits / n_pred if n_pred else math.nan


def topk_recall(
    pred: ArrayLike, truth: ArrayLike, frac: float = 0.1, true_frac: float | None = None,
    nan_policy: NanPolicy = "omit",
) -> float:
    """Of the truly best ``true_frac`` (default ``frac``), the fraction the proxy puts in its best ``frac``."""
    hits, _, n_true = _overlap(pred, truth, frac, true_frac, nan_policy)
    return hits / n_true if n_true else math.nan


def true_best_rank(pred: ArrayLike, truth: ArrayLike, nan_policy: NanPolicy = "omit") -> float:
    """The rank (1 = the proxy's favourite) the proxy gives the truly best architecture.

    Ties in the proxy share the average rank (``scipy.stats.rankdata``), so a constant proxy scores
    ``(n + 1) / 2``, not 1. When several architectures share the best truth, the best-ranked of them counts.
    """
    p, t, _ = clean_pairs(pred, truth, nan_policy)
    if p.size == 0:
        return math.nan
    ranks = stats.rankdata(-p, method="average")
    return float(ranks[t == t.max()].min())


def bootstrap_ci(
    metric: Metric,
    pred: ArrayLike,
    truth: ArrayLike,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    nan_policy: NanPolicy = "omit",
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of ``metric(pred, truth)`` over resampled architectures.

    Pairs are resampled together (``scipy.stats.bootstrap(paired=True)``) after the NaN policy is applied,
    with a seeded generator so reports are reproducible. ``(nan, nan)`` when there are fewer than 3 pairs or
    ``n_resamples`` is 0.

    A resample on which the metric is undefined (e.g. all its picks tie on a mostly-tied proxy, likely at small n)
    is left out of the percentiles when such resamples are at most ``1 - confidence`` of all of them (they could
    move each bound by no more than that share); more than that, and the interval is ``(nan, nan)``: the data
    do not support one. Without undefined resamples the interval is scipy's, unchanged.
    """
    p, t, _ = clean_pairs(pred, truth, nan_policy)
    if n_resamples <= 0 or p.size < 3 or _degenerate(p, t):
        return math.nan, math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.ConstantInputWarning)  # a constant resample gives NaN: fine
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)  # scipy's note on such NaNs: handled below
        result = stats.bootstrap(
            (p, t),
            lambda a, b: metric(a, b),
            paired=True,
            vectorized=False,
            n_resamples=n_resamples,
            confidence_level=confidence,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    if math.isfinite(low) and math.isfinite(high):
        return low, high
    distribution = np.asarray(result.bootstrap_distribution, dtype=float)
    defined = distribution[np.isfinite(distribution)]
    if defined.size == 0 or distribution.size - defined.size > (1.0 - confidence) * distribution.size:
        return math.nan, math.nan
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(defined, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return float(low), float(high)
