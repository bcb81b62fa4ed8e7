"""A results file written before the one-store schema opens, migrates forward in place, and reads back the same."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import pytest

from archrank.econas.store import TrainingStore
from archrank.eproxy.store import EproxyStore
from archrank.eznas.store import EznasStore
from archrank.search.history import HistoryDB
from archrank.store import SCHEMA_VERSION, ScoreRow, Store, StoreError

V1_SQL = Path(__file__).parent / "data" / "store_v1.sql"
A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
B = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


@pytest.fixture()
def v1_file(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    con = sqlite3.connect(path)
    con.executescript(V1_SQL.read_text())
    con.close()
    return path


def _tables(path: Path) -> set[str]:
    con = sqlite3.connect(path)
    try:
        return {n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        con.close()


def test_v1_file_migrates_to_the_one_schema(v1_file: Path) -> None:
    assert {"scores", "eproxy_scores", "eznas_programs", "econas_trainings", "search_queries"} <= _tables(v1_file)
    with Store(v1_file) as store:
        assert store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        scores = store.scores(space="nb201", proxies=["nwot", "synflow"])
        assert len(scores) == 4
        nan_row = scores[(scores["arch_key"] == B)].iloc[0]
        assert nan_row["status"] == "nan" and math.isnan(nan_row["score"]) and nan_row["error"] == "log undefined"
        # the data kind of each batch comes from the run that scored it
        assert store.score_table("nb201", ["nwot"], data="synthetic").loc[A, "nwot"] == 1.5
        assert store.score_table("nb201", ["nwot"], data="cifar10").loc[A, "nwot"] == 2.5
        kinds = store.runs()["kind"].tolist()
        assert kinds.count("score") == 2 and {"dps", "evolve", "search"} <= set(kinds)
        assert store.ground_truth("nb201_csv", "nb201").loc[A, "test_acc"] == 94.37
    tables = _tables(v1_file)
    assert not {"scores", "proxy_configs", "eproxy_scores", "eznas_programs", "econas_trainings",
                "search_runs", "search_queries"} & tables


def test_v1_feature_records_read_back_through_their_views(v1_file: Path) -> None:
    with Store(v1_file) as store:
        eproxy = EproxyStore(store)
        run = eproxy.dps_run("dps1")
        assert run is not None and run["labelled"] == [[A, 94.37], [B, 10.0]] and run["best_fitness"] == 0.75
        assert [h["fitness"] for h in eproxy.dps_history("dps1")] == [0.5, 0.75]
        key = run["best_key"]
        assert key == "k2"
        scored = next(iter(eproxy.scores("nb201", eproxy.dps_history("dps1")[0]["config_key"], 0, "hsyn").values()))
        assert scored["value"] == -0.25 and scored["loss"] == 0.25
        eznas = EznasStore(store)
        assert eznas.count_programs("fk") == {"ok": 1, "invalid": 1}
        assert eznas.programs("fk")["log(x)"].fitness == -math.inf
        (gen,) = eznas.generations("gp1")
        assert gen.population == ["sigmoid(x)", "log(x)"] and gen.rng_state == (3, (1, 2, 3), None)
        training = TrainingStore(store).get("nb201", A, "c4r4s0e10", 0, "cifar10-full")
        assert training is not None and training.accuracy == 48.0 and training.iterations == 1950
        assert training.width == {"stem": 4}
        history = HistoryDB(store)
        assert history.queries("rea-flops", 0)["arch_key"].tolist() == [A, B]


def test_migration_is_one_transaction(v1_file: Path) -> None:
    """A failure in the middle of the migration leaves the old file exactly as it was."""
    con = sqlite3.connect(v1_file)
    con.execute("CREATE TRIGGER boom BEFORE INSERT ON runs BEGIN SELECT RAISE(ABORT, 'injected crash'); END")
    con.commit()
    con.close()
    before = _tables(v1_file)
    with pytest.raises(StoreError, match="injected crash"):
        Store(v1_file)
    assert _tables(v1_file) == before
    con = sqlite3.connect(v1_file)
    assert con.execute("SELECT COUNT(*) FROM scores").fetchone()[0] == 4
    assert con.execute("PRAGMA user_version").fetchone()[0] == 0
    con.close()


def test_migrated_named_runs_resume_with_the_settings_the_views_build(v1_file: Path) -> None:
    """A DPS, GP and search run of a version-1 file resumes under its name with the settings the current views pass
    (the stored JSON text may be spaced differently), and refuses settings that really differ."""
    with Store(v1_file) as store:
        ids = {kind: store.find_run(kind, name) for kind, name in (("dps", "dps1"), ("evolve", "gp1"),
                                                                    ("search", "rea-flops#seed=0"))}
        eproxy, eznas, history = EproxyStore(store), EznasStore(store), HistoryDB(store)
        assert eproxy.start_dps_run("dps1", "nb201", {"population": 4}, [[A, 94.37], [B, 10.0]]) == ids["dps"]
        assert eznas.start_run("gp1", "fk", {"population": 2}) == ids["evolve"]
        assert history.start("rea-flops", 0, "nb201", "rea", {"budget": 2}) == ids["search"]
        assert history.runs()[["run_name", "seed", "algorithm"]].values.tolist() == [["rea-flops", 0, "rea"]]
        with pytest.raises(ValueError, match="other settings"):
            eproxy.start_dps_run("dps1", "nb201", {"population": 5}, [[A, 94.37], [B, 10.0]])
        with pytest.raises(StoreError, match=r"other settings \(gp\)"):
            eznas.start_run("gp1", "fk", {"population": 3})
        with pytest.raises(ValueError, match="different setup"):
            history.start("rea-flops", 0, "nb201", "rea", {"budget": 3})
        assert len(store.runs()) == 5  # nothing started anew


def test_data_auto_is_no_data_kind(v1_file: Path) -> None:
    """A v1 batch scored with ``--data auto`` migrates with no data kind (auto named cifar10 or synthetic, depending
    on the machine); the kind a later scoring resolves replaces an ``auto`` placeholder of an older migration, so
    ``data=cifar10`` keeps old and new rows; a ``data=auto`` filter is refused in one line (the CLI resolves it)."""
    from archrank.cli.options import data_kind, filters_from

    con = sqlite3.connect(v1_file)
    con.execute("""INSERT INTO runs (run_id, started_at, extra) VALUES (3, 1, '{"data": "auto"}')""")
    con.execute("INSERT INTO scores VALUES ('nb201', ?, 'nwot', 'cfgnwot', 0, 'hauto', 'cpu', 0.5, 1, 'ok', NULL, 3,"
                " 1)", (A,))
    con.commit()
    con.close()
    row = ScoreRow("nb201", B, "nwot", "cfgnwot", 0, "hauto", "cpu", 0.0, 1.0, "ok")
    with Store(v1_file) as store:
        assert store._db.execute("SELECT COUNT(*) FROM inputs WHERE kind = 'auto'").fetchone()[0] == 0
        store._db.execute("""INSERT INTO inputs VALUES ('hauto', 'auto', '{"migrated": 1}')""")  # an older migration
        store.put_input("hauto", "cifar10", {"data": "auto"})  # what archrank score --data auto records now
        store.put_scores([row])
        assert store.score_table("nb201", ["nwot"], batch="hauto", data="cifar10")["nwot"].to_dict() == {A: 0.5,
                                                                                                          B: 0.0}
        store.put_input("hauto", "synthetic")  # a resolved kind is kept
        assert store.score_table("nb201", ["nwot"], batch="hauto", data="cifar10").shape == (2, 1)
        with pytest.raises(StoreError, match="data=auto names no data set"):
            store.score_table("nb201", ["nwot"], data="auto")
        with pytest.raises(ValueError, match="data kind 'auto' names no data set"):
            store.put_input("h2", "auto")
    assert filters_from({"data_spec": "auto"})["data"] == data_kind("auto") != "auto"
