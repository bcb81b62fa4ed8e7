"""The evaluator: every proxy and ensemble of a score table measured against one ground truth.

:func:`evaluate` takes a wide score table (one row per architecture key, one column per proxy, scores oriented
higher-is-better) and a truth Series on the same keys, and returns an :class:`Evaluation`: per-proxy
metrics with bootstrap confidence intervals and NaN accounting, label-free ensembles, the held-out curve of
combinations learned from k labels, top-k precision curves, the proxy-proxy correlation matrix and a
leave-one-out ablation of the default ensemble. Plots and reports are made from it elsewhere.

The population is the architectures that have a score row: those without a truth value are counted and
dropped, and ground-truth architectures that were never scored are counted in ``notes``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from archrank.bench import ensemble as ens
from archrank.bench import metrics as m

DEFAULT_TOPK: tuple[float, ...] = (0.01, 0.05, 0.1)
DEFAULT_KS: tuple[int, ...] = (10, 20, 50, 100)
DEFAULT_SET = "default"


@dataclass
class Evaluation:
    """Everything a report shows; DataFrames indexed by proxy/ensemble name unless said otherwise."""

    truth_name: str
    scores: pd.DataFrame  # proxies and ensembles, index arch_key (scored archs)
    truth: pd.Series  # aligned to scores.index (NaN where the truth has no value)
    metrics: pd.DataFrame  # one row per proxy / ensemble
    curves: pd.DataFrame  # index: top fraction; columns: names -> precision
    correlation: pd.DataFrame  # proxy x proxy Spearman (pairwise complete)
    learned: pd.DataFrame  # one row per (model, k, repeat)
    ablation: pd.DataFrame  # default ensemble without each proxy in turn
    ensembles: dict[str, tuple[str, ...]]  # ensemble name -> proxies it combines
    settings: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def proxies(self) -> list[str]:
        return [n for n in self.metrics.index if self.metrics.loc[n, "kind"] == "proxy"]

    def learned_summary(self) -> pd.DataFrame:
        """Held-out Spearman/Kendall of each learned model by k: mean, std, min over repeats."""
        if self.learned.empty:
            return pd.DataFrame()
        grouped = self.learned.groupby(["model", "k"])
        out = grouped["spearman"].agg(["mean", "std", "min", "max"]).add_prefix("spearman_")
        out["kendall_mean"] = grouped["kendall"].mean()
        out["repeats"] = grouped.size()
        out["n_eval"] = grouped["n_eval"].min()
        return out.reset_index()

    def best(self, kind: str = "ensemble") -> tuple[str, float]:
        """Name and Spearman of the best row of ``kind`` (``"proxy"`` or ``"ensemble"``)."""
        rows = self.metrics[self.metrics["kind"] == kind]["spearman"].dropna()
        if rows.empty:
            return "", float("nan")
        name = str(rows.idxmax())
        return name, float(rows[name])


def proxy_orientation(name: str) -> str:
    """How the stored score relates to the proxy's raw value, from the proxy engine's metadata if present."""
    try:
        from archrank.proxies import get_proxy_info  # type: ignore[attr-defined]
    except ImportError:
        return ""
    try:
        info = get_proxy_info(name)
    except (KeyError, ValueError, LookupError):
        return ""
    if getattr(info, "negated", False):
        return "negated (raw lower is better)"
    return "as computed" if getattr(info, "higher_is_better", True) else "raw lower is better"


def _row(name: str, kind: str, pred: np.ndarray, truth: np.ndarray, opts: dict[str, Any]) -> dict[str, Any]:
    policy = opts["nan_policy"]
    _, _, report = m.clean_pairs(pred, truth, policy)
    row: dict[str, Any] = {
        "kind": kind, "n_used": report.n_used, "n_missing": report.n_pred_missing,
        "n_truth_missing": report.n_truth_missing, "nan_policy": policy,
        "spearman": m.spearman(pred, truth, policy), "kendall": m.kendall(pred, truth, policy),
        "pearson": m.pearson(pred, truth, policy),
    }
    for metric_name, fn in (("spearman", m.spearman), ("kendall", m.kendall)):
        lo, hi = m.bootstrap_ci(
            fn, pred, truth, n_resamples=opts["n_boot"], confidence=opts["confidence"], seed=opts["seed"],
            nan_policy=policy,
        )
        row[f"{metric_name}_lo"], row[f"{metric_name}_hi"] = lo, hi
    for frac in opts["topk"]:
        row[topk_column(frac)] = m.topk_precision(pred, truth, frac, nan_policy=policy)
    row["best_rank"] = m.true_best_rank(pred, truth, policy)
    row["orientation"] = proxy_orientation(name) if kind == "proxy" and opts["orientation"] else ""
    return row


def topk_column(frac: float) -> str:
    """Column name of top-k precision at ``frac``, e.g. ``P@5%``."""
    return f"P@{frac * 100:g}%"


def _ensemble_sets(
    proxies: Sequence[str], ensemble_sets: Mapping[str, Sequence[str]] | None, notes: list[str]
) -> dict[str, tuple[str, ...]]:
    if ensemble_sets is None:
        chosen = tuple(p for p in ens.ENSEMBLE_PROXIES if p in proxies)
        if len(chosen) < 2:
            chosen = tuple(proxies)
            notes.append(
                f"fewer than two of ENSEMBLE_PROXIES ({', '.join(ens.ENSEMBLE_PROXIES)}) are in the table: the "
                f"'{DEFAULT_SET}' ensemble uses every proxy present"
            )
        ensemble_sets = {DEFAULT_SET: chosen}
    out = {}
    for name, members in ensemble_sets.items():
        present = tuple(p for p in members if p in proxies)
        absent = [p for p in members if p not in proxies]
        if absent:
            notes.append(f"ensemble set '{name}': {', '.join(absent)} not in the table, combined without them")
        if len(present) >= 2:
            out[name] = present
        else:
            notes.append(f"ensemble set '{name}' skipped: fewer than two of its proxies are in the table")
    return out


def evaluate(
    table: pd.DataFrame,
    truth: pd.Series,
    *,
    truth_name: str = "truth",
    proxies: Sequence[str] | None = None,
    ensemble_sets: Mapping[str, Sequence[str]] | None = None,
    methods: Sequence[str] = ens.LABEL_FREE_METHODS,
    topk: Sequence[float] = DEFAULT_TOPK,
    n_boot: int = 1000,
    confidence: float = 0.95,
    nan_policy: m.NanPolicy = "omit",
    label_ks: Sequence[int] = DEFAULT_KS,
    label_repeats: int = 20,
    learned_models: Sequence[str] = ("monotone", "linear", "select"),
    seed: int = 0,
    engine_orientation: bool = True,
) -> Evaluation:
    """Measure every proxy of ``table`` and its ensembles against ``truth`` (see the module docstring).

    ``ensemble_sets`` maps a set name to the proxies it combines (default: ``{"default": ENSEMBLE_PROXIES``
    present in the table``}``, or every proxy when fewer than two are); each set is aggregated with every
    label-free ``method`` into a column named ``"<set>:<method>"``. Learned combinations use every proxy.
    ``engine_orientation`` fills the ``orientation`` column from archrank's proxy metadata; turn it off for
    scores that archrank's engine did not compute (e.g. NASLib reference scores).
    """
    proxies = [str(p) for p in (proxies if proxies is not None else table.columns)]
    missing = [p for p in proxies if p not in table.columns]
    if missing:
        raise ValueError(f"proxies not in the score table: {', '.join(missing)}")
    if not proxies or table.empty:
        raise ValueError("the score table is empty: nothing to evaluate")
    notes: list[str] = []
    scores = table[proxies].astype(float).copy()
    aligned = truth.reindex(scores.index).astype(float)
    if not aligned.notna().any():
        example = repr(truth.index[0]) if len(truth) else "none"
        raise ValueError(f"no scored architecture has a truth value: the {len(scores)} score rows (keys like "
                         f"{scores.index[0]!r}) share no key with a value in the truth (keys like {example})")
    unscored = int(truth.dropna().index.difference(scores.index).size)
    notes.append(
        f"{len(scores)} scored architectures; {int(aligned.isna().sum())} of them lack a truth value (dropped); "
        f"{unscored} ground-truth architectures have no score row (outside the evaluated population)"
    )
    sets = _ensemble_sets(proxies, ensemble_sets, notes)
    kinds = dict.fromkeys(proxies, "proxy")
    for set_name, members in sets.items():
        for method in methods:
            column = f"{set_name}:{method}"
            scores[column] = ens.aggregate(scores[list(members)], method=method, nan_policy=nan_policy)
            kinds[column] = "ensemble"
    opts = {"nan_policy": nan_policy, "n_boot": n_boot, "confidence": confidence, "seed": seed, "topk": topk,
            "orientation": engine_orientation}
    t = aligned.to_numpy()
    metrics = pd.DataFrame.from_dict(
        {name: _row(name, kind, scores[name].to_numpy(), t, opts) for name, kind in kinds.items()}, orient="index"
    )
    metrics.index.name = "name"
    fracs = curve_fractions(int(np.isfinite(t).sum()))
    curves = pd.DataFrame(
        {name: [m.topk_precision(scores[name], t, f, nan_policy=nan_policy) for f in fracs] for name in kinds},
        index=pd.Index(fracs, name="top_fraction"),
    )
    correlation = scores[proxies].corr(method="spearman", min_periods=3)
    learned = _learned(scores[proxies], t, label_ks, label_repeats, learned_models, seed, notes)
    ablation = _ablation(scores, t, sets.get(DEFAULT_SET), methods, nan_policy)
    settings = {
        "nan_policy": nan_policy, "bootstrap_resamples": n_boot, "confidence": confidence, "seed": seed,
        "topk": list(topk), "label_ks": list(label_ks), "label_repeats": label_repeats,
        "learned_models": list(learned_models), "methods": list(methods),
    }
    return Evaluation(truth_name, scores, aligned, metrics, curves, correlation, learned, ablation, sets,
                      settings, notes)


def curve_fractions(n: int) -> list[float]:
    """Top fractions for precision curves: from one architecture's worth (≥ 0.1%) to 50%, log-spaced."""
    low = max(1.0 / max(n, 1), 0.001)
    grid = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
    return [f for f in grid if f >= low * 0.999]


