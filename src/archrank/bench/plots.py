"""Figures of an :class:`~archrank.bench.evaluate.Evaluation` (matplotlib, Agg backend, PNG files).

- ``scatter_proxies.png`` / ``scatter_ensembles.png``: score (percentile rank) vs accuracy, ρ and τ in titles;
- ``correlation_bars.png``: Spearman ρ and Kendall τ with bootstrap confidence intervals;
- ``proxy_correlation.png``: Spearman correlation between proxies (heat map);
- ``topk_precision.png``: top-k precision curves against the random baseline;
- ``learned_combination.png``: held-out ρ of combinations learned from k labels.

Every figure names the ground truth it was measured against (``source``) so no image leaves out where its
numbers come from. Figures are drawn with matplotlib's object API (``Figure`` + Agg canvas), never pyplot, so
importing or calling this module changes no global matplotlib state (backend, open figures).
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from archrank.bench.evaluate import Evaluation

DPI = 110
PROXY_COLOR = "#4C72B0"
ENSEMBLE_COLOR = "#DD8452"


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path


def _footer(fig: Figure, source: str) -> None:
    fig.text(0.5, -0.01, f"Ground truth: {source}", ha="center", va="top", fontsize=8, color="0.35")


def _percentile_rank(x: np.ndarray) -> np.ndarray:
    """Scores as percentile ranks (100 = the proxy's favourite, ties share the average rank, NaN kept)."""
    out = np.full(x.shape, np.nan)
    ok = np.isfinite(x)
    if ok.any():
        out[ok] = stats.rankdata(x[ok]) / ok.sum() * 100
    return out


def scatter_grid(ev: Evaluation, kind: str, path: Path, truth_label: str, source: str) -> Path | None:
    """One panel per proxy (``kind="proxy"``) or ensemble: score vs truth, ρ/τ/n in the panel title.

    The x axis is the score's percentile rank, not the raw value: raw proxy scores span up to 16 decades
    with both signs (synflow, jacov, epe_nas), so raw axes hide most points; ranks are also exactly what ρ
    and τ judge. The raw values are in the score table.
    """
    names = [n for n in ev.metrics.index if ev.metrics.loc[n, "kind"] == kind]
    if not names:
        return None
    cols = min(4, len(names))
    rows = math.ceil(len(names) / cols)
    fig = _figure(3.6 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False)
    y = ev.truth.to_numpy()
    size = 6 if len(y) < 2000 else 2
    for ax, name in zip(axes.flat, names, strict=False):
        x = _percentile_rank(ev.scores[name].to_numpy(dtype=float))
        ok = np.isfinite(x) & np.isfinite(y)
        ax.scatter(x[ok], y[ok], s=size, alpha=0.35, color=PROXY_COLOR if kind == "proxy" else ENSEMBLE_COLOR,
                   linewidths=0, rasterized=True)
        row = ev.metrics.loc[name]
        ax.set_title(f"{name}\nρ = {row['spearman']:.3f}   τ = {row['kendall']:.3f}   n = {row['n_used']}",
                     fontsize=9)
        ax.set_xlabel(("score" if kind == "proxy" else "aggregate score") + " percentile (100 = ranked best)",
                      fontsize=8)
        ax.set_xlim(-2, 102)
        ax.set_ylabel(truth_label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names):]:
        ax.set_visible(False)
    title = "Proxy score vs accuracy" if kind == "proxy" else "Ensemble score vs accuracy"
    fig.suptitle(title, fontsize=12)
    fig.tight_layout()
    _footer(fig, source)
    return _save(fig, path)


