"""A ranker's Spearman over a whole space, estimated from the part of it that was measured.

Scoring or training every architecture of a space is often too dear, so a ranker is measured on a sample, and a
sample that happens to be hard (or easy) to rank reads every ranker low (or high). When another ranker — the
*control* — is known on every architecture (a benchmark's own short training, a reference proxy's scores), its
Spearman on the sample and on the whole space shows how far the sample is off, and the regression (control-variate)
estimator carries that over to the measured ranker in proportion to how alike the two err on resamples of the
sample. :func:`control_variate_estimate` is the estimator; :func:`control_variate_check` tests it on a ranker known
everywhere, standing in for the unknown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from archrank.bench.metrics import spearman_rows


def control_variate_estimate(
    scores: pd.Series, truth: pd.Series, control: pd.Series, draws: int = 2000, seed: int = 0
) -> dict[str, float]:
    """The Spearman ``scores`` would reach against ``truth`` on every cell, estimated from the cells it was measured
    on and corrected with a ``control`` ranker known on every cell (e.g. NB201's 12-epoch training).

    A sample of cells that happens to be hard to rank reads every ranker low; a control measured on the same cells
    and on all of them shows by how much. The regression (control-variate) estimator corrects for it:
    ``rho_adj = rho_s - beta * (rho_c - rho_c_all)``, where ``rho_s`` and ``rho_c`` are the Spearmans of ``scores``
    and ``control`` on the measured cells, ``rho_c_all`` the control's on every cell of ``truth``, and ``beta`` the
    regression of ``rho_s`` on ``rho_c`` over ``draws`` bootstrap resamples of the measured cells. The interval is the
    2.5-97.5 % range of the same adjusted statistic over those resamples. It helps as much as the two sampling
    errors are correlated (``r``): the variance shrinks by ``1 - r**2``; with an unrelated control it changes
    nothing. Returns rho (raw), its bootstrap interval, rho_adj, its interval, beta, r, and the control's values.
    """
    joined = pd.concat([scores.rename("s"), truth.rename("t"), control.rename("c")], axis=1, join="inner")
    measured = joined.astype(float).dropna()
    if len(measured) < 5:
        raise ValueError("control_variate_estimate: fewer than 5 cells with a score, a truth and a control value")
    _require_spread(measured, "control_variate_estimate")
    return _adjusted(measured, _population_rho(truth, control), draws, seed)


def _require_spread(frame: pd.DataFrame, where: str) -> None:
    """``ValueError`` naming the column (``s`` scores, ``t`` truth, ``c`` control) that is constant on ``frame``: its
    Spearman is undefined there, and so is every bootstrap resample's (the estimate would have nothing to use)."""
    for column, name in {"s": "the ranker's score", "t": "the truth", "c": "the control"}.items():
        if frame[column].nunique() < 2:
            raise ValueError(f"{where}: {name} is the same on all {len(frame)} measured cells; no Spearman is defined")


def _population_rho(truth: pd.Series, control: pd.Series) -> float:
    """The control's Spearman against the truth over every cell both give."""
    population = pd.concat([truth.rename("t"), control.rename("c")], axis=1, join="inner").astype(float).dropna()
    return float(stats.spearmanr(population["c"], population["t"]).statistic)


def _adjusted(
    measured: pd.DataFrame, rho_c_all: float, draws: int, seed: int | np.random.SeedSequence
) -> dict[str, float]:
    """The estimate from the measured cells (columns ``s``, ``t``, ``c``) and the control's all-cells Spearman."""
    s, t, c = (measured[name].to_numpy() for name in ("s", "t", "c"))
    rho_s = float(stats.spearmanr(s, t).statistic)
    rho_c = float(stats.spearmanr(c, t).statistic)
    picks = np.random.default_rng(seed).integers(0, len(measured), size=(draws, len(measured)))
    boot_s = spearman_rows(s[picks], t[picks])
    boot_c = spearman_rows(c[picks], t[picks])
    ok = np.isfinite(boot_s) & np.isfinite(boot_c)
    boot_s, boot_c = boot_s[ok], boot_c[ok]
    cov = np.cov(boot_s, boot_c)
    beta = float(cov[0, 1] / cov[1, 1]) if cov[1, 1] > 0 else 0.0
    adjusted = boot_s - beta * (boot_c - rho_c_all)
    low, high = np.quantile(boot_s, [0.025, 0.975])
    adj_low, adj_high = np.quantile(adjusted, [0.025, 0.975])
    return {
        "archs": len(measured), "rho": rho_s, "rho_lo": float(low), "rho_hi": float(high),
        "rho_adj": rho_s - beta * (rho_c - rho_c_all), "rho_adj_lo": float(adj_low), "rho_adj_hi": float(adj_high),
        "beta": beta, "r": float(np.corrcoef(boot_s, boot_c)[0, 1]), "control_rho": rho_c, "control_rho_all": rho_c_all,
    }


def control_variate_check(
    ranker: pd.Series, truth: pd.Series, control: pd.Series, archs: int, samples: int = 100, draws: int = 1000,
    seed: int = 0,
) -> dict[str, float]:
    """How well :func:`control_variate_estimate` recovers the all-cells Spearman of a ``ranker`` known on every cell,
    over ``samples`` seeded uniform samples of ``archs`` cells: root-mean-square error and interval coverage of the
    raw and of the adjusted estimate (a check of the method on real tables, with a stand-in for the unknown)."""
    frame = pd.concat([ranker.rename("s"), truth.rename("t"), control.rename("c")], axis=1, join="inner")
    frame = frame.astype(float).dropna()
    _require_spread(frame, "control_variate_check")
    target = float(stats.spearmanr(frame["s"], frame["t"]).statistic)
    rho_c_all = _population_rho(frame["t"], frame["c"])  # once, not per sample
    # One seed sequence: the samples and each sample's bootstrap draws all follow from ``seed``.
    sample_seed, *bootstrap_seeds = np.random.SeedSequence(seed).spawn(samples + 1)
    rng = np.random.default_rng(sample_seed)
    raw, adjusted, raw_in, adj_in = [], [], 0, 0
    for bootstrap_seed in bootstrap_seeds:
        keys = frame.index[rng.choice(len(frame), size=archs, replace=False)]
        est = _adjusted(frame.loc[keys], rho_c_all, draws, bootstrap_seed)
        raw.append(est["rho"] - target)
        adjusted.append(est["rho_adj"] - target)
        raw_in += est["rho_lo"] <= target <= est["rho_hi"]
        adj_in += est["rho_adj_lo"] <= target <= est["rho_adj_hi"]
    return {"archs": archs, "samples": samples, "rho_all": target,
            "rmse_raw": float(np.sqrt(np.mean(np.square(raw)))),
            "rmse_adj": float(np.sqrt(np.mean(np.square(adjusted)))),
            "coverage_raw": raw_in / samples, "coverage_adj": adj_in / samples}