def _learned(
    scores: pd.DataFrame, truth: np.ndarray, ks: Sequence[int], repeats: int, models: Sequence[str], seed: int,
    notes: list[str],
) -> pd.DataFrame:
    frames = []
    usable = int(np.isfinite(truth).sum())
    for model in models:
        frames.append(ens.held_out_curve(scores, truth, ks=ks, repeats=repeats, model=model, seed=seed))
    skipped = [k for k in ks if k >= usable - 2]
    if skipped:
        notes.append(f"learned combinations skipped for k = {skipped}: not enough labelled architectures")
    frames = [f for f in frames if not f.empty]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["model", "k", "spearman"])


def _ablation(
    scores: pd.DataFrame, truth: np.ndarray, members: tuple[str, ...] | None, methods: Sequence[str],
    nan_policy: m.NanPolicy,
) -> pd.DataFrame:
    """Spearman of the default set's rank aggregations with each member left out (vote is too slow to redo)."""
    if not members or len(members) < 2:
        return pd.DataFrame()
    quick = [meth for meth in methods if meth != "vote"]
    rows = {}
    for left_out in (None, *members):
        kept = [p for p in members if p != left_out]
        label = "all members" if left_out is None else f"without {left_out}"
        rows[label] = {
            meth: m.spearman(ens.aggregate(scores[kept], meth, nan_policy), truth, nan_policy) for meth in quick
        }
    return pd.DataFrame.from_dict(rows, orient="index")