def correlation_bars(ev: Evaluation, path: Path, source: str, target: float | None = None) -> Path:
    """Horizontal bars of ρ and τ per proxy and ensemble, sorted by ρ, with bootstrap CIs as error bars. An
    undefined correlation (e.g. a constant score) gets no bar and the word "undefined", never a bar at 0."""
    frame = ev.metrics.sort_values("spearman", na_position="first")
    ypos = np.arange(len(frame))
    fig = _figure(8.5, 0.42 * len(frame) + 1.6)
    ax = fig.subplots()
    for offset, metric, color, label in ((0.2, "spearman", None, "Spearman ρ"), (-0.2, "kendall", "0.6", "Kendall τ")):
        values = frame[metric].to_numpy(dtype=float)
        known = np.isfinite(values)
        low = np.clip(values - frame[f"{metric}_lo"].to_numpy(dtype=float), 0, None)
        high = np.clip(frame[f"{metric}_hi"].to_numpy(dtype=float) - values, 0, None)
        colors = np.array([ENSEMBLE_COLOR if k == "ensemble" else PROXY_COLOR for k in frame["kind"]])
        ax.barh(ypos[known] + offset, values[known], height=0.38, color=color or list(colors[known]),
                xerr=np.vstack([np.nan_to_num(low[known]), np.nan_to_num(high[known])]), capsize=2,
                error_kw={"elinewidth": 0.8}, label=label)
    for y in ypos[~np.isfinite(frame["spearman"].to_numpy(dtype=float))]:
        ax.text(0.01, y, "undefined", va="center", fontsize=7, color="0.35", style="italic")
    ax.set_yticks(ypos, frame.index, fontsize=8)
    ax.set_ylim(-0.7, len(frame) - 0.3)  # every row, with or without a bar
    ax.axvline(0, color="black", linewidth=0.8)
    if target is not None:
        ax.axvline(target, color="crimson", linestyle=":", linewidth=1.2, label=f"target ρ = {target:g}")
    ax.set_xlabel("rank correlation with accuracy (higher is better)")
    level = ev.settings.get("confidence", 0.95)
    ax.set_title(f"Spearman ρ (blue: proxy, orange: ensemble) and Kendall τ (grey)\n"
                 f"error bars: {level:.0%} bootstrap CI, {ev.settings.get('bootstrap_resamples')} resamples",
                 fontsize=10)
    drawn = frame[["spearman", "kendall"]].to_numpy(dtype=float)
    drawn = drawn[np.isfinite(drawn)]
    ax.set_xlim(min(-0.1, float(drawn.min()) - 0.05) if drawn.size else -0.1, 1.0)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    _footer(fig, source)
    return _save(fig, path)


def correlation_heatmap(ev: Evaluation, path: Path, source: str) -> Path:
    """Spearman correlation between every pair of proxies, annotated."""
    corr = ev.correlation
    n = len(corr)
    fig = _figure(0.55 * n + 2.5, 0.5 * n + 1.8)
    ax = fig.subplots()
    image = ax.imshow(corr.to_numpy(dtype=float), cmap="coolwarm", vmin=-1, vmax=1)
    ax.set_xticks(range(n), corr.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), corr.index, fontsize=8)
    if n <= 24:
        for i in range(n):
            for j in range(n):
                value = corr.iat[i, j]
                if np.isfinite(value):
                    ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=6.5,
                            color="white" if abs(value) > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Spearman ρ between proxies")
    ax.set_title("How much the proxies agree with each other", fontsize=10)
    fig.tight_layout()
    _footer(fig, source)
    return _save(fig, path)


def _best_per_set(ev: Evaluation) -> list[str]:
    """For each ensemble set, the aggregation method with the highest ρ (keeps the curve plot readable)."""
    ensembles = ev.metrics[ev.metrics["kind"] == "ensemble"]
    best: dict[str, tuple[float, str]] = {}
    for name, rho in ensembles["spearman"].items():
        key = str(name).split(":")[0]
        value = -np.inf if np.isnan(rho) else float(rho)
        if key not in best or value > best[key][0]:
            best[key] = (value, str(name))
    return [name for _, name in best.values()]


