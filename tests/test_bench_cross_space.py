"""evaluate_space reads one space's scores through the store and evaluates proxies, baselines and combinations;
the cross-space report has a heat map, per-space bars and a what-to-use table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from archrank.bench import Truth, evaluate_space
from archrank.bench.cross_space import (
    bar_labels,
    cross_space_table,
    evaluation_truths,
    heatmap_text,
    reference_table,
    same_cells_table,
    targets_table,
    what_to_use,
    write_cross_space_report,
)
from archrank.spaces import get_space
from archrank.store import ScoreRow, Store


def _fill(store: Store, space: str, keys: list[str], truth: np.ndarray, rng: np.random.Generator) -> None:
    signals = {"params": 0.8, "flops": 0.7, "synflow": 0.9, "nwot": 0.6, "meco": 0.95, "jacov": 0.1, "snip": 0.3}
    rows = []
    for name, strength in signals.items():
        noise = rng.normal(size=len(keys))
        values = strength * (truth - truth.mean()) / truth.std() + (1 - strength) * noise
        rows += [ScoreRow(space, k, name, f"c-{name}", 0, "b", "cpu", float(v), 0.01, "ok")
                 for k, v in zip(keys, values, strict=True)]
    store.put_scores(rows)


@pytest.fixture()
def stored(tmp_path: Path) -> tuple[Path, Truth]:
    space = get_space("nb201")
    archs = space.sample_many(60, seed=3)
    keys = [space.key(a) for a in archs]
    rng = np.random.default_rng(0)
    truth = rng.normal(90, 3, size=len(keys))
    path = tmp_path / "s.db"
    with Store(path) as store:
        _fill(store, "nb201", keys, truth, rng)
    return path, Truth(pd.Series(truth, index=keys), "planted truth", "accuracy")


def test_evaluate_space_has_baselines_and_combinations(stored: tuple[Path, Truth]) -> None:
    path, truth = stored
    ev = evaluate_space(path, "nb201", truth=truth, n_boot=50, label_ks=(10, 20), label_repeats=3)
    assert {"params", "flops", "meco", "default:nonlinear", "zc_vote:vote"} <= set(ev.metrics.index)
    assert ev.metrics.loc["meco", "spearman"] > ev.metrics.loc["jacov", "spearman"]  # planted strengths
    assert ev.settings["space"] == "nb201" and ev.settings["seconds"]["meco"] == pytest.approx(0.01)
    use = what_to_use({"nb201": ev})
    assert use.loc["nb201", "best label-free"] in ev.metrics.index
    assert use.loc["nb201", "default ensemble s/arch"] == pytest.approx(0.03)  # meco, nwot, synflow present


def test_best_label_free_needs_comparable_n(stored: tuple[Path, Truth]) -> None:
    """A proxy scored on a few architectures does not become "best" on a lucky ρ."""
    path, truth = stored
    keys = list(truth.values.index[:5])
    lucky = truth.values.loc[keys].to_numpy()  # perfect ranking, but on 5 of 60 architectures
    with Store(path) as store:
        store.put_scores([ScoreRow("nb201", k, "swap", "c-swap", 0, "b", "cpu", float(v), 0.01, "ok")
                          for k, v in zip(keys, lucky, strict=True)])
    ev = evaluate_space(path, "nb201", truth=truth, n_boot=0, label_ks=())
    assert ev.metrics.loc["swap", "spearman"] == pytest.approx(1.0)
    assert ev.metrics.loc["swap", "spearman"] > ev.metrics["spearman"].drop("swap").max()
    use = what_to_use({"nb201": ev})
    assert use.loc["nb201", "best label-free"] != "swap"
    assert ev.metrics.loc[use.loc["nb201", "best label-free"], "n_used"] == 60


def test_evaluate_space_refuses_a_missing_store_or_space(tmp_path: Path, stored: tuple[Path, Truth]) -> None:
    path, truth = stored
    with pytest.raises(ValueError, match="no store"):
        evaluate_space(tmp_path / "absent.db", "nb201", truth=truth)
    with pytest.raises(ValueError, match="no scores for space"):
        evaluate_space(path, get_space("nb201"), truth=truth, proxies=["zen"])


def test_cross_space_report(stored: tuple[Path, Truth], tmp_path: Path) -> None:
    path, truth = stored
    ev = evaluate_space(path, "nb201", truth=truth, n_boot=20, label_ks=(10,), label_repeats=2)
    evals = {"nb201": ev, "copy": ev}
    assert list(cross_space_table(evals).columns) == ["nb201", "copy"]
    written = write_cross_space_report(evals, tmp_path / "report", command="test")
    assert {"report.html", "heatmap.png", "bars_nb201.png", "table.md", "what_to_use.csv"} <= set(written)
    page = written["report.html"].read_text()
    assert "What to use" in page and "data:image/png;base64" in page and "planted truth" in page


def test_same_cells_table_pairs_a_sparse_proxy_with_the_baselines(stored: tuple[Path, Truth], tmp_path: Path) -> None:
    """A proxy scored on 20 of 60 cells is set beside params, FLOPs and the shipped ensemble on those 20 cells."""
    from scipy import stats

    path, truth = stored
    keys = list(truth.values.index[:20])
    with Store(path) as store:
        store.put_scores([ScoreRow("nb201", k, "eznas", "c-eznas", 0, "b", "cpu", float(-v), 0.01, "ok")
                          for k, v in truth.values.loc[keys].items()])
        params = store.score_table("nb201")["params"]
    ev = evaluate_space(path, "nb201", truth=truth, n_boot=0, label_ks=())
    table = same_cells_table({"nb201": ev})
    assert list(table.index) == [("nb201", "eznas")]  # the proxies on all 60 cells are not listed
    row = table.loc[("nb201", "eznas")]
    assert row["n"] == 20 and row["ρ proxy"] == pytest.approx(-1.0)
    on_cells = stats.spearmanr(params.loc[keys], truth.values.loc[keys]).statistic
    assert row["ρ params"] == pytest.approx(on_cells)
    assert row["ρ params"] != pytest.approx(ev.metrics.loc["params", "spearman"])  # its 20 cells, not all 60
    best = max(row["ρ params"], row["ρ FLOPs"], row["ρ shipped ensemble"])
    assert row["proxy − best of the three"] == pytest.approx(-1.0 - best)
    written = write_cross_space_report({"nb201": ev}, tmp_path / "report")
    assert "same_cells.csv" in written and "fewer cells" in written["table.md"].read_text()


def test_evaluate_all_spaces_cli(stored: tuple[Path, Truth], tmp_path: Path) -> None:
    from click.testing import CliRunner

    from archrank.cli import main

    path, _ = stored
    result = CliRunner().invoke(main, ["evaluate", "--all-spaces", "--store", str(path), "--out",
                                       str(tmp_path / "cross"), "--bootstrap", "20", "--labels", "10",
                                       "--repeats", "2"])
    if "skipped" in result.output and result.exit_code != 0:
        pytest.skip(f"no NB201 ground truth on this machine: {result.output.strip()}")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "cross" / "report.html").exists() and "nb201" in result.output
    with Store(path, create=False) as store:  # the scores behind the report come with it
        assert len(pd.read_csv(tmp_path / "cross" / "scores_nb201.csv.gz")) == len(store.scores(space="nb201"))


def test_member_rule_makes_a_robust_set_without_labels(tmp_path: Path) -> None:
    space = get_space("nb201")
    keys = [space.key(a) for a in space.sample_many(60, seed=4)]
    rng = np.random.default_rng(1)
    truth = rng.normal(90, 3, size=len(keys))
    path = tmp_path / "r.db"
    with Store(path) as store:
        _fill(store, "nb201", keys, truth, rng)
        # zico turns against the other members; az_trainability scores almost nothing
        z = -(truth - truth.mean()) / truth.std()
        store.put_scores([ScoreRow("nb201", k, "zico", "c-zico", 0, "b", "cpu", float(v), 0.01, "ok")
                          for k, v in zip(keys, z, strict=True)])
        store.put_scores([ScoreRow("nb201", k, "az_trainability", "c-az", 0, "b", "cpu",
                                   float(i) if i < 5 else float("nan"), 0.01, "ok" if i < 5 else "nan")
                          for i, k in enumerate(keys)])
    ev = evaluate_space(path, "nb201", truth=Truth(pd.Series(truth, index=keys), "planted", "acc"), n_boot=20,
                        label_ks=(10,), label_repeats=2)
    assert set(ev.ensembles["robust"]) == {"meco", "nwot", "synflow"}
    assert "zico: consensus" in ev.settings["robust_members"]
    assert "az_trainability: coverage" in ev.settings["robust_members"]
    assert ev.metrics.loc["robust:nonlinear", "spearman"] > ev.metrics.loc["default:nonlinear", "spearman"]
    targets = targets_table({"nb201": ev}, {})
    shipped = ev.metrics.loc["robust:nonlinear", "spearman"]
    assert targets.loc["nb201", "ρ shipped (checked members)"] == pytest.approx(shipped)
    base = max(ev.metrics.loc["params", "spearman"], ev.metrics.loc["flops", "spearman"])
    assert targets.loc["nb201", "ρ max(params, FLOPs)"] == pytest.approx(base)


def test_transnas_tasks_are_separate_columns() -> None:
    from archrank.bench.truth_spaces import available_sources

    space = get_space("tnb101-micro")
    if not [s for s in available_sources(space) if s.option("task")]:
        pytest.skip("no TransNAS-Bench-101 table under ARCHRANK_DATA")
    labels = [label for label, _ in evaluation_truths(space)]
    assert len(labels) == 7 and "tnb101-micro/class_scene" in labels
    assert evaluation_truths(get_space("macro")) == [("macro", "auto")]


def test_reference_agreement_of_params_is_exact(tmp_path: Path) -> None:
    from archrank.bench.reference import references_for

    space = get_space("nb101")
    refs = references_for(space)
    if not refs:
        pytest.skip("no Suite-Zero NB101 file under ARCHRANK_DATA")
    keys = list(refs[0].scores.index[:40])
    path = tmp_path / "n.db"
    from archrank.runner import score_space

    with Store(path) as store:
        score_space(space, [space.parse(k) for k in keys], ["params"], store, progress=False)
    ev = evaluate_space(path, space, "auto", n_boot=20, label_ks=(), label_repeats=1)
    table = reference_table(ev, space)
    assert table.loc["params", "n common"] == 40 and table["n common"].dtype.kind == "i"  # a count, printed as one
    assert table.loc["params", "ρ ours vs ref"] == pytest.approx(1.0)
    assert np.isnan(table.loc["grasp", "ρ ours vs ref"])  # not scored by us: no agreement figure, no made-up one
    assert table.loc["params", "n ours"] == 40 and pd.isna(table.loc["grasp", "n ours"])


def test_reference_agreement_is_paired_on_the_cells_we_scored() -> None:
    """A proxy we scored on part of the cells is set against the reference on those cells, not on all of them."""
    from scipy.stats import spearmanr

    from archrank.bench.reference import Reference, agreement

    rng = np.random.default_rng(0)
    cells = [f"a{i}" for i in range(60)]
    truth = pd.Series(rng.normal(size=60), index=cells)
    ref = pd.DataFrame({"grasp": truth + rng.normal(size=60)}, index=cells)
    ours = pd.DataFrame({"grasp": ref["grasp"].to_numpy() + rng.normal(size=60)}, index=cells)
    ours.iloc[20:, 0] = np.nan  # scored on the first 20 cells only
    table = agreement(ours, Reference("suite-zero", ref, truth), truth)
    row = table.loc["grasp"]
    assert row["n common"] == 60 and row["n ours"] == 20
    first = cells[:20]
    assert row["ρ ref vs truth (cells ours scored)"] == pytest.approx(spearmanr(ref.loc[first, "grasp"],
                                                                                 truth[first])[0])
    assert row["ρ ours vs ref"] == pytest.approx(spearmanr(ours.loc[first, "grasp"], ref.loc[first, "grasp"])[0])
    assert row["ρ ref vs truth (our cells)"] == pytest.approx(spearmanr(ref["grasp"], truth)[0])  # all 60


def test_heatmap_shows_the_n_behind_each_figure() -> None:
    rho = pd.DataFrame({"a": [0.5, 0.25, np.nan], "b": [0.1, np.nan, -0.3]}, index=["p", "q", "r"])
    counts = pd.DataFrame({"a": [50, 20, np.nan], "b": [30, np.nan, 30]}, index=["p", "q", "r"])
    labels, cells = heatmap_text(rho, counts)
    assert labels == ["a (n=50)", "b (n=30)"]
    assert cells[(0, 0)] == "0.50"  # the column's own n: not repeated
    assert cells[(1, 0)] == "0.25\nn=20"  # fewer architectures than the column: says how many
    assert cells[(2, 1)] == "-0.30"
    assert (2, 0) not in cells and (1, 1) not in cells  # no rho, no text


def test_bar_labels_name_a_smaller_n() -> None:
    metrics = pd.DataFrame({"n_used": [725, 50, 725]}, index=["nwot", "eznas", "default:nonlinear"])
    assert bar_labels(metrics) == ["nwot", "eznas (n=50)", "default:nonlinear"]


def test_best_reference_needs_enough_common_cells() -> None:
    """A maximum over many proxies on a handful of shared cells is noise: below MIN_COMMON_BEST cells the best
    reference proxy is judged on its whole file, at or above it on our cells."""
    from archrank.bench.reference import MIN_COMMON_BEST, best_reference

    def table(n_common: int) -> pd.DataFrame:
        return pd.DataFrame({"n common": [n_common] * 2, "ρ ref vs truth (our cells)": [0.9, 0.2],
                             "ρ ref vs truth (whole file)": [0.3, 0.5]}, index=["jacov", "snip"])

    assert best_reference(table(MIN_COMMON_BEST - 1)) == ("snip", 0.5, "whole file")
    assert best_reference(table(MIN_COMMON_BEST)) == ("jacov", 0.9, "same cells")


def test_what_to_use_when_no_learned_model_has_a_spearman() -> None:
    # every repeat of the only learned model predicted a constant (NaN ρ): the table says so instead of failing
    from archrank.bench.evaluate import Evaluation

    learned = pd.DataFrame({"model": "monotone", "k": 20, "repeat": [0, 1], "spearman": np.nan, "kendall": np.nan,
                            "n_eval": 40})
    metrics = pd.DataFrame({"kind": ["proxy", "proxy"], "spearman": [0.3, 0.5], "n_used": [60, 60]},
                           index=["params", "flops"])
    ev = Evaluation("t", pd.DataFrame(), pd.Series(dtype=float), metrics, pd.DataFrame(), pd.DataFrame(), learned,
                    pd.DataFrame(), {})
    use = what_to_use({"nb201": ev}, labels=20)
    assert use.loc["nb201", "best with 20 labels"] == "" and np.isnan(use.loc["nb201", "ρ with 20 labels"])
    assert use.loc["nb201", "best label-free"] == "flops"
