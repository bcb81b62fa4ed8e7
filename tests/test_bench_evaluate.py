"""The evaluator, the report files and the ``evaluate`` click command, on small synthetic NB201 data."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from archrank.bench import ReportInfo, evaluate, load_truth, write_report
from archrank.bench.evaluate import Evaluation
from archrank.cli.bench import evaluate_cmd
from archrank.spaces import NB201Space
from archrank.store import ScoreRow, Store

N = 80


def synthetic(nb201: NB201Space) -> tuple[pd.DataFrame, pd.Series]:
    """80 NB201 keys; 'good' tracks accuracy, 'noisy' less so, 'anti' inversely; a few scores/truths missing."""
    rng = np.random.default_rng(0)
    keys = [nb201.key(nb201.from_index(i)) for i in range(N + 5)]
    acc = pd.Series(rng.uniform(60, 94, size=N + 5), index=keys)
    truth = acc.copy()
    truth.iloc[0] = np.nan
    table = pd.DataFrame({
        "good": acc[:N] + rng.normal(scale=2, size=N),
        "noisy": acc[:N] + rng.normal(scale=12, size=N),
        "anti": -acc[:N] + rng.normal(scale=5, size=N),
    }, index=keys[:N])
    table.iloc[3, 1] = np.nan
    return table, truth


@pytest.fixture(scope="module")
def evaluation(nb201: NB201Space) -> Evaluation:
    table, truth = synthetic(nb201)
    return evaluate(table, truth, truth_name="synthetic accuracy", n_boot=50, label_ks=(10, 30), label_repeats=3,
                    ensemble_sets={"default": ["good", "noisy"], "all": ["good", "noisy", "anti"]})


def test_metrics_and_nan_accounting(evaluation: Evaluation) -> None:
    metrics = evaluation.metrics
    assert evaluation.proxies == ["good", "noisy", "anti"]
    assert metrics.loc["good", "spearman"] > 0.9 > metrics.loc["noisy", "spearman"] > 0
    assert metrics.loc["anti", "spearman"] < -0.5  # signs kept
    assert metrics.loc["noisy", "n_missing"] == 1 and metrics.loc["noisy", "n_used"] == N - 2
    assert (metrics["n_truth_missing"] == 1).all() and (metrics["nan_policy"] == "omit").all()
    good = metrics.loc["good"]
    assert good["spearman_lo"] <= good["spearman"] <= good["spearman_hi"]
    assert {"P@1%", "P@5%", "P@10%", "best_rank", "pearson", "kendall_lo"} <= set(metrics.columns)
    assert any("5 ground-truth architectures have no score row" in n for n in evaluation.notes)


def test_ensembles_curves_learned_and_ablation(evaluation: Evaluation) -> None:
    kinds = evaluation.metrics["kind"]
    assert sorted(kinds[kinds == "ensemble"].index) == sorted(
        f"{s}:{m}" for s in ("default", "all") for m in ("nonlinear", "mean_rank", "vote"))
    assert evaluation.ensembles == {"default": ("good", "noisy"), "all": ("good", "noisy", "anti")}
    assert evaluation.curves.index[0] >= 1 / N and evaluation.curves.index[-1] == 0.5
    summary = evaluation.learned_summary()
    assert set(summary["model"]) == {"monotone", "linear", "select"} and set(summary["k"]) == {10, 30}
    assert (summary["n_eval"] == [N - 1 - 10, N - 1 - 30] * 3).all()
    assert summary.loc[summary["model"] == "monotone", "spearman_mean"].min() > 0.8
    assert list(evaluation.ablation.index) == ["all members", "without good", "without noisy"]
    assert evaluation.correlation.loc["good", "anti"] < 0


def test_evaluate_input_errors(nb201: NB201Space) -> None:
    table, truth = synthetic(nb201)
    with pytest.raises(ValueError, match="not in the score table"):
        evaluate(table, truth, proxies=["zen"])
    with pytest.raises(ValueError, match="empty"):
        evaluate(pd.DataFrame(), truth)
    # truth keyed by benchmark index, scores by arch string: nothing joins, so there is nothing to measure
    with pytest.raises(ValueError, match="no scored architecture has a truth value"):
        evaluate(table, truth.reset_index(drop=True), n_boot=0, label_ks=())
    lone = evaluate(table[["good"]], truth, n_boot=0, label_ks=(), ensemble_sets={"x": ["good", "zen"]})
    assert (lone.metrics["kind"] == "proxy").all()
    assert any("skipped" in n for n in lone.notes) and any("zen not in the table" in n for n in lone.notes)
    assert math.isnan(lone.metrics.loc["good", "spearman_lo"])


def test_report_files_are_complete_and_self_contained(evaluation: Evaluation, tmp_path: Path) -> None:
    info = ReportInfo("Synthetic check", source="synthetic accuracy table", truth_label="accuracy (%)", target=0.88)
    written = write_report(evaluation, tmp_path, info)
    for name in ("table.csv", "table.md", "report.html", "summary.json", "learned.csv", "correlation_bars",
                 "scatter_proxies", "scatter_ensembles", "proxy_correlation", "topk_precision", "learned_combination"):
        assert name in written and written[name].stat().st_size > 0, name
    page = written["report.html"].read_text()
    images = page.count("data:image/png;base64,")
    assert images == 6 and "<img" in page and "src='http" not in page and "synthetic accuracy table" in page
    first = page.split("data:image/png;base64,")[1].split("'")[0]
    assert base64.b64decode(first)[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = written["table.md"].read_text()
    assert "Ground truth: **synthetic accuracy table**" in markdown and "| default:nonlinear |" in markdown
    assert pd.read_csv(written["table.csv"], index_col=0).loc["good", "kind"] == "proxy"
    summary = json.loads(written["summary.json"].read_text())
    assert summary["best_proxy"] == "good" and summary["target"] == 0.88


def make_store(path: Path, nb201: NB201Space) -> pd.Series:
    table, truth = synthetic(nb201)
    rows = [ScoreRow(space="nb201", arch_key=key, proxy=proxy, config_hash="c", seed=0, batch_hash="b",
                     device="cpu", score=None if pd.isna(value) else float(value), seconds=0.1,
                     status="nan" if pd.isna(value) else "ok")
            for key, record in table.iterrows() for proxy, value in record.items()]
    with Store(path) as store:
        store.put_scores(rows)
    return truth


def test_evaluate_command(tmp_path: Path, nb201: NB201Space) -> None:
    truth = make_store(tmp_path / "s.db", nb201)
    csv = tmp_path / "truth.csv"
    truth.rename_axis("arch").rename("acc").reset_index().to_csv(csv, index=False)
    out = tmp_path / "report"
    result = CliRunner().invoke(evaluate_cmd, [
        "--store", str(tmp_path / "s.db"), "--truth", f"csv:{csv}:arch:acc", "--out", str(out), "--bootstrap", "20",
        "--labels", "10", "--repeats", "2", "--proxies", "good,noisy", "--ensemble", "good,noisy", "--topk", "5,10",
        "--sample", "60", "--target", "0.88",
    ])
    assert result.exit_code == 0, result.output
    assert "default:nonlinear" in result.output and "P@5%" in result.output and "anti" not in result.output
    assert "seeded random sample of 60 of the 80" in result.output
    assert (out / "report.html").is_file() and (out / "table.md").is_file()
    assert 58 <= json.loads((out / "summary.json").read_text())["n_archs"] <= 60  # minus archs without truth


def test_evaluate_command_errors(tmp_path: Path) -> None:
    with Store(tmp_path / "empty.db"):
        pass
    result = CliRunner().invoke(evaluate_cmd, ["--store", str(tmp_path / "empty.db"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "has no scores" in result.output
    bad = CliRunner().invoke(evaluate_cmd, ["--store", str(tmp_path / "empty.db"), "--topk", "0"])
    assert bad.exit_code == 2 and "percentage" in bad.output


def test_worst_policy_and_store_truth(tmp_path: Path, nb201: NB201Space) -> None:
    table, truth = synthetic(nb201)
    worst = evaluate(table, truth, nan_policy="worst", n_boot=0, label_ks=())
    assert worst.metrics.loc["noisy", "n_used"] == N - 1 and worst.metrics.loc["noisy", "n_missing"] == 1
    assert (worst.metrics["nan_policy"] == "worst").all()
    with Store(tmp_path / "s.db") as store:
        store.put_ground_truth("bench", "nb201", truth.dropna().to_frame("acc"))
    got = load_truth("store:bench", nb201, store_path=tmp_path / "s.db")
    assert got.values.sort_index().equals(truth.dropna().sort_index().rename("acc"))
    with pytest.raises(ValueError, match="no ground truth 'other'"):
        load_truth("store:other", nb201, store_path=tmp_path / "s.db")


def test_headline_learned_skips_a_model_without_a_spearman() -> None:
    # a monotone fit with all-zero weights predicts a constant: its held-out ρ is NaN and must not be "best"
    from archrank.bench.report import headline

    learned = pd.DataFrame({"model": ["linear", "linear", "monotone", "monotone"], "k": 10, "repeat": [0, 1, 0, 1],
                            "spearman": [0.5, 0.6, np.nan, np.nan], "kendall": [0.4, 0.5, np.nan, np.nan],
                            "n_eval": 50})
    metrics = pd.DataFrame({"kind": ["proxy"], "spearman": [0.3]}, index=["a"])
    ev = Evaluation("t", pd.DataFrame(), pd.Series(dtype=float), metrics, pd.DataFrame(), pd.DataFrame(), learned,
                    pd.DataFrame(), {})
    head = headline(ev)
    assert head["best_learned_model"] == "linear" and head["best_learned_spearman_mean"] == pytest.approx(0.55)


def test_store_truth_from_a_missing_store_creates_no_file(tmp_path: Path, nb201: NB201Space) -> None:
    missing = tmp_path / "nowhere.db"
    with pytest.raises(ValueError, match="no store at"):
        load_truth("store:nb201-test", nb201, store_path=missing)
    assert not missing.exists()


def test_an_undefined_correlation_gets_no_bar_but_the_word_undefined(nb201: NB201Space, monkeypatch,
                                                                       tmp_path: Path) -> None:
    """A constant score has no Spearman: the bar chart must not draw it as a bar at ρ = 0."""
    from archrank.bench import plots

    table, truth = synthetic(nb201)
    table["flat"] = 1.0
    ev = evaluate(table, truth, truth_name="synthetic accuracy", n_boot=20, label_ks=(), label_repeats=1,
                  ensemble_sets={})
    assert math.isnan(ev.metrics.loc["flat", "spearman"])
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: drawn.append(fig) or path)
    plots.correlation_bars(ev, tmp_path / "bars.png", "synthetic")
    (ax,) = drawn[0].axes
    defined = int(np.isfinite(ev.metrics["spearman"]).sum()) + int(np.isfinite(ev.metrics["kendall"]).sum())
    assert len(ax.patches) == defined == 2 * (len(ev.metrics) - 1)
    assert [t.get_text() for t in ax.texts] == ["undefined"]
