"""Rank metrics against hand-computed values, and the NaN policy reported, never hidden."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from archrank.bench import (
    bootstrap_ci,
    clean_pairs,
    kendall,
    pearson,
    spearman,
    topk_precision,
    topk_recall,
    true_best_rank,
)
from archrank.bench.metrics import top_count

PRED = [1.0, 2.0, 3.0, 4.0]
TRUTH = [1.0, 3.0, 2.0, 4.0]


def test_correlations_match_hand_computed_values() -> None:
    # ranks differ by d = (0, 1, 1, 0): rho = 1 - 6*2 / (4*(16-1)) = 0.8
    assert spearman(PRED, TRUTH) == pytest.approx(0.8)
    # pairs: 5 concordant, 1 discordant (2 vs 3): tau = (5-1)/6
    assert kendall(PRED, TRUTH) == pytest.approx(4 / 6)
    # centred values (-1.5, -.5, .5, 1.5) and (-1.5, .5, -.5, 1.5): r = 4 / 5
    assert pearson(PRED, TRUTH) == pytest.approx(0.8)


def test_minus_infinity_orders_for_ranks_but_has_no_linear_correlation() -> None:

    pred = [-math.inf, 2.0, 3.0, 4.0]  # a known worst score (synflow's log 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from scipy on the infinite value
        assert spearman(pred, TRUTH) == pytest.approx(0.8)
        assert math.isnan(pearson(pred, TRUTH))


def test_pearson_is_not_computed_on_the_stand_in_for_a_missing_score() -> None:
    # "worst" ranks a missing score last via an invented number: fine for ranks, meaningless for r
    pred = [math.nan, 2.0, 3.0, 4.0]
    assert spearman(pred, TRUTH, "worst") == pytest.approx(spearman([0.0, 2.0, 3.0, 4.0], TRUTH))
    assert math.isnan(pearson(pred, TRUTH, "worst"))
    assert pearson(pred, TRUTH, "omit") == pytest.approx(pearson(PRED[1:], TRUTH[1:]))


def test_signs_are_kept() -> None:
    reverse = [-x for x in PRED]
    assert spearman(reverse, TRUTH) == pytest.approx(-0.8)
    assert kendall(reverse, TRUTH) == pytest.approx(-4 / 6)


def test_nan_policy_omit_worst_raise_and_the_report() -> None:
    pred = [1.0, 2.0, math.nan, 4.0, 3.0]
    truth = [1.0, 3.0, 2.0, 4.0, math.nan]
    p, t, report = clean_pairs(pred, truth, "omit")
    assert (report.n_total, report.n_pred_missing, report.n_truth_missing, report.n_used) == (5, 1, 1, 3)
    assert list(p) == [1.0, 2.0, 4.0] and list(t) == [1.0, 3.0, 4.0]
    assert "1 score(s) missing (omitted)" in report.describe()
    assert spearman(pred, truth, "omit") == pytest.approx(1.0)
    # worst: the missing score ranks last -> pred ranks (2, 3, 1, 4) vs truth ranks (1, 3, 2, 4): rho = 0.8
    _, _, worst = clean_pairs(pred, truth, "worst")
    assert worst.n_used == 4
    assert spearman(pred, truth, "worst") == pytest.approx(0.8)
    with pytest.raises(ValueError, match="nan_policy='raise'"):
        spearman(pred, truth, "raise")
    with pytest.raises(ValueError, match="nan_policy must be"):
        spearman(pred, truth, "ignore")  # type: ignore[arg-type]
    # ±inf is a known, ordered value (log(0) = -inf is a worst score), not a missing one; NaN is missing
    report = clean_pairs([1.0, -math.inf, 3.0], [2.0, 1.0, 3.0])[2]
    assert report.n_pred_missing == 0 and report.n_used == 3
    assert spearman([1.0, -math.inf, 3.0], [2.0, 1.0, 3.0]) == pytest.approx(1.0)


def test_undefined_correlations_are_nan_not_errors() -> None:
    assert math.isnan(spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]))
    assert math.isnan(kendall([1.0], [2.0]))
    with pytest.raises(ValueError, match="differ in length"):
        spearman([1.0, 2.0], [1.0])


def test_topk_precision_and_recall() -> None:
    pred = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    truth = [1, 10, 9, 2, 3, 4, 5, 6, 7, 8]
    # top 20% = 2 archs: the proxy picks {0, 1}, the truly best are {1, 2}: one hit
    assert topk_precision(pred, truth, 0.2) == pytest.approx(0.5)
    assert topk_recall(pred, truth, 0.2) == pytest.approx(0.5)
    # proxy's top 20% {0, 1} against the true top 30% {1, 2, 9}: precision 1/2, recall 1/3
    assert topk_precision(pred, truth, 0.2, true_frac=0.3) == pytest.approx(1 / 2)
    assert topk_recall(pred, truth, 0.2, true_frac=0.3) == pytest.approx(1 / 3)
    assert topk_precision(truth, truth, 0.1) == 1.0
    assert top_count(725, 0.01) == 8 and top_count(10, 0.01) == 1
    with pytest.raises(ValueError, match="fraction"):
        topk_precision(pred, truth, 0.0)


def test_topk_ties_do_not_depend_on_row_order() -> None:
    # a constant proxy gets the random baseline even when the rows are sorted by accuracy (best first)
    truth = np.arange(100.0)[::-1]
    assert topk_precision(np.zeros(100), truth, 0.1) == pytest.approx(0.1)
    assert topk_recall(np.zeros(100), truth, 0.1) == pytest.approx(0.1)
    # top 2 of 4: arch 0 is in for sure, archs 1 and 2 tie for the last place (half a hit expected from arch 1)
    pred = np.array([3.0, 2.0, 2.0, 1.0])
    truth = np.array([4.0, 3.0, 1.0, 2.0])
    for order in ([0, 1, 2, 3], [0, 2, 1, 3], [3, 2, 1, 0]):
        assert topk_precision(pred[order], truth[order], 0.5) == pytest.approx(0.75)


def test_rank_of_the_true_best() -> None:
    pred = [10, 9, 8, 7]
    truth = [1, 10, 9, 2]
    assert true_best_rank(pred, truth) == 2.0
    assert true_best_rank([5, 5, 5, 5], truth) == 2.5  # ties share the average rank: no credit for a constant
    assert true_best_rank([1, 2, 3, 4], [4, 3, 2, 1]) == 4.0


def test_bootstrap_interval_is_reproducible_and_brackets_the_estimate() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(size=300)
    pred = truth + rng.normal(size=300)
    lo, hi = bootstrap_ci(spearman, pred, truth, n_resamples=200, seed=3)
    assert lo < spearman(pred, truth) < hi
    assert (lo, hi) == bootstrap_ci(spearman, pred, truth, n_resamples=200, seed=3)
    assert hi - lo < 0.2
    perfect = bootstrap_ci(kendall, truth, truth, n_resamples=50)
    assert perfect == pytest.approx((1.0, 1.0))
    assert all(math.isnan(v) for v in bootstrap_ci(spearman, pred, truth, n_resamples=0))


def test_bootstrap_interval_survives_a_few_undefined_resamples() -> None:
    """A mostly-tied proxy on few cells: some resamples pick only tied values (ρ undefined). Up to 1 - confidence
    of them are left out of the percentiles; with more, the interval is undefined rather than invented."""
    truth = np.arange(12, dtype=float)
    pred = np.r_[np.zeros(9), 1.0, 2.0, 3.0]  # 9 of 12 tied: a resample of only those has no ρ
    draws = scipy_bootstrap_distribution(pred, truth, n_resamples=400, seed=0)
    undefined = np.mean(~np.isfinite(draws))
    assert 0.0 < undefined <= 0.05  # the case this covers: some, but few, undefined resamples
    lo, hi = bootstrap_ci(spearman, pred, truth, n_resamples=400, seed=0)
    defined = draws[np.isfinite(draws)]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(defined, [2.5, 97.5])))
    assert lo <= spearman(pred, truth) <= hi
    # a 99.9 % interval tolerates only 0.1 % undefined resamples: refused
    assert all(math.isnan(v) for v in bootstrap_ci(spearman, pred, truth, 400, confidence=0.999, seed=0))


def scipy_bootstrap_distribution(pred: np.ndarray, truth: np.ndarray, n_resamples: int, seed: int) -> np.ndarray:
    """The resampled Spearmans scipy draws for :func:`bootstrap_ci` with the same seed."""
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap((pred, truth), lambda a, b: spearman(a, b), paired=True, vectorized=False,
                                 n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed))
    return np.asarray(result.bootstrap_distribution, dtype=float)


def test_worst_ranks_a_missing_score_below_a_real_minus_infinity() -> None:
    """Under "worst" a missing score goes below every scored one, a real -inf (synflow's log 0) included: it must
    not tie with it."""
    pred = [math.nan, -math.inf, 2.0, 3.0]
    truth = [1.0, 2.0, 3.0, 4.0]
    assert spearman(pred, truth, "worst") == pytest.approx(1.0)
    p, _, report = clean_pairs(pred, truth, "worst")
    assert report.n_used == 4 and p[0] < p[1] < p[2] < p[3]
    tied = [math.nan, -math.inf, -math.inf, 3.0]  # ties among scored values stay ties
    p, _, _ = clean_pairs(tied, truth, "worst")
    assert p[0] < p[1] == p[2] < p[3]
    # a pair with neither score nor truth is dropped and does not disturb the others
    p, t, report = clean_pairs([math.nan, -math.inf, 2.0, math.nan], [1.0, 2.0, 3.0, math.nan], "worst")
    assert report.n_used == 3 and list(t) == [1.0, 2.0, 3.0] and p[0] < p[1] < p[2]
