"""The SQLite results store: idempotent writes, NaN handling, failed-row retries, export, ground truth."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import pandas as pd
import pytest

from archrank.store import ScoreRow, Store
from archrank.store.file import replaced_whole


def row(arch: str, proxy: str = "synflow", score: float | None = 1.0, status: str = "ok", **kw: object) -> ScoreRow:
    base = dict(space="nb201", arch_key=arch, proxy=proxy, config_hash="c0", seed=0, batch_hash="b0", device="cpu",
                score=score, seconds=0.1, status=status, error=None)
    base.update(kw)
    return ScoreRow(**base)  # type: ignore[arg-type]


def test_writes_are_idempotent(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        assert store.put_scores([row("a"), row("b")]) == 2
        assert store.put_scores([row("a", score=5.0), row("c")]) == 1  # "a" exists: kept, not duplicated
        frame = store.scores()
        assert len(frame) == 3
        assert frame.set_index("arch_key").loc["a", "score"] == 1.0


def test_failed_rows_are_retried_but_ok_rows_kept(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.put_scores([row("a", score=None, status="failed", error="OOM")])
        assert store.done("nb201", {"synflow": "c0"}, 0, "b0", "cpu") == set()
        assert store.put_scores([row("a", score=2.0)]) == 1
        assert store.done("nb201", {"synflow": "c0"}, 0, "b0", "cpu") == {("a", "synflow")}
        assert store.scores()["score"].tolist() == [2.0]


def test_nan_is_stored_as_missing_never_a_number(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.put_scores([row("a", score=None, status="nan", error="non-finite")])
        frame = store.scores()
        assert math.isnan(frame["score"].iloc[0])
        assert frame["status"].iloc[0] == "nan"
        assert ("a", "synflow") in store.done("nb201", {"synflow": "c0"}, 0, "b0", "cpu")
    with pytest.raises(ValueError, match="a number"):
        row("a", score=float("nan"), status="ok")
    with pytest.raises(ValueError, match="status"):
        row("a", status="weird")


@pytest.mark.parametrize("status", ["nan", "failed"])
def test_a_result_that_is_not_ok_carries_no_score(status: str) -> None:
    """A nan or failed row with a number would be stored as a value no reader skips: refused."""
    with pytest.raises(ValueError, match=f"status '{status}' has no score, got 0.0"):
        row("a", score=0.0, status=status, error="why")
    assert row("a", score=float("nan"), status=status).score != 0  # NaN (or None) is how a missing score is given


def test_key_separates_seed_batch_device_and_config(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.put_scores([row("a"), row("a", seed=1), row("a", batch_hash="b1"), row("a", device="cuda"),
                          row("a", config_hash="c1")])
        assert len(store.scores()) == 5
        assert store.done("nb201", {"synflow": "c0"}, 1, "b0", "cpu") == {("a", "synflow")}


def test_transaction_is_all_or_nothing(tmp_path: Path) -> None:
    def rows() -> object:
        yield row("a")
        raise RuntimeError("boom")

    with Store(tmp_path / "s.db") as store:
        with pytest.raises(RuntimeError):
            store.put_scores(rows())  # type: ignore[arg-type]
        assert store.scores().empty


def test_score_table_and_exports(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.put_scores([row("a", "synflow", 1.0), row("a", "nwot", 3.0), row("b", "synflow", 2.0),
                          row("b", "nwot", None, "nan")])
        wide = store.score_table("nb201")
        assert wide.loc["a", "nwot"] == 3.0 and math.isnan(wide.loc["b", "nwot"])
        csv = store.export(tmp_path / "out.csv")
        assert len(pd.read_csv(csv)) == 4
        pq = store.export(tmp_path / "out.parquet", space="nb201", wide=True)
        assert set(pd.read_parquet(pq).columns) >= {"arch_key", "synflow", "nwot"}
        with pytest.raises(ValueError, match=r"\.csv, \.csv\.gz or \.parquet"):
            store.export(tmp_path / "out.xlsx")
        first = store.export(tmp_path / "one.csv.gz").read_bytes()
        assert first[:2] == b"\x1f\x8b" and first[4:8] == bytes(4)  # gzip, header time 0: reproducible bytes
        assert store.export(tmp_path / "one.csv.gz").read_bytes() == first
        assert not list(tmp_path.glob(".*")), "an export leaves no temporary file behind"


def test_replaced_whole_keeps_the_old_file_when_a_write_fails(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv.gz"
    target.write_text("the previous table")
    with pytest.raises(RuntimeError, match="killed"), replaced_whole(target) as tmp:
        assert tmp.parent == tmp_path and tmp.name.endswith("scores.csv.gz") and tmp != target
        tmp.write_text("half a ta")
        raise RuntimeError("killed mid-write")
    assert target.read_text() == "the previous table"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv.gz"]
    with replaced_whole(target) as tmp:
        tmp.write_text("the new table")
    assert target.read_text() == "the new table" and len(list(tmp_path.iterdir())) == 1


def test_ground_truth_and_runs(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        table = pd.DataFrame({"test_acc": [90.0, 80.0]}, index=["a", "b"])
        assert store.put_ground_truth("nb201_csv", "nb201", table) == 2
        back = store.ground_truth("nb201_csv", "nb201")
        assert back.loc["a", "test_acc"] == 90.0
        run_id = store.start_run("cpu", command="test")
        runs = store.runs()
        assert runs["run_id"].tolist() == [run_id] and runs["torch_version"].iloc[0]


def test_corrupt_or_misplaced_store_gives_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ValueError, match="not an archrank store: not an SQLite file"):
        Store(bad)
    truncated = tmp_path / "truncated.db"
    with Store(tmp_path / "good.db") as store:
        store.put_scores([row("a")])
    truncated.write_bytes((tmp_path / "good.db").read_bytes()[:200])
    with pytest.raises(ValueError, match="archrank store"):
        Store(truncated).scores()
    with pytest.raises(ValueError, match="store folder does not exist"):
        Store(tmp_path / "missing" / "s.db")
    with pytest.raises(ValueError, match="is a directory"):
        Store(tmp_path)
    with pytest.raises(ValueError, match="no store at"):
        Store(tmp_path / "absent.db", create=False)
    assert not (tmp_path / "absent.db").exists()


def test_two_connections_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as one, Store(path) as two:
        one.put_scores([row("a")])
        assert len(two.scores()) == 1
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_score_table_takes_the_newer_implementation_even_when_it_is_nan(tmp_path: Path) -> None:
    """A proxy rescored under a new implementation version: the newer configuration wins, NaN included."""
    with Store(tmp_path / "s.db") as store:
        store.put_config("old", "az", {"proxy": "az", "version": 2})
        store.put_scores([row("a", "az", 1.0, config_hash="old"), row("b", "az", 2.0, config_hash="old")])
        time.sleep(0.01)
        store.put_config("new", "az", {"proxy": "az", "version": 3})
        store.put_scores([row("a", "az", None, "nan", config_hash="new"), row("b", "az", 7.0, config_hash="new")])
        wide = store.score_table("nb201")
        assert math.isnan(wide.loc["a", "az"])
        assert wide.loc["b", "az"] == 7.0


def test_score_table_refuses_to_mix_configurations(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.put_config("c32", "az", {"proxy": "az", "batch_size": 32})
        store.put_config("c64", "az", {"proxy": "az", "batch_size": 64})
        store.put_scores([row("a", "az", 1.0, config_hash="c32"), row("a", "az", 5.0, config_hash="c64")])
        with pytest.raises(ValueError, match=r"2 configurations .* config="):
            store.score_table("nb201")
        assert store.score_table("nb201", config="c32").loc["a", "az"] == 1.0
        assert store.score_table("nb201", config={"az": "c64"}).loc["a", "az"] == 5.0
        assert store.score_table("nb201", latest=True).loc["a", "az"] == 5.0


def test_a_scores_table_rebuilds_the_store(tmp_path: Path) -> None:
    """export (.csv.gz) -> archrank merge gives back every measurement as stored: 0 stays 0, NaN stays NaN, a failure
    keeps its reason, configurations and inputs keep what they stand for (so data filters and the rescore rule work
    the same), keys already here are kept, a second merge adds nothing, and a bad table fails in one line."""
    from click.testing import CliRunner

    from archrank.cli import main

    source = tmp_path / "source.db"
    with Store(source) as store:
        store.put_config("c0", "synflow", {"batch": 64, "version": 1}, created_at=100.0)
        store.put_config("c1", "synflow", {"batch": 64, "version": 2}, created_at=200.0)  # a rescore supersedes c0
        store.put_input("b0", "cifar10", {"batch_size": 64})
        store.put_scores([row("a", score=0.0), row("b", score=None, status="nan", error="non-finite"),
                          row("c", score=None, status="failed", error="out of memory"),
                          row("a", score=7.0, config_hash="c1"), row("b", score=8.0, config_hash="c1"),
                          row("a", "nwot", 2.5, extra={"layers": 3})])
        original = store.scores()
        table = store.score_table("nb201", data="cifar10")
        exported = store.export(tmp_path / "scores.csv.gz")
    rebuilt = tmp_path / "rebuilt.db"
    with Store(rebuilt) as store:
        store.put_scores([row("a", "nwot", 99.0, extra={"layers": 3})])  # already here: kept
    out = CliRunner().invoke(main, ["merge", str(exported), "--store", str(rebuilt)])
    assert out.exit_code == 0, out.output
    assert "5 new scores, 1 already here" in out.output
    with Store(rebuilt) as store:
        back = store.scores()
        assert store.put_frame(pd.read_csv(exported)) == (0, 6)  # idempotent
        parquet = store.export(tmp_path / "scores.parquet")
    out = CliRunner().invoke(main, ["merge", str(parquet), "--store", str(tmp_path / "from_parquet.db")])
    assert out.exit_code == 0 and "6 new scores, 0 already here" in out.output, out.output
    with Store(rebuilt) as store:
        assert store.get_config("c1") == {"batch": 64, "version": 2}
        pd.testing.assert_frame_equal(store.score_table("nb201", data="cifar10").drop(columns="nwot"),
                                      table.drop(columns="nwot"))
    columns = ["space", "arch_key", "proxy", "config_hash", "seed", "batch_hash", "device", "score", "status", "error",
               "data", "config_created_at", "extra", "created_at"]  # created_at: when measured, not when merged
    mine = back[~((back["arch_key"] == "a") & (back["proxy"] == "nwot"))][columns].reset_index(drop=True)
    theirs = original[~((original["arch_key"] == "a") & (original["proxy"] == "nwot"))][columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(mine, theirs)
    assert back.set_index(["arch_key", "config_hash", "proxy"]).loc[("a", "c0", "synflow"), "score"] == 0.0
    assert back.set_index(["arch_key", "proxy"]).loc[("a", "nwot"), "score"] == 99.0
    bad = tmp_path / "bad.csv"
    original.assign(status="weird").drop(columns=["created_at"]).to_csv(bad, index=False)
    out = CliRunner().invoke(main, ["merge", str(bad), "--store", str(tmp_path / "other.db")])
    assert out.exit_code != 0 and "row 2: status must be one of" in out.output
    assert len(out.output.strip().splitlines()) == 1
    with Store(tmp_path / "other.db") as store:
        assert store.scores().empty  # nothing stored from a table with a bad row


def test_a_scores_table_keeps_keys_and_hashes_that_look_like_numbers(tmp_path: Path) -> None:
    """A NAS-Bench-Macro key (02012100), a hash in float notation (1e50000000000000) and the words ``nan``/``NA``
    come back from export -> archrank merge as written; 0 stays 0 and a missing score stays missing."""
    from click.testing import CliRunner

    from archrank.cli import main

    keys = dict(space="macro", config_hash="0123456789abcdef", batch_hash="1e50000000000000")
    with Store(tmp_path / "source.db") as store:
        store.put_config("0123456789abcdef", "synflow", {"proxy": "synflow"})
        store.put_input("1e50000000000000", "synthetic", {"n": 1})
        store.put_scores([row("02012100", score=0.0, **keys), row("11111111", score=None, status="nan", error="NA",
                                                                   **keys)])
        original = store.scores()
        exported = store.export(tmp_path / "scores.csv")
    out = CliRunner().invoke(main, ["merge", str(exported), "--store", str(tmp_path / "rebuilt.db")])
    assert out.exit_code == 0 and "2 new scores" in out.output, out.output
    with Store(tmp_path / "rebuilt.db") as store:
        back = store.scores()
        assert store.score_table("macro", data="synthetic").loc["02012100", "synflow"] == 0.0
    columns = ["arch_key", "config_hash", "batch_hash", "data", "score", "status", "error"]
    pd.testing.assert_frame_equal(back[columns], original[columns])
    assert back["arch_key"].tolist() == ["02012100", "11111111"] and math.isnan(back["score"].iloc[1])


def test_a_scores_table_with_bad_json_is_refused_in_one_line_naming_the_row(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from archrank.cli import main

    with Store(tmp_path / "source.db") as store:
        store.put_config("c0", "synflow", {"batch": 64})
        store.put_scores([row("a"), row("b")])
        good = store.export(tmp_path / "good.csv")
    table = pd.read_csv(good, dtype=str)
    for column, value, words in (("config", "{not json", "row 3: config is not JSON"),
                                 ("config", "[1, 2]", "row 3: config must be a JSON object"),
                                 ("extra", "7", "row 3: extra must be a JSON object")):
        bad = tmp_path / "bad.csv"
        table.assign(**{column: [table[column][0], value]}).to_csv(bad, index=False)
        out = CliRunner().invoke(main, ["merge", str(bad), "--store", str(tmp_path / "other.db")])
        assert out.exit_code == 1 and words in out.output and len(out.output.strip().splitlines()) == 1, out.output
    with Store(tmp_path / "other.db") as store:
        assert store.scores().empty


def test_merge_refuses_a_table_that_is_neither_kind(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from archrank.cli import main

    wide = tmp_path / "wide.csv"
    pd.DataFrame({"arch_key": ["a"], "synflow": [1.0]}).to_csv(wide, index=False)  # a wide export: for reading only
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    for path, words in ((wide, "not a scores table"), (empty, "No columns")):
        out = CliRunner().invoke(main, ["merge", str(path), "--store", str(tmp_path / "s.db")])
        assert out.exit_code != 0 and words in out.output and len(out.output.strip().splitlines()) == 1
