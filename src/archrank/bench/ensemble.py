"""Combining proxies: label-free rank aggregation, and a combination learned from k labelled architectures.

Label-free methods (``aggregate(scores, method=...)``) see only the proxies' scores, never accuracy:

- ``"mean_rank"``: Borda count — the mean of each proxy's normalised rank;
- ``"vote"``: the majority vote of the zero-cost paper (Abdelfattah et al., ICLR 2021): every proxy votes on
  every pair of architectures; an architecture's score is its Copeland score (pairs won by majority, plus
  half the tied pairs) over all others. Exact, O(n² · proxies) in chunks: about 2 s for 15625 archs;
- ``"nonlinear"`` (default): AZ-NAS's non-linear rank aggregation (Lee & Ham, CVPR 2024) — the mean over
  proxies of ``log(rank / n)`` (rank ``n`` = best). The logarithm punishes an architecture that any one proxy
  ranks near the bottom, which is what lifts AZ-NAS above a plain rank mean.

Ranks are normalised per proxy to ``(0, 1]``, so proxies with different numbers of valid scores mix fairly.
Missing scores (NaN/inf) follow ``nan_policy``: ``"omit"`` (default) averages over the proxies that scored the
architecture and returns NaN only where *no* proxy did; ``"worst"`` ranks a missing score below every
present one. All scores must already be oriented higher-is-better (archrank stores them that way).

With labels, :func:`fit_combination` learns non-negative weights (``model="monotone"``, so the result is
monotone in every proxy) or free ridge weights (``"linear"``) on the features ``rank`` and ``log rank`` of each
proxy, fitted to the labelled architectures' accuracy ranks; :func:`held_out_curve` evaluates it on every
architecture *except* the labelled ones, over seeded repeats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

from archrank.bench.metrics import NanPolicy, kendall, spearman

# The default label-free ensemble, chosen from the literature, not fitted: AZ-NAS's four components
# (expressivity, progressivity, trainability, complexity = FLOPs; Lee & Ham, CVPR 2024: ρ 0.913 on NB201 with the
# "nonlinear" aggregation); MeCo (NeurIPS 2023), the strongest published single proxy on NB201; nwot and synflow,
# the two best single proxies of NAS-Bench-Suite-Zero, which combine well (ρ 0.849 together vs 0.799 / 0.776
# alone on its 725 cells); zico (gradient signal-to-noise), a view the others lack. Check it with the
# leave-one-out table of ``benchmarks/evaluate_nb201.py`` once all 15625 cells are scored.
ENSEMBLE_PROXIES: tuple[str, ...] = (
    "az_expressivity",
    "az_progressivity",
    "az_trainability",
    "az_complexity",
    "meco",
    "nwot",
    "synflow",
    "zico",
)
LABEL_FREE_METHODS: tuple[str, ...] = ("nonlinear", "mean_rank", "vote")
DEFAULT_METHOD = "nonlinear"
LEARNED_MODELS: tuple[str, ...] = ("monotone", "linear", "select")
_VOTE_CHUNK = 256


def score_matrix(scores: Mapping[str, Sequence[float]] | pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """Proxy names and an (archs × proxies) float matrix; NaN marks a missing score. ±inf are kept: they are known,
    ordered values (a disconnected cell's synflow in log mode is -inf, the worst score, not a missing one)."""
    if isinstance(scores, pd.DataFrame):
        names = [str(c) for c in scores.columns]
        matrix = scores.to_numpy(dtype=float, copy=True)
    else:
        names = list(scores)
        if not names:
            raise ValueError("no proxies to aggregate")
        columns = [np.asarray(scores[name], dtype=float).ravel() for name in names]
        lengths = {c.size for c in columns}
        if len(lengths) != 1:
            sizes = ", ".join(f"{n}={c.size}" for n, c in zip(names, columns, strict=True))
            raise ValueError(f"every proxy needs one score per architecture, in the same order; got {sizes}")
        matrix = np.column_stack(columns)
    if matrix.ndim != 2 or matrix.shape[1] == 0:
        raise ValueError("no proxies to aggregate")
    return names, matrix


def normalized_ranks(matrix: np.ndarray, nan_policy: NanPolicy = "omit") -> np.ndarray:
    """Per column, average ranks divided by the number of ranked entries: values in (0, 1], 1 = best.

    ``"omit"`` leaves missing entries NaN; ``"worst"`` ranks them (tied) below every present score.
    """
    if nan_policy == "raise" and np.isnan(matrix).any():
        raise ValueError("scores contain NaN and nan_policy='raise'")
    out = np.full(matrix.shape, np.nan)
    for j in range(matrix.shape[1]):
        col = matrix[:, j]
        if nan_policy == "worst":
            out[:, j] = stats.rankdata(np.where(np.isnan(col), -np.inf, col)) / col.size
        else:
            ok = ~np.isnan(col)
            if ok.any():
                out[ok, j] = stats.rankdata(col[ok]) / ok.sum()
    return out


def _copeland(matrix: np.ndarray, nan_policy: NanPolicy) -> np.ndarray:
    """Copeland score of pairwise majority votes, normalised to [0, 1].

    Each proxy votes +1/-1/0 on each pair by comparing its dense integer ranks; under ``"omit"`` a proxy that
    did not score either architecture abstains, under ``"worst"`` a missing score ranks below every other.
    """
    n, m = matrix.shape
    codes = np.empty((n, m), dtype=np.int32)
    partial = np.zeros(m, dtype=bool)
    for j in range(m):
        ok = ~np.isnan(matrix[:, j])
        codes[ok, j] = stats.rankdata(matrix[ok, j], method="dense") if ok.any() else 0
        codes[~ok, j] = 0 if nan_policy == "worst" else -1
        partial[j] = nan_policy != "worst" and not ok.all()
    out = np.empty(n)
    for start in range(0, n, _VOTE_CHUNK):
        block = codes[start : start + _VOTE_CHUNK]
        net = np.zeros((block.shape[0], n), dtype=np.int16)
        for j in range(m):
            vote = np.sign(block[:, j, None] - codes[None, :, j]).astype(np.int16)
            if partial[j]:
                vote *= (block[:, j, None] >= 0) & (codes[None, :, j] >= 0)
            net += vote
        # the self-comparison is a tie worth 0.5: subtract it
        out[start : start + _VOTE_CHUNK] = (net > 0).sum(axis=1) + 0.5 * (net == 0).sum(axis=1) - 0.5
    return out / max(n - 1, 1)


def aggregate(
    scores: Mapping[str, Sequence[float]] | pd.DataFrame,
    method: str = DEFAULT_METHOD,
    nan_policy: NanPolicy = "omit",
    weights: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Combine several proxies' scores into one score per architecture (higher = predicted better).

    ``scores`` maps proxy name -> scores, every list in the same architecture order (or a DataFrame with one
    column per proxy). ``method`` is one of :data:`LABEL_FREE_METHODS`; ``weights`` (optional; every proxy 1
    when omitted, 0 when left out of the mapping) weight the per-proxy terms of ``mean_rank`` and ``nonlinear``.
    An architecture that no proxy scored gets NaN under ``nan_policy="omit"``; the module docstring has the rest
    of the NaN rules.
    """
    if method not in LABEL_FREE_METHODS:
        raise ValueError(f"unknown aggregation {method!r}; choose one of {', '.join(LABEL_FREE_METHODS)}")
    names, matrix = score_matrix(scores)
    ranks = normalized_ranks(matrix, nan_policy)
    present = ~np.isnan(ranks)
    none_scored = ~present.any(axis=1)
    if method == "vote":
        if weights is not None:
            raise ValueError("the majority vote takes no weights (one proxy, one vote)")
        out = _copeland(matrix, nan_policy)
    else:
        unknown = sorted(set(weights or {}) - set(names))
        if unknown:  # a typo would silently drop that proxy from the ensemble
            raise ValueError(f"aggregation weights name proxies the scores lack: {', '.join(map(str, unknown))}")
        w = np.array([1.0 if weights is None else float(weights.get(n, 0.0)) for n in names])
        if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
            raise ValueError("aggregation weights must be finite, non-negative and not all zero")
        terms = np.log(ranks) if method == "nonlinear" else ranks
        wsum = (present * w).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.nansum(terms * w, axis=1) / wsum
    out = np.asarray(out, dtype=float)
    out[none_scored] = np.nan
    return out


# --- learned from k labels ------------------------------------------------------------------------------


def rank_features(matrix: np.ndarray) -> np.ndarray:
    """Features of the learned combination: each proxy's normalised rank and its log (missing -> median)."""
    ranks = normalized_ranks(matrix, "omit")
    ranks = np.where(np.isnan(ranks), 0.5, ranks)
    return np.hstack([ranks, np.log(ranks)])


@dataclass(frozen=True)
class Combination:
    """A combination learned from labelled architectures: ``predict`` scores every architecture."""

    proxies: tuple[str, ...]
    model: str
    coef: np.ndarray  # over rank_features columns: ranks of all proxies, then log ranks

    def predict(self, scores: Mapping[str, Sequence[float]] | pd.DataFrame) -> np.ndarray:
        names, matrix = score_matrix(scores)
        missing = [p for p in self.proxies if p not in names]
        if missing:
            raise ValueError(f"the combination needs proxies {', '.join(missing)}")
        matrix = matrix[:, [names.index(p) for p in self.proxies]]
        return rank_features(matrix) @ self.coef

    def weights(self) -> dict[str, float]:
        """Total weight of each proxy (rank + log-rank terms): a rough view of what the model relies on."""
        m = len(self.proxies)
        return {p: float(self.coef[i] + self.coef[m + i]) for i, p in enumerate(self.proxies)}


def fit_combination(
    scores: Mapping[str, Sequence[float]] | pd.DataFrame,
    labelled: Sequence[int],
    labels: Sequence[float],
    model: str = "monotone",
    alpha: float = 0.1,
) -> Combination:
    """Learn how to combine proxies from the accuracies ``labels`` of the architectures at rows ``labelled``.

    Features come from the scores of *all* architectures (ranks need no labels); only the labelled rows'
    accuracy is used. The target is the labelled architectures' accuracy rank in (0, 1].
    ``"monotone"``: non-negative least squares (``scipy.optimize.nnls``) with a ridge penalty ``alpha``;
    ``"linear"``: unconstrained ridge; ``"select"``: the single proxy with the best Spearman on the labels.
    """
    names, matrix = score_matrix(scores)
    coef = _fit(matrix, rank_features(matrix), labelled, labels, model, alpha)
    return Combination(tuple(names), model, coef)


def _fit(
    matrix: np.ndarray, features: np.ndarray, labelled: Sequence[int], labels: Sequence[float], model: str,
    alpha: float,
) -> np.ndarray:
    """Coefficients over ``features`` (see :func:`fit_combination`)."""
    if model not in LEARNED_MODELS:
        raise ValueError(f"unknown learned model {model!r}; choose one of {', '.join(LEARNED_MODELS)}")
    idx = np.asarray(labelled, dtype=int)
    y = np.asarray(labels, dtype=float)
    if idx.size != y.size or idx.size < 3:
        raise ValueError(f"need at least 3 labelled architectures with one label each, got {idx.size}/{y.size}")
    if idx.min() < 0 or idx.max() >= features.shape[0]:
        raise ValueError(f"labelled rows must be in 0..{features.shape[0] - 1}, got {idx.min()}..{idx.max()}")
    if not np.isfinite(y).all():
        raise ValueError(f"labels must be finite: {int((~np.isfinite(y)).sum())} of {y.size} are NaN or inf")
    coef = np.zeros(features.shape[1])
    if model == "select":
        rhos = np.array([spearman(matrix[idx, j], y) for j in range(matrix.shape[1])])
        coef[int(np.argmax(np.nan_to_num(rhos, nan=-np.inf)))] = 1.0
        return coef
    target = stats.rankdata(y) / y.size
    x = features[idx]
    a = np.vstack([x - x.mean(axis=0), math.sqrt(alpha) * np.eye(x.shape[1])])
    b = np.concatenate([target - target.mean(), np.zeros(x.shape[1])])
    coef = optimize.nnls(a, b)[0] if model == "monotone" else np.linalg.lstsq(a, b, rcond=None)[0]
    return np.asarray(coef, dtype=float)


def held_out_curve(
    scores: pd.DataFrame,
    truth: Sequence[float],
    ks: Sequence[int] = (10, 20, 50, 100),
    repeats: int = 20,
    model: str = "monotone",
    seed: int = 0,
    alpha: float = 0.1,
) -> pd.DataFrame:
    """Spearman/Kendall of a combination learned from k random labelled archs, on all the *other* archs.

    One row per (k, repeat); the k labelled architectures never count in the evaluation. Rows of ``truth``
    that are NaN are never drawn as labels and never evaluated.
    """
    _, matrix = score_matrix(scores)
    features = rank_features(matrix)
    t = np.asarray(truth, dtype=float)
    if t.size != matrix.shape[0]:
        raise ValueError(f"truth has {t.size} entries for {matrix.shape[0]} architectures")
    usable = np.flatnonzero(np.isfinite(t))
    rng = np.random.default_rng(seed)
    rows = []
    for k in ks:
        if k >= usable.size - 2:
            continue
        for r in range(repeats):
            chosen = rng.choice(usable, size=k, replace=False)
            pred = features @ _fit(matrix, features, chosen, t[chosen], model, alpha)
            rest = np.setdiff1d(usable, chosen)
            rows.append({
                "model": model, "k": int(k), "repeat": r,
                "spearman": spearman(pred[rest], t[rest]), "kendall": kendall(pred[rest], t[rest]),
                "n_eval": int(rest.size),
            })
    return pd.DataFrame(rows, columns=["model", "k", "repeat", "spearman", "kendall", "n_eval"])
