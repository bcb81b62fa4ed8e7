"""The control-variate estimate of a ranker's Spearman over a whole space from a measured sample."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from archrank.bench.estimate import control_variate_check, control_variate_estimate


def test_control_variate_estimate_corrects_an_unlucky_sample() -> None:
    """On a synthetic population where a ranker and a control share most of their error, the adjusted estimate is
    closer to the population Spearman than the raw one over many random samples, and its interval covers it; an
    unrelated control leaves the estimate where it was."""

    rng = np.random.default_rng(3)
    n_all = 4000
    index = [f"cell{i}" for i in range(n_all)]
    truth = rng.normal(size=n_all)
    shared = rng.normal(size=n_all)  # what both rankers get wrong in the same way
    control = pd.Series(truth + shared, index=index)
    ranker = pd.Series(truth + shared + 0.6 * rng.normal(size=n_all), index=index)
    unrelated = pd.Series(rng.normal(size=n_all), index=index)
    truth = pd.Series(truth, index=index)
    target = stats.spearmanr(ranker, truth).statistic
    raw_err, adj_err, covered = [], [], 0
    for sample in range(40):
        keys = rng.choice(index, size=60, replace=False)
        est = control_variate_estimate(ranker.loc[keys], truth, control, draws=400, seed=sample)
        raw_err.append(est["rho"] - target)
        adj_err.append(est["rho_adj"] - target)
        covered += est["rho_adj_lo"] <= target <= est["rho_adj_hi"]
        assert est["archs"] == 60 and est["r"] > 0.5
        assert est["rho_adj_hi"] - est["rho_adj_lo"] < est["rho_hi"] - est["rho_lo"]
    assert np.sqrt(np.mean(np.square(adj_err))) < 0.7 * np.sqrt(np.mean(np.square(raw_err)))
    assert covered >= 32  # nominal 95 %; 40 samples
    est = control_variate_estimate(ranker.loc[keys], truth, unrelated, draws=400)
    assert abs(est["rho_adj"] - est["rho"]) < 0.03 and abs(est["r"]) < 0.3
    with pytest.raises(ValueError, match="fewer than 5"):
        control_variate_estimate(ranker.iloc[:3], truth, control)
    check = control_variate_check(ranker, truth, control, archs=60, samples=10, draws=300)
    assert check["rho_all"] == pytest.approx(target) and check["rmse_adj"] < check["rmse_raw"]
    assert 0.0 <= check["coverage_adj"] <= 1.0 and check["samples"] == 10
    # every draw (samples and their bootstraps) follows from ``seed``: the same seed, the same check
    assert check == control_variate_check(ranker, truth, control, archs=60, samples=10, draws=300)
    assert check != control_variate_check(ranker, truth, control, archs=60, samples=10, draws=300, seed=1)


def test_a_constant_ranker_gets_one_clear_error() -> None:
    """A ranker that gives every measured cell the same score has no Spearman: one ValueError naming it, not an
    IndexError from an empty bootstrap."""
    rng = np.random.default_rng(0)
    index = [f"cell{i}" for i in range(50)]
    truth = pd.Series(rng.normal(size=50), index=index)
    control = truth + pd.Series(rng.normal(size=50), index=index)
    constant = pd.Series(1.0, index=index[:20])
    with pytest.raises(ValueError, match="the ranker's score is the same"):
        control_variate_estimate(constant, truth, control, draws=100)
    with pytest.raises(ValueError, match="the control is the same"):
        control_variate_estimate(truth.iloc[:20], truth, pd.Series(0.0, index=index), draws=100)
