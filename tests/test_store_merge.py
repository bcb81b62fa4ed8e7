"""Merging results files: new rows join, ours are kept, failures replaced, runs and trials follow, idempotent."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from archrank.cli import main
from archrank.store import ScoreRow, Store, StoreError


def row(arch: str, score: float | None = 1.0, status: str = "ok", run_id: int | None = None) -> ScoreRow:
    return ScoreRow(space="nb201", arch_key=arch, proxy="synflow", config_hash="c0", seed=0, batch_hash="b0",
                    device="cpu", score=score, seconds=0.1, status=status,
                    error="OOM" if status == "failed" else None, run_id=run_id, extra={"note": arch})


def scores(store: Store) -> pd.Series:
    return store.scores().set_index("arch_key")["score"]


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Path, Path]:
    ours, theirs = tmp_path / "ours.db", tmp_path / "theirs.db"
    with Store(ours) as store:
        store.put_scores([row("a", 1.0), row("b", None, "failed"), row("c", 3.0)])
        store.start_run(kind="search", name="shared-run", config={"x": 1})
    with Store(theirs) as store:
        run = store.start_run(kind="score", config={"y": 2})
        store.put_trial(run, 0, {"step": 0}, value=0.5)
        store.put_trial(run, 1, {"step": 1}, value=0.7)
        named = store.start_run(kind="search", name="shared-run", config={"x": 1})
        store.put_trial(named, 0, {"theirs": True})
        store.put_scores([row("a", 10.0, run_id=run), row("b", 2.0, run_id=run), row("c", None, "failed"),
                          row("d", 0.0, run_id=run), row("e", None, "nan", run_id=named)])
        store.put_ground_truth("table", "nb201", pd.DataFrame({"acc": [9.0]}, index=["a"]))
    return ours, theirs


def test_merge_adds_new_keeps_ours_and_replaces_failures(stores: tuple[Path, Path]) -> None:
    ours, theirs = stores
    with Store(ours) as store:
        report = store.merge(theirs)
        merged = scores(store)
        frame = store.scores().set_index("arch_key")
    assert (report.measurements_added, report.failures_replaced, report.measurements_already_here) == (2, 1, 2)
    assert merged["a"] == 1.0  # ours kept, not theirs (10.0)
    assert merged["b"] == 2.0  # our failure replaced by their result
    assert merged["c"] == 3.0  # their failure never replaces our result
    assert merged["d"] == 0.0  # a known 0 stays 0
    assert pd.isna(merged["e"]) and frame.loc["e", "status"] == "nan"  # a missing value stays missing
    assert frame.loc["d", "extra"] == '{"note": "d"}'


def test_runs_get_new_ids_and_bring_their_trials(stores: tuple[Path, Path]) -> None:
    ours, theirs = stores
    with Store(ours) as store:
        report = store.merge(theirs)
        runs = store.runs()
        frame = store.scores().set_index("arch_key")
        named = store.find_run("search", "shared-run")
        score_run = int(runs[runs["kind"] == "score"]["run_id"].iloc[0])
        trials = store.trials(score_run)
        named_trials = store.trials(named)
    assert (report.runs_added, report.runs_already_here, report.trials_added) == (1, 1, 2)
    assert len(runs) == 2 and (runs["name"] == "shared-run").sum() == 1
    assert frame.loc["d", "run_id"] == score_run and frame.loc["b", "run_id"] == score_run
    assert frame.loc["e", "run_id"] == named  # their named run's rows point to ours
    assert [t["value"] for t in trials] == [0.5, 0.7]
    assert named_trials == []  # the named run here keeps its own (empty) history


def test_merge_twice_adds_nothing_and_leaves_the_source_unchanged(stores: tuple[Path, Path]) -> None:
    ours, theirs = stores
    before = sqlite3.connect(theirs).execute("SELECT COUNT(*), SUM(value) FROM measurements").fetchone()
    with Store(ours) as store:
        first = store.merge(theirs)
        second = store.merge(theirs)
        count = len(store.scores())
        runs = len(store.runs())
        truth = store.ground_truth("table", "nb201")
    assert first.ground_truth_added == 1 and second.ground_truth_added == 0
    assert (second.measurements_added, second.failures_replaced, second.runs_added) == (0, 0, 0)
    assert (second.runs_already_here, second.trials_added) == (2, 0)
    assert count == 5 and len(truth) == 1 and runs == 2
    assert sqlite3.connect(theirs).execute("SELECT COUNT(*), SUM(value) FROM measurements").fetchone() == before


def test_merge_refuses_itself_a_missing_file_and_a_foreign_file(stores: tuple[Path, Path], tmp_path: Path) -> None:
    ours, _ = stores
    foreign = tmp_path / "foreign.db"
    sqlite3.connect(foreign).execute("CREATE TABLE people (name TEXT)").connection.commit()
    with Store(ours) as store:
        with pytest.raises(StoreError, match="into itself"):
            store.merge(ours)
        with pytest.raises(StoreError, match="no results file"):
            store.merge(tmp_path / "missing.db")
        with pytest.raises(StoreError):
            store.merge(foreign)
        assert len(store.scores()) == 3  # nothing changed


def test_merge_command(stores: tuple[Path, Path], tmp_path: Path) -> None:
    ours, theirs = stores
    result = CliRunner().invoke(main, ["merge", str(theirs), "--store", str(ours)])
    assert result.exit_code == 0, result.output
    assert "2 new measurements, 1 failures replaced, 2 already here" in result.output
    missing = CliRunner().invoke(main, ["merge", str(tmp_path / "nope.db"), "--store", str(ours)])
    assert missing.exit_code != 0 and "no results file" in missing.output
    assert "Traceback" not in missing.output
    fresh = tmp_path / "fresh.db"  # a mistyped file name leaves no new, empty store behind
    for name, message in (("nope.db", "no results file at"), ("nope.csv.gz", "no table at")):
        out = CliRunner().invoke(main, ["merge", str(theirs), str(tmp_path / name), "--store", str(fresh)])
        assert out.exit_code != 0 and message in out.output and len(out.output.strip().splitlines()) == 1
        assert not fresh.exists()
