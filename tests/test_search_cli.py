"""``archrank search`` (the click command ``search_cmd``) on the shared NAS-Bench-201 table."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from archrank import get_space, search
from archrank.search.cli import parse_params, parse_seeds, search_cmd


@pytest.fixture()
def nb201_table(data_root: Path) -> Path:
    path = data_root / "nb201" / "nb201_cifar10.csv"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def test_search_writes_results_plots_and_resumes(nb201_table: Path, tmp_path: Path) -> None:
    store, out = tmp_path / "r.db", tmp_path / "out"
    args = ["--algorithm", "rea", "--warmup", "params:500", "--move", "params", "--seeds", "0-1",
            "--oracle", f"nb201-csv:{nb201_table}", "--store", str(store), "--quiet"]
    first = CliRunner().invoke(search_cmd, [*args, "--budget", "12"])
    assert first.exit_code == 0, first.output
    assert "best architecture (seed" in first.output
    second = CliRunner().invoke(search_cmd, [*args, "--budget", "20", "--out", str(out), "--plot"])
    assert second.exit_code == 0, second.output
    assert second.output.count("(resumed 12)") == 2
    frame = pd.read_csv(out / "trajectories.csv")
    assert len(frame) == 40 and set(frame["seed"]) == {0, 1}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["run_name"] == "nb201-rea-warmup:params:500-move:params"
    assert len(summary["seeds"]) == 2 and summary["best_overall"]["best_test"] > 90
    for name in ("search_queries.png", "search_cost.png"):
        assert (out / name).stat().st_size > 10_000
    # the same trajectory as the Python API
    nb = get_space("nb201")
    hist = search.run(nb, "rea", search.TableOracle.nb201_cifar10(nb, nb201_table), budget=20,
                      warmup=("params", 500), move="params", seed=1)
    assert frame[frame["seed"] == 1]["arch"].tolist() == hist.keys


def test_search_errors_are_one_clear_line(nb201_table: Path, tmp_path: Path) -> None:
    base = ["--oracle", f"nb201-csv:{nb201_table}", "--store", str(tmp_path / "r.db"), "--budget", "3", "--quiet"]
    bad_warmup = CliRunner().invoke(search_cmd, [*base, "--warmup", "params"])
    assert bad_warmup.exit_code != 0 and "PROXY:N" in bad_warmup.output
    random_move = CliRunner().invoke(search_cmd, [*base, "--algorithm", "random", "--move", "params"])
    assert random_move.exit_code != 0 and "move proposal does not apply" in random_move.output
    no_plot_dir = CliRunner().invoke(search_cmd, [*base, "--plot"])
    assert no_plot_dir.exit_code != 0 and "--plot needs --out" in no_plot_dir.output


def test_option_parsers() -> None:
    assert parse_seeds("0-2,5") == [0, 1, 2, 5]
    assert parse_params(("population_size=64", "acquisition=ucb", "lr=0.1")) == {
        "population_size": 64, "acquisition": "ucb", "lr": 0.1}


def test_econas_training_oracle_plugs_in(data_root: Path, tmp_path: Path) -> None:
    """Real (reduced) training as the oracle: a tiny setting, three queries, cost = measured training seconds."""
    pytest.importorskip("archrank.econas")
    nb = get_space("nb201")
    oracle = search.econas_oracle(nb, "c8r4s4e1")
    hist = search.run(nb, "random", oracle, budget=2, seed=0, store=tmp_path / "e.db")
    assert len(hist) == 2 and all(0.0 <= q.valid <= 100.0 and q.valid == q.test for q in hist.queries)
    assert all(s > 0.0 for s in hist.train_seconds)
    resumed = search.run(nb, "random", oracle, budget=2, seed=0, store=tmp_path / "e.db")
    assert resumed.resumed == 2 and resumed.queries == hist.queries
