"""The one store's guarantees: no silent mixing, atomic multi-statement writes, safe concurrent writers,
foreign files left untouched, known values kept as numbers, claims and trials for resumable work."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archrank.store import ScoreRow, Store, StoreError


def row(arch: str, score: float | None = 1.0, status: str = "ok", **kw: object) -> ScoreRow:
    base = dict(space="nb201", arch_key=arch, proxy="nwot", config_hash="c0", seed=0, batch_hash="b0", device="cpu",
                score=score, seconds=0.1, status=status, error=None)
    base.update(kw)
    return ScoreRow(**base)  # type: ignore[arg-type]


def test_score_table_filters_by_data_seed_and_device_and_refuses_to_mix(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.put_input("bsyn", "synthetic", {"batch_size": 64})
        store.put_input("bcif", "cifar10", {"batch_size": 64})
        store.put_scores([row("a", 1.0, batch_hash="bsyn"), row("a", 2.0, batch_hash="bcif")])
        with pytest.raises(StoreError, match=r"2 data sets .*data="):
            store.score_table("nb201")
        assert store.score_table("nb201", data="synthetic").loc["a", "nwot"] == 1.0
        assert store.score_table("nb201", data="cifar10:/some/dir").loc["a", "nwot"] == 2.0
        assert store.score_table("nb201", batch="bsyn").loc["a", "nwot"] == 1.0
        store.put_scores([row("a", 3.0, batch_hash="bsyn", seed=1)])
        with pytest.raises(StoreError, match=r"2 seeds .*seed="):
            store.score_table("nb201", data="synthetic")
        assert store.score_table("nb201", data="synthetic", seed=1).loc["a", "nwot"] == 3.0
        store.put_scores([row("a", 4.0, batch_hash="bsyn", device="cuda")])
        with pytest.raises(StoreError, match=r"2 devices"):
            store.score_table("nb201", data="synthetic", seed=0)
        assert store.score_table("nb201", data="synthetic", seed=0, device="cuda").loc["a", "nwot"] == 4.0


def test_a_known_infinite_value_stays_a_number(tmp_path: Path) -> None:
    """log(0) = -inf (e.g. synflow of a disconnected cell in log mode) is a worst score, not a missing one."""
    with Store(tmp_path / "s.db") as store:
        store.put_scores([row("a", -math.inf), row("b", 0.0)])
        table = store.score_table("nb201")
        assert table.loc["a", "nwot"] == -math.inf and table.loc["b", "nwot"] == 0.0
        assert store.scores()["status"].tolist() == ["ok", "ok"]


def test_multi_statement_write_is_atomic_when_a_crash_is_injected(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        run_id = store.start_run("cpu", kind="search", name="x", config={})
        con = sqlite3.connect(path)
        con.execute("CREATE TRIGGER boom BEFORE UPDATE OF status ON runs BEGIN SELECT RAISE(ABORT, 'crash'); END")
        con.commit()
        con.close()
        with pytest.raises(sqlite3.DatabaseError, match="crash"):
            store.finish_run(run_id, "done", extra={"best": 1})  # first statement writes extra, second aborts
        record = store.run(run_id)
        assert record["extra"] == {} and record["status"] == "running"


def test_an_error_that_sqlite_rolled_back_itself_reaches_the_caller(tmp_path: Path) -> None:
    """When SQLite ends the transaction itself, the caller sees that error, not a failed ROLLBACK hiding it."""
    with Store(tmp_path / "s.db") as store:
        store._db.execute("CREATE TRIGGER boom BEFORE INSERT ON measurements BEGIN SELECT RAISE(ROLLBACK, 'disk"
                          " full, say'); END")
        with pytest.raises(sqlite3.IntegrityError, match="disk full, say"):
            store.put_scores([row("a"), row("b")])
        store._db.execute("DROP TRIGGER boom")
        assert store.put_scores([row("a")]) == 1 and len(store.scores()) == 1


def test_failed_row_is_replaced_in_one_statement(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        store.put_scores([row("a", None, "failed", error="OOM")])
        assert store.put_scores([row("a", 2.0)]) == 1
        assert store.put_scores([row("a", 9.0)]) == 0  # the first real result wins
        assert store.scores()["score"].tolist() == [2.0]


def test_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    con.execute("INSERT INTO customers VALUES (1, 'x')")
    con.commit()
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="another program"):
        Store(path)
    assert path.read_bytes() == before
    assert not Path(str(path) + "-wal").exists()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with Store(path):
        pass
    con = sqlite3.connect(path)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer archrank"):
        Store(path)


WRITER = textwrap.dedent("""
    import sys
    from archrank.store import ScoreRow, Store
    path, tag = sys.argv[1], sys.argv[2]
    with Store(path) as store:
        for i in range(60):
            rows = [ScoreRow("nb201", f"a{i}", p, "c", 0, "b", "cpu", float(i), 0.0, "ok") for p in ("x", "y")]
            store.put_scores(rows)
            store.put_scores([ScoreRow("nb201", f"{tag}{i}", "x", "c", 0, "b", "cpu", 1.0, 0.0, "ok")])
