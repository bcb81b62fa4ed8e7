"""Ensembles on small hand-made and synthetic data with a known answer."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import archrank.bench as bench
from archrank.bench import ENSEMBLE_PROXIES, aggregate, fit_combination, held_out_curve, spearman


def test_default_ensemble_names_engine_proxies() -> None:
    assert isinstance(ENSEMBLE_PROXIES, tuple) and len(ENSEMBLE_PROXIES) >= 2
    assert {"az_expressivity", "az_progressivity", "az_trainability", "az_complexity"} <= set(ENSEMBLE_PROXIES)
    assert bench.DEFAULT_METHOD in bench.LABEL_FREE_METHODS


def test_mean_rank_and_nonlinear_by_hand() -> None:
    scores = {"a": [1.0, 2.0, 3.0], "b": [3.0, 1.0, 2.0]}
    # normalised ranks a = (1/3, 2/3, 1), b = (1, 1/3, 2/3)
    assert aggregate(scores, "mean_rank") == pytest.approx([2 / 3, 1 / 2, 5 / 6])
    expected = [math.log(1 / 3) / 2, (math.log(2 / 3) + math.log(1 / 3)) / 2, math.log(2 / 3) / 2]
    assert aggregate(scores, "nonlinear") == pytest.approx(expected)
    assert aggregate(scores) == pytest.approx(expected)  # nonlinear is the default


def test_nonlinear_prefers_no_weak_spot_where_mean_rank_ties() -> None:
    scores = {"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0]}
    mean = aggregate(scores, "mean_rank")
    assert mean == pytest.approx([2 / 3] * 3)
    nonlinear = aggregate(scores, "nonlinear")
    assert int(np.argmax(nonlinear)) == 1  # the arch no proxy ranks last


def test_majority_vote_by_hand_and_against_brute_force() -> None:
    votes = aggregate({"a": [3, 2, 1], "b": [3, 2, 1], "c": [1, 2, 3]}, "vote")
    assert votes == pytest.approx([1.0, 0.5, 0.0])
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 4, size=(25, 4)).astype(float)
    matrix[rng.random(matrix.shape) < 0.15] = np.nan
    got = aggregate({str(j): matrix[:, j] for j in range(4)}, "vote")
    n = len(matrix)
    for i in range(n):
        if np.isnan(matrix[i]).all():
            assert math.isnan(got[i])
            continue
        score = 0.0
        for k in range(n):
            if k == i:
                continue
            both = ~np.isnan(matrix[i]) & ~np.isnan(matrix[k])
            net = np.sign(matrix[i, both] - matrix[k, both]).sum()
            score += 1.0 if net > 0 else 0.5 if net == 0 else 0.0
        assert got[i] == pytest.approx(score / (n - 1))


def test_missing_scores() -> None:
    scores = {"a": [1.0, math.nan, 3.0, math.nan], "b": [2.0, 1.0, 3.0, math.nan]}
    omit = aggregate(scores, "mean_rank")
    assert math.isnan(omit[3]) and not np.isnan(omit[:3]).any()  # NaN only where no proxy scored
    assert omit[1] == pytest.approx(1 / 3)  # judged on b alone: rank 1 of 3
    worst = aggregate(scores, "mean_rank", nan_policy="worst")
    assert not np.isnan(worst).any()
    assert int(np.argmin(worst)) == 3
    with pytest.raises(ValueError, match="raise"):
        aggregate(scores, nan_policy="raise")


def test_input_errors() -> None:
    with pytest.raises(ValueError, match="same order"):
        aggregate({"a": [1, 2, 3], "b": [1, 2]})
    with pytest.raises(ValueError, match="unknown aggregation"):
        aggregate({"a": [1, 2]}, "median")
    with pytest.raises(ValueError, match="no proxies"):
        aggregate({})
    with pytest.raises(ValueError, match="weights"):
        aggregate({"a": [1, 2]}, weights={"a": -1.0})
    with pytest.raises(ValueError, match="finite"):
        aggregate({"a": [1, 2], "b": [2, 1]}, weights={"a": float("nan"), "b": 1.0})
    with pytest.raises(ValueError, match="lack: synflw"):  # a typo must not silently drop a member
        aggregate({"a": [1, 2], "synflow": [2, 1]}, weights={"a": 1.0, "synflw": 1.0})
    with pytest.raises(ValueError, match="no weights"):
        aggregate({"a": [1, 2]}, "vote", weights={"a": 1.0})
    weighted = aggregate({"a": [1.0, 2.0, 3.0], "b": [3.0, 2.0, 1.0]}, "mean_rank", weights={"a": 3.0, "b": 1.0})
    assert int(np.argmax(weighted)) == 2  # a dominates


def test_ensemble_of_noisy_views_beats_each_view() -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(size=2000)
    views = {f"p{i}": truth + rng.normal(scale=1.0, size=truth.size) for i in range(5)}
    best_single = max(spearman(v, truth) for v in views.values())
    for method in bench.LABEL_FREE_METHODS:
        assert spearman(aggregate(views, method), truth) > best_single + 0.05, method
    frame = pd.DataFrame(views)
    assert aggregate(frame) == pytest.approx(aggregate(views))


def synthetic(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    table = pd.DataFrame({
        "good": truth + rng.normal(scale=0.2, size=n),
        "noise": rng.normal(size=n),
        "anti": -truth + rng.normal(scale=0.5, size=n),
    })
    return table, truth


def test_learned_combinations_find_the_informative_proxy() -> None:
    table, truth = synthetic()
    labelled = np.arange(30)
    monotone = fit_combination(table, labelled, truth[labelled], model="monotone")
    weights = monotone.weights()
    assert weights["good"] > 5 * max(weights["noise"], 0.0) and weights["anti"] == 0.0  # monotone: no negatives
    assert spearman(monotone.predict(table), truth) > 0.9
    linear = fit_combination(table, labelled, truth[labelled], model="linear")
    assert spearman(linear.predict(table), truth) > 0.9  # may use the anti-correlated proxy with a minus sign
    select = fit_combination(table, labelled, truth[labelled], model="select")
    assert select.weights() == {"good": 1.0, "noise": 0.0, "anti": 0.0}
    with pytest.raises(ValueError, match="at least 3"):
        fit_combination(table, [0, 1], truth[:2])
    with pytest.raises(ValueError, match="needs proxies"):
        monotone.predict(table[["good"]])


def test_held_out_curve_never_evaluates_on_the_labelled_archs() -> None:
    table, truth = synthetic(n=120)
    truth = truth.copy()
    truth[:5] = np.nan  # never drawn, never evaluated
    curve = held_out_curve(table, truth, ks=(10, 50), repeats=3, seed=1)
    assert list(curve["k"]) == [10, 10, 10, 50, 50, 50]
    assert list(curve["n_eval"]) == [105] * 3 + [65] * 3
    assert (curve["spearman"] > 0.85).all()
    again = held_out_curve(table, truth, ks=(10, 50), repeats=3, seed=1)
    pd.testing.assert_frame_equal(curve, again)
    assert held_out_curve(table, truth, ks=(500,), repeats=2).empty


@pytest.mark.parametrize(("method", "policy"), list(itertools.product(bench.LABEL_FREE_METHODS, ("omit", "worst"))))
def test_aggregate_is_invariant_to_monotone_rescaling(method: str, policy: str) -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=50), rng.normal(size=50)
    a[4] = np.nan
    base = aggregate({"a": a, "b": b}, method, nan_policy=policy)  # type: ignore[arg-type]
    scaled = aggregate({"a": np.exp(a) * 1e6, "b": b**3}, method, nan_policy=policy)  # type: ignore[arg-type]
    np.testing.assert_allclose(base, scaled)


def test_minus_infinity_is_the_worst_score_not_a_missing_one() -> None:
    """log(0) = -inf (synflow of a disconnected cell) ranks last under every NaN policy; NaN is what is missing."""
    from archrank.bench import spearman

    synflow = np.array([3.0, 2.0, -np.inf, 1.0])
    nwot = np.array([4.0, 3.0, 1.0, 2.0])
    for policy in ("omit", "worst"):
        combined = aggregate({"synflow": synflow, "nwot": nwot}, nan_policy=policy)
        assert np.all(np.isfinite(combined)) and int(np.argmin(combined)) == 2
    assert spearman(synflow, [4.0, 3.0, 1.0, 2.0]) == pytest.approx(1.0)  # -inf is ranked, not dropped


def test_fit_combination_names_bad_labels() -> None:
    """A NaN label or a row outside the table is one clear ValueError, not nnls's "infs or NaNs" or an IndexError."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"a": rng.normal(size=20), "b": rng.normal(size=20)})
    with pytest.raises(ValueError, match="labels must be finite: 1 of 4"):
        fit_combination(table, [0, 1, 2, 3], [1.0, np.nan, 3.0, 4.0])
    with pytest.raises(ValueError, match=r"labelled rows must be in 0\.\.19"):
        fit_combination(table, [0, 1, 2, 30], [1.0, 2.0, 3.0, 4.0])
