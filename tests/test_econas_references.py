"""Reference rankings for the EcoNAS consistency study (12-epoch NB201 training, params, FLOPs)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from archrank.config import data_root
from archrank.econas.references import rank_row, table_rows


def test_rank_row_uses_common_finite_keys_only() -> None:
    truth = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=list("abcde"))
    scores = pd.Series([10.0, 20.0, math.nan, 40.0, 30.0, 99.0], index=list("abcdez"))
    row = rank_row("x", scores, truth, cost=2.5, cost_unit="CPU s")
    assert row["archs"] == 4  # c is NaN, z has no truth
    assert row["spearman"] == pytest.approx(0.8)
    assert row["cost_per_arch"] == 2.5 and row["cost_unit"] == "CPU s"


def test_rank_row_needs_three_architectures() -> None:
    with pytest.raises(ValueError, match="fewer than 3"):
        rank_row("x", pd.Series([1.0, 2.0], index=["a", "b"]), pd.Series([1.0, 2.0], index=["a", "b"]), 0.0, "-")


@pytest.mark.skipif(data_root() is None, reason="needs ../shared/data (NB201 tables)")
def test_twelve_epoch_training_ranks_the_200_epoch_result() -> None:
    from archrank import get_space
    from archrank.econas.consistency import nb201_truth

    space = get_space("nb201")
    keys = [space.key(a) for a in space.sample_many(60, seed=5)]
    rows = {r["ranker"]: r for r in table_rows(keys, nb201_truth(space))}
    twelve = rows["NB201 12-epoch training (valid acc)"]
    assert twelve["archs"] == 60 and 0.3 < twelve["spearman"] <= 1.0
    assert twelve["cost_unit"].startswith("GPU") and twelve["cost_per_arch"] > 0
    assert rows["params (no training)"]["cost_per_arch"] == 0.0


@pytest.mark.skipif(data_root() is None, reason="needs ../shared/data (NB201 tables)")
def test_sample_typicality_places_a_sample_among_random_ones() -> None:
    from archrank import get_space
    from archrank.econas.consistency import nb201_truth
    from archrank.econas.references import sample_typicality

    space = get_space("nb201")
    truth = nb201_truth(space)
    uniform = sample_typicality([space.key(a) for a in space.sample_many(200, seed=3)], truth, draws=300)
    assert list(uniform["ranker"])[:1] == ["NB201 12-epoch training (valid acc)"] and set(uniform["archs"]) == {200}
    for row in uniform.itertuples():
        assert row.random_q025 < row.random_median < row.random_q975
        assert abs(row.random_median - row.spearman_all) < 0.03  # random samples centre on the population value
        assert 0.0 <= row.study_percentile <= 1.0
    # cells from a narrow band of the truth: every ranker's Spearman collapses, far below any random sample's
    middle = truth.dropna().sort_values()
    band = list(middle.index[len(middle) // 2 : len(middle) // 2 + 200])
    narrow = sample_typicality(band, truth, draws=300)
    assert (narrow["spearman_study"] < narrow["random_q025"]).all()
    assert (narrow["study_percentile"] < 0.025).all()


def test_one_factor_apart_and_paired_factor_effects() -> None:
    """Settings one factor apart (same recipe) are paired on their common cells; the paired difference's interval
    excludes 0 when one ranks far better, and unpaired or differently-trained settings are left out."""
    import numpy as np

    from archrank.bench.metrics import spearman, spearman_rows
    from archrank.econas.effects import factor_effects, one_factor_apart

    assert one_factor_apart("c4r4s0e5", "c4r4s0e10") == "e"
    assert one_factor_apart("c4r4s0e5", "c8r4s0e5") == "c"
    assert one_factor_apart("c4r4s0e5", "c8r4s1e5") is None  # two factors
    assert one_factor_apart("c4r4s0e20|batch_size=2048", "c4r4s0e10") is None  # another recipe
    assert one_factor_apart("c4r4s0e20|batch_size=2048", "c4r4s0e10|batch_size=2048") == "e"
    rng = np.random.default_rng(0)
    keys = [f"k{i}" for i in range(120)]
    truth = pd.Series(rng.normal(size=120), index=keys)
    accuracy = {
        "c4r4s0e10": truth + 0.3 * pd.Series(rng.normal(size=120), index=keys),
        "c4r4s0e5": (truth + 2.0 * pd.Series(rng.normal(size=120), index=keys)).iloc[:100],  # 100 common cells
        "c8r4s1e5": truth,  # two factors from both: never paired
    }
    effects = factor_effects(accuracy, truth, draws=500)
    assert len(effects) == 1
    row = effects.iloc[0]
    assert (row["factor"], row["from"], row["to"], row["archs"]) == ("e", "c4r4s0e5", "c4r4s0e10", 100)
    assert row["difference"] == pytest.approx(row["rho_to"] - row["rho_from"]) and row["difference"] > 0.3
    low = float(row["difference_ci95"].strip("[]").split(",")[0])
    assert low > 0
    x = rng.normal(size=(3, 30))
    y = rng.normal(size=(3, 30))
    assert spearman_rows(x, y) == pytest.approx([spearman(x[i], y[i]) for i in range(3)])