""")


def test_concurrent_writers_wait_and_never_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag], stderr=subprocess.PIPE, text=True)
             for tag in ("p", "q")]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    with Store(path) as store:
        frame = store.scores()
        assert len(frame) == 60 * 2 + 60 + 60  # shared keys once, each writer's own keys once
        assert not frame.duplicated(["arch_key", "proxy"]).any()


def test_opening_a_file_twice_in_one_process_keeps_its_commits_reaching_other_processes(tmp_path: Path) -> None:
    """A second store on a file this process holds open (a view, a helper thread) must not drop the first one's
    locks: else another process, closing, deletes the write-ahead log the first still writes to, and its later
    commits reach no other process (nor the file: a kill -9 would lose them)."""
    path = tmp_path / "s.db"
    count = "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM measurements')" \
            ".fetchone()[0])"

    def seen_by_another_process() -> int:
        return int(subprocess.run([sys.executable, "-c", count, str(path)], capture_output=True, text=True,
                                  check=True).stdout)

    with Store(path) as first:
        first.put_scores([row("a")])
        Store(path, create=False).close()
        assert seen_by_another_process() == 1
        first.put_scores([row("b")])
        assert seen_by_another_process() == 2


def test_claims_share_work_and_expire(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        assert store.claim("nb201", "f", ["a", "b"], owner="p1") == ["a", "b"]
        assert store.claim("nb201", "f", ["a", "b", "c"], owner="p2") == ["c"]
        store.release("nb201", "f", ["a"], owner="p1")
        assert store.claim("nb201", "f", ["a", "b"], owner="p2") == ["a"]
        assert store.claim("nb201", "g", ["b"], owner="p2") == ["b"]  # another piece of work
        assert store.claim("nb201", "f", ["x"], owner="p3", ttl_s=-1.0) == ["x"]
        assert store.claim("nb201", "f", ["x"], owner="p4") == ["x"]  # p3's lease had expired


def test_trials_replay_and_refuse_divergence(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        run_id, resumed = store.resume_run("search", "r#seed=0", {"budget": 3})
        assert not resumed
        assert store.put_trial(run_id, 0, {"arch_key": "a", "seconds": 1.0}, 90.0, identity=("arch_key",))
        # the same step from a second process running the same search: a no-op, even with other timings
        assert not store.put_trial(run_id, 0, {"arch_key": "a", "seconds": 2.0}, 90.0, identity=("arch_key",))
        with pytest.raises(StoreError, match="another result"):
            store.put_trial(run_id, 0, {"arch_key": "b", "seconds": 1.0}, 80.0, identity=("arch_key",))
        assert [t["arch_key"] for t in store.trials(run_id)] == ["a"]
        # a step whose result is NaN is the same step when a second process records it again
        assert store.put_trial(run_id, 1, {"arch_key": "b", "valid": math.nan}, math.nan)
        assert not store.put_trial(run_id, 1, {"arch_key": "b", "valid": math.nan}, math.nan)
        assert store.resume_run("search", "r#seed=0", {"budget": 3}) == (run_id, True)
        with pytest.raises(StoreError, match=r"other settings \(budget\)"):
            store.resume_run("search", "r#seed=0", {"budget": 4})


def test_runs_of_every_kind_are_listed(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        for kind in ("score", "search", "dps", "evolve", "train"):
            store.start_run("cpu", kind=kind)
        store.finish_run(1, "done")
        runs = store.runs()
        assert runs["kind"].tolist() == ["score", "search", "dps", "evolve", "train"]
        assert runs["status"].tolist()[:2] == ["done", "running"]
        with pytest.raises(ValueError, match="run kind"):
            store.start_run("cpu", kind="bogus")


def test_claims_of_a_dead_local_process_are_taken_over_at_once(tmp_path: Path) -> None:
    import socket

    from archrank.store.core import claim_owner

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    ghost = f"{socket.gethostname()}:{int(dead.stdout)}:deadbeef"
    with Store(tmp_path / "s.db") as store:
        assert store.claim("nb201", "f", ["a", "b"], owner=ghost, ttl_s=3600) == ["a", "b"]
        assert store.claim("nb201", "f", ["c"], owner="other-host:1:x", ttl_s=3600) == ["c"]
        live = claim_owner()  # this process: alive
        assert store.claim("nb201", "f", ["d"], owner=live, ttl_s=3600) == ["d"]
        me = f"{socket.gethostname()}:{os.getpid()}:mine"
        # the dead ghost's lease is not waited for; a live owner's and another host's are respected
        assert store.claim("nb201", "f", ["a", "b", "c", "d"], owner=me) == ["a", "b"]
