"""One factor at a time: what changing a single EcoNAS factor does to the rank consistency.

EcoNAS (Zhou et al., CVPR 2020) reads its four reduction factors (channels ``c``, resolution ``r``, samples ``s``,
epochs ``e``) one at a time around a base setting. Two settings measured on different samples of cells cannot be
compared by their Spearmans alone (a sample moves a Spearman by ±0.2 at 100 cells); on the cells both finished the
difference is paired, and its bootstrap interval is much narrower than either Spearman's. :func:`factor_effects`
pairs every two trained settings that differ in exactly one factor and share a training recipe.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import stats

from archrank.bench.metrics import spearman_rows
from archrank.econas.setting import parse_setting

_FACTORS = ("c", "r", "s", "e")


def one_factor_apart(first: str, second: str) -> str | None:
    """The factor (``c``, ``r``, ``s`` or ``e``) in which two setting names differ, when it is exactly one and their
    recipe tags (the ``|batch_size=...`` part) agree; None otherwise."""
    (a, tag_a), (b, tag_b) = (name.partition("|")[::2] for name in (first, second))
    if tag_a != tag_b:
        return None
    sa, sb = parse_setting(a), parse_setting(b)
    differ = [f for f in _FACTORS if getattr(sa, f) != getattr(sb, f)]
    return differ[0] if len(differ) == 1 else None


def factor_effects(
    accuracy: Mapping[str, pd.Series], truth: pd.Series, draws: int = 2000, seed: int = 0
) -> pd.DataFrame:
    """For every pair of settings in ``accuracy`` (setting name -> accuracy per arch key) one factor apart: the
    factor, both Spearmans against ``truth`` on the cells both finished, their difference (second - first, the
    second being the larger factor subscript) and its paired 95 % bootstrap interval over those cells."""
    names = list(accuracy)
    rows = []
    rng = np.random.default_rng(seed)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            factor = one_factor_apart(first, second)
            if factor is None:
                continue
            lo_name, hi_name = sorted((first, second), key=lambda n: getattr(parse_setting(n.partition("|")[0]),
                                                                              factor))
            joined = pd.concat([accuracy[lo_name].rename("a"), accuracy[hi_name].rename("b"), truth.rename("t")],
                               axis=1, join="inner").astype(float).dropna()
            if len(joined) < 5:
                continue
            a, b, t = (joined[c].to_numpy() for c in ("a", "b", "t"))
            rho_a, rho_b = stats.spearmanr(a, t).statistic, stats.spearmanr(b, t).statistic
            picks = rng.integers(0, len(joined), size=(draws, len(joined)))
            diffs = spearman_rows(b[picks], t[picks]) - spearman_rows(a[picks], t[picks])
            low, high = np.nanquantile(diffs, [0.025, 0.975])
            rows.append({"factor": factor, "from": lo_name, "to": hi_name, "archs": len(joined),
                         "rho_from": float(rho_a), "rho_to": float(rho_b), "difference": float(rho_b - rho_a),
                         "difference_ci95": f"[{low:+.2f}, {high:+.2f}]"})
    return pd.DataFrame(rows)
