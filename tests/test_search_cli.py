"""``archrank search`` (the click command ``search_cmd``) on the shared NAS-Bench-201 table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from archrank import get_space, search
from archrank.cli.search import parse_params, parse_seeds, search_cmd


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
    arch_column = CliRunner().invoke(search_cmd, [*base, "--arch-column", "arch"])
    assert arch_column.exit_code != 0 and "--arch-column applies to --oracle csv:PATH only" in arch_column.output
    bad_column = CliRunner().invoke(search_cmd, [*base, "--valid", "nope"])
    assert bad_column.exit_code != 0 and "missing column(s) nope" in bad_column.output
    econas = CliRunner().invoke(search_cmd, [*base[2:], "--oracle", "econas", "--valid", "x"])
    assert econas.exit_code != 0 and "do(es) not apply to --oracle econas" in econas.output
    for result in (arch_column, bad_column, econas):
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_plot_without_out_writes_to_a_default_folder(nb201_table: Path, tmp_path: Path, monkeypatch) -> None:
    """README's `archrank search ... --seeds 0-1 --plot` (no --out) works: the plots go to runs/RUN_NAME."""
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(search_cmd, ["--oracle", f"nb201-csv:{nb201_table}", "--store", "r.db", "--budget",
                                             "5", "--seeds", "0-1", "--plot", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "nb201-rea" / "search_queries.png").stat().st_size > 10_000


def test_table_columns_apply_to_the_nb201_oracle_and_are_part_of_the_setup(nb201_table: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "r.db")
    base = ["--oracle", f"nb201-csv:{nb201_table}", "--store", store, "--budget", "6", "--quiet", "--run-name", "x"]
    first = CliRunner().invoke(search_cmd, [*base, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    other = CliRunner().invoke(search_cmd, [*base, "--valid", "cifar10_test_acc"])
    assert other.exit_code != 0 and "different setup" in other.output  # never a replay of the old result
    assert len(other.output.strip().splitlines()) == 1
    cost = CliRunner().invoke(search_cmd, [*base, "--cost", "none"])
    assert cost.exit_code != 0 and "different setup" in cost.output
    # the options do apply to the default NB201 oracle: search the test column, 1 s per query
    flat = CliRunner().invoke(search_cmd, [*base[:-1], "y", "--valid", "cifar10_test_acc", "--cost", "none",
                                           "--out", str(tmp_path / "b")])
    assert flat.exit_code == 0, flat.output
    assert "median cost 6.0 s" in flat.output
    frame = pd.read_csv(tmp_path / "b" / "trajectories.csv")
    assert frame["cost_s"].tolist() == [1.0] * 6 and (frame["valid"] == frame["test"]).all()
    table = pd.read_csv(nb201_table).set_index("arch_str")
    assert frame["valid"].tolist() == table.loc[frame["arch"], "cifar10_test_acc"].tolist()
    before = pd.read_csv(tmp_path / "a" / "trajectories.csv")
    assert before["cost_s"].tolist() == table.loc[before["arch"], "cifar10valid_train_time_200ep_s"].tolist()


def test_two_identical_search_processes_on_one_store_both_finish(nb201_table: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    args = [sys.executable, "-m", "archrank.cli", "search", "--oracle", f"nb201-csv:{nb201_table}", "--budget",
            "40", "--seeds", "0-2", "--warmup", "params:200", "--move", "params", "--store", str(tmp_path / "r.db"),
            "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "Traceback" not in err and "IntegrityError" not in err
    assert outputs[0][0] == outputs[1][0]  # the same searches, the same result
    with search.HistoryDB(tmp_path / "r.db") as db:
        runs = db.runs()
    assert runs["queries"].tolist() == [40, 40, 40]


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
    # searched on held-out training images; without a report table the test split is not measured at all
    assert len(hist) == 2 and all(0.0 <= q.valid <= 100.0 and math.isnan(q.test) for q in hist.queries)
    assert all(s > 0.0 for s in hist.train_seconds)
    resumed = search.run(nb, "random", oracle, budget=2, seed=0, store=tmp_path / "e.db")
    assert resumed.resumed == 2 and resumed.queries == hist.queries


def test_training_oracle_caches_trainings_in_the_store_and_can_charge_cpu_seconds(
        data_root: Path, tmp_path: Path) -> None:
    """`archrank search --oracle econas:...` trains for real, keeps every training in --store and reuses it in
    another run (the same charge, no new training); --train-cost cpu charges the trainings' CPU seconds."""
    pytest.importorskip("archrank.econas")
    from archrank.econas.store import TrainingStore

    store = tmp_path / "r.db"
    base = ["--oracle", "econas:c8r4s4e1", "--algorithm", "random", "--budget", "2", "--seeds", "0",
            "--store", str(store), "--quiet"]
    first = CliRunner().invoke(search_cmd, [*base, "--run-name", "a", "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    with TrainingStore(store) as view:
        trained = view.results()
    assert len(trained) == 2 and (trained["cpu_seconds"] > 0).all()
    # the search selects on a held-out tenth of the training images, never on the test split
    assert trained["data"].str.startswith("cifar10-valid-").all()
    assert (trained["test_samples"] == 500).all()  # 50 per class of the 5085 training images, not the 1017 test ones
    again = CliRunner().invoke(search_cmd, [*base, "--run-name", "b", "--out", str(tmp_path / "b"),
                                            "--train-cost", "cpu"])
    assert again.exit_code == 0, again.output
    with TrainingStore(store) as view:
        assert len(view.results()) == 2  # the same two cells: read back, not trained again
    a = pd.read_csv(tmp_path / "a" / "trajectories.csv")
    b = pd.read_csv(tmp_path / "b" / "trajectories.csv")
    assert a["arch"].tolist() == b["arch"].tolist()
    by_key = trained.set_index("arch_key")
    assert sorted(a["cost_s"]) == pytest.approx(sorted(by_key["seconds"]))  # wall seconds as recorded
    assert sorted(b["cost_s"]) == pytest.approx(sorted(by_key["cpu_seconds"]))  # CPU seconds as recorded
    refused = CliRunner().invoke(search_cmd, ["--train-cost", "cpu", "--store", str(store), "--budget", "2"])
    assert refused.exit_code != 0 and "apply to a training oracle" in refused.output


def test_live_proxy_stores_are_closed_after_the_seeds(nb201_table: Path, tmp_path: Path, store_lifetimes: tuple,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The live scorers shared by the seeds opened the store from its path and never closed it."""
    from archrank.proxies.engine import ProxyResult

    def engine(space: object, arch: object, names: list[str], *args: object, **kwargs: object) -> dict:
        return {n: ProxyResult(float(len(str(arch))), 0.1, "ok") for n in names}

    monkeypatch.setattr("archrank.runner.score_arch", engine)
    result = CliRunner().invoke(search_cmd, ["--algorithm", "rea", "--warmup", "synflow:5", "--seeds", "0-1",
                                             "--budget", "3", "--oracle", f"nb201-csv:{nb201_table}", "--store",
                                             str(tmp_path / "r.db"), "--quiet"])
    assert result.exit_code == 0, result.output
    opened, closed = store_lifetimes
    assert opened and all(any(s is c for c in closed) for s in opened)