def topk_curves(ev: Evaluation, path: Path, source: str) -> Path:
    """Precision of each proxy's top k% (share truly in the top k%) against k, log x axis, random baseline.

    Of the ensembles, only the best aggregation method of each proxy set is drawn; the table has them all.
    """
    curves = ev.curves
    x = curves.index.to_numpy(dtype=float) * 100
    fig = _figure(9, 5.2)
    ax = fig.subplots()
    proxies = [n for n in curves.columns if ev.metrics.loc[n, "kind"] == "proxy"]
    cmap = matplotlib.colormaps["tab20"]
    for i, name in enumerate(proxies):
        ax.plot(x, curves[name], marker=".", linewidth=1, color=cmap(i % 20), label=name)
    strong = matplotlib.colormaps["Dark2"]
    for i, name in enumerate(_best_per_set(ev)):
        ax.plot(x, curves[name], marker="s", linestyle="--", linewidth=2.2, markersize=4, color=strong(i % 8),
                label=f"{name} (ensemble)")
    ax.plot(x, x / 100, color="black", linestyle="--", linewidth=1, label="random ranking")
    ax.set_xscale("log")
    ax.set_xticks(x, [f"{v:g}" for v in x])
    ax.set_xlabel("k: top share of architectures (%)")
    ax.set_ylabel("precision: share of the proxy's top k% truly in the top k%")
    ax.set_ylim(0, 1.02)
    ax.set_title("Top-k precision (= recall at equal k)", fontsize=11)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    _footer(fig, source)
    return _save(fig, path)


def learned_curve(ev: Evaluation, path: Path, source: str, target: float | None = None) -> Path | None:
    """Held-out ρ (mean ± std over repeats) of learned combinations vs the number k of labelled archs."""
    summary = ev.learned_summary()
    if summary.empty:
        return None
    fig = _figure(7.5, 4.6)
    ax = fig.subplots()
    for model, group in summary.groupby("model"):
        mean, std = group["spearman_mean"].to_numpy(), group["spearman_std"].fillna(0).to_numpy()
        ax.plot(group["k"], mean, marker="o", label=f"learned: {model}")
        ax.fill_between(group["k"], mean - std, mean + std, alpha=0.15)
    for kind, style in (("ensemble", "-."), ("proxy", ":")):
        name, rho = ev.best(kind)
        if name:
            ax.axhline(rho, linestyle=style, color="0.3", linewidth=1,
                       label=f"best {'label-free ensemble' if kind == 'ensemble' else 'single proxy'}: "
                             f"{name} ({rho:.3f})")
    if target is not None:
        ax.axhline(target, color="crimson", linestyle=":", linewidth=1.2, label=f"target ρ = {target:g}")
    ax.set_xscale("log")
    ks = sorted(summary["k"].unique())
    ax.set_xticks(ks, [str(k) for k in ks])
    ax.set_xlabel("k: labelled architectures used to fit the combination")
    ax.set_ylabel("Spearman ρ on the other architectures")
    ax.set_title(f"Combinations learned from k labels (held out; mean ± std over "
                 f"{ev.settings.get('label_repeats')} draws)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7.5, loc="lower right")
    fig.tight_layout()
    _footer(fig, source)
    return _save(fig, path)


def make_all(
    ev: Evaluation, out_dir: Path, truth_label: str, source: str, target: float | None = None
) -> dict[str, Path]:
    """Write every figure into ``out_dir``; returns {caption key: path} for those that apply."""
    out_dir.mkdir(parents=True, exist_ok=True)
    made = {
        "scatter_proxies": scatter_grid(ev, "proxy", out_dir / "scatter_proxies.png", truth_label, source),
        "scatter_ensembles": scatter_grid(ev, "ensemble", out_dir / "scatter_ensembles.png", truth_label, source),
        "correlation_bars": correlation_bars(ev, out_dir / "correlation_bars.png", source, target),
        "proxy_correlation": correlation_heatmap(ev, out_dir / "proxy_correlation.png", source),
        "topk_precision": topk_curves(ev, out_dir / "topk_precision.png", source),
        "learned_combination": learned_curve(ev, out_dir / "learned_combination.png", source, target),
    }
    return {key: path for key, path in made.items() if path is not None}
