"""Scoring on the local executor: thread-independent values, worker deaths, kill -9 and resume, concurrent
processes (claims) and an honest summary, device validation."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from archrank.data import load_batch
from archrank.proxies import registry
from archrank.runner import (
    ScoringSummary,
    _Claims,
    _Plan,
    config_hashes,
    model_config,
    score_space,
    validate_device,
    work_fingerprint,
)
from archrank.spaces import NB201Space
from archrank.store import ScoreRow, Store

CHEAP = ["params", "nwot", "synflow"]
KILLED = ["params", "nwot"]  # the kill -9 test keeps to the cheapest (its driver also pays a fresh import)
POISON_INDEX = 3  # the only one of NB201 cells 0-5 without a parametric op in its cells (73306 parameters)
SMALL_MODEL = 100_000


def _exit_on_small_model(probe: object) -> float:
    """Kills its worker process on a model of fewer than SMALL_MODEL parameters (cell 3 among cells 0-5)."""
    params = sum(p.numel() for p in probe.model.parameters())  # type: ignore[attr-defined]
    if params < SMALL_MODEL:
        os._exit(7)
    return float(params)


@pytest.fixture
def exit_proxy() -> Iterator[str]:
    registry.register_proxy("test_exit_small", citation="test")(_exit_on_small_model)
    yield "test_exit_small"
    registry._REGISTRY.pop("test_exit_small", None)


@pytest.fixture(scope="module")
def batch() -> tuple[tuple[torch.Tensor, torch.Tensor], str]:
    b = load_batch("synthetic", batch_size=8, seed=0)
    return (b.x, b.y), b.content_hash


def _table(store: Store) -> pd.DataFrame:
    return store.score_table("nb201")


def test_scores_do_not_depend_on_threads_or_workers(nb201: NB201Space, batch: tuple) -> None:
    archs = [nb201.from_index(i) for i in range(4)]
    proxies = ["grad_norm", "snip", "synflow", "nwot"]
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with Store(":memory:") as one, Store(":memory:") as two:
            score_space(nb201, archs, proxies, one, batch[0], batch_hash=batch[1], workers=1, progress=False)
            assert torch.get_num_threads() == 2  # the caller's setting is restored
            score_space(nb201, archs, proxies, two, batch[0], batch_hash=batch[1], workers=2, progress=False)
            pd.testing.assert_frame_equal(_table(one), _table(two))
            assert _table(one).notna().all().all()
    finally:
        torch.set_num_threads(before)


def test_worker_death_is_recorded_as_failed_and_the_run_finishes(
    nb201: NB201Space, batch: tuple, exit_proxy: str
) -> None:
    archs = [nb201.from_index(i) for i in range(6)]
    with Store(":memory:") as store:
        summary = score_space(nb201, archs, ["params", exit_proxy], store, batch[0], batch_hash=batch[1],
                              workers=2, chunk_size=2, progress=False)
        rows = store.scores(space="nb201")
    poison = nb201.key(nb201.from_index(POISON_INDEX))
    failed = rows[rows["status"] == "failed"]
    assert set(failed["arch_key"]) == {poison}
    assert len(failed) == 2 and failed["error"].str.contains("worker process died").all()
    assert failed["seconds"].isna().all()  # a task that never finished has no timing
    ok = rows[rows["status"] == "ok"]
    assert len(ok) == 2 * 5
    assert summary.failed_tasks == 1 and summary.scored == 6 and summary.statuses["failed"] == 2


_DRIVER = textwrap.dedent(
    """
    import sys
    from archrank import get_space
    from archrank.data import load_batch
    from archrank.runner import score_space
    from archrank.store import Store

    space = get_space("nb201")
    b = load_batch("synthetic", batch_size=8, seed=0)
    archs = [space.from_index(i) for i in range(int(sys.argv[2]))]
    with Store(sys.argv[1]) as store:
        score_space(space, archs, sys.argv[3].split(","), store, (b.x, b.y), batch_hash=b.content_hash,
                    workers=2, chunk_size=1, progress=False, claim_ttl_s=2.0)
    """
)


def test_kill_9_then_rerun_loses_nothing_and_repeats_nothing(nb201: NB201Space, batch: tuple, tmp_path: Path) -> None:
    n = 30
    path = tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, str(path), str(n), ",".join(KILLED)],
                            start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        written = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if path.exists():
                with Store(path) as peek:
                    written = sum(peek.count().values())
                if written >= 2 * len(KILLED):
                    break
            time.sleep(0.2)
        assert proc.poll() is None, "the driver finished before it could be killed: give it more work"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # its orphaned pool workers, if any are left
    with Store(path) as store:
        before = store.scores(space="nb201")
        assert 0 < len(before) < n * len(KILLED)
        assert len(before) % len(KILLED) == 0  # each task's rows went in one transaction
        archs = [nb201.from_index(i) for i in range(n)]
        summary = score_space(nb201, archs, KILLED, store, batch[0], batch_hash=batch[1], workers=2,
                              progress=False, claim_ttl_s=2.0)
        after = store.scores(space="nb201")
        resumed = _table(store)
    assert summary.skipped == len(before) // len(KILLED)  # what was stored is never resubmitted
    assert summary.scored == n - summary.skipped and summary.by_other == 0
    assert len(after) == n * len(KILLED)
    assert not after.duplicated(["arch_key", "proxy"]).any()
    kept = after.set_index(["arch_key", "proxy"]).loc[before.set_index(["arch_key", "proxy"]).index]
    assert (kept["created_at"].to_numpy() == before["created_at"].to_numpy()).all()  # old rows untouched
    with Store(":memory:") as reference:
        score_space(nb201, archs, KILLED, reference, batch[0], batch_hash=batch[1], progress=False)
        pd.testing.assert_frame_equal(resumed, _table(reference))


def test_work_claimed_by_another_process_is_left_to_it_and_counted_as_its(
    nb201: NB201Space, batch: tuple, tmp_path: Path
) -> None:
    archs = [nb201.from_index(i) for i in range(6)]
    theirs = [nb201.key(a) for a in archs[:2]]
    with Store(":memory:") as reference:  # the results the other process will store
        score_space(nb201, archs[:2], CHEAP, reference, batch[0], batch_hash=batch[1], progress=False)
        their_rows = [_row(r) for r in reference.scores().to_dict("records")]
    path = tmp_path / "shared.db"
    with Store(path) as store:
        score_space(nb201, [], CHEAP, store, batch[0], batch_hash=batch[1], progress=False)  # same configs
        fingerprint = _fingerprint_of(nb201, batch)
        assert store.claim("nb201", fingerprint, theirs, owner="other", ttl_s=60.0) == theirs

        def other_process() -> None:
            time.sleep(1.0)
            with Store(path) as other:
                other.put_scores(their_rows)
                other.release("nb201", fingerprint, theirs, owner="other")

        thread = threading.Thread(target=other_process)
        thread.start()
        run_id = store.start_run("cpu")
        summary = score_space(nb201, archs, CHEAP, store, batch[0], batch_hash=batch[1], progress=False,
                              run_id=run_id)
        thread.join()
        rows = store.scores(space="nb201")
    assert summary.by_other == 2 and summary.scored == 4 and summary.rows == 4 * len(CHEAP)
    assert sum(summary.statuses.values()) == summary.rows
    assert "2 finished by another process" in str(summary)
    assert set(rows[rows["run_id"] != run_id]["arch_key"]) == set(theirs)  # the other's rows, not repeated
    assert len(rows) == 6 * len(CHEAP)


def test_work_another_process_stored_after_planning_is_not_scored_again(tmp_path: Path) -> None:
    """A chunk is planned from an earlier look at the store: what another process stored since is not claimed for
    scoring again (a key done for good is released and left to the other's count; a key half done keeps only its
    missing proxies)."""
    names = ["synflow", "nwot"]
    with Store(tmp_path / "c.db") as store:
        plan = _Plan(store, "nb201", names, {"synflow": "h1", "nwot": "h2"}, 0, "b", "cpu", None)
        todo = plan.missing(["k1", "k2", "k3"])
        assert todo == [(k, tuple(names)) for k in ("k1", "k2", "k3")]
        store.put_scores([ScoreRow("nb201", key, name, digest, 0, "b", "cpu", 1.5, 0.1, "ok")  # the other process
                          for key, name, digest in (("k1", "synflow", "h1"), ("k1", "nwot", "h2"),
                                                    ("k2", "nwot", "h2"))])
        claims = _Claims(plan, 60.0)
        assert claims.admit(todo) == [("k2", ("synflow",)), ("k3", tuple(names))]
        assert claims.take_deferred() == ["k1"]
        assert store.claim("nb201", plan.fingerprint, ["k1", "k2", "k3"], owner="other") == ["k1"]  # k1 released


def _slow_params(probe: object) -> float:
    """Takes 2 s: longer than the lease of the test below."""
    time.sleep(2.0)
    return float(sum(p.numel() for p in probe.model.parameters()))  # type: ignore[attr-defined]


def test_a_task_longer_than_the_lease_keeps_its_claim(nb201: NB201Space, batch: tuple, tmp_path: Path) -> None:
    """While one task runs longer than ``claim_ttl_s`` (here in the driver's own process, which is blocked), its
    lease is renewed, so another process cannot take the architecture over and score it again."""
    registry.register_proxy("test_slow_params", citation="test")(_slow_params)
    path = tmp_path / "lease.db"
    key = nb201.key(nb201.from_index(0))
    hashes = config_hashes(["test_slow_params"], model_config(nb201, 10, {}))
    fingerprint = work_fingerprint(hashes, 0, batch[1], "cpu")
    taken: list[list[str]] = []

    def other_process() -> None:
        time.sleep(1.2)  # the lease of 0.5 s would have run out twice
        with Store(path) as other:
            taken.append(other.claim("nb201", fingerprint, [key], owner="other", ttl_s=60.0))

    try:
        with Store(path) as store:
            thread = threading.Thread(target=other_process)
            thread.start()
            summary = score_space(nb201, [nb201.from_index(0)], ["test_slow_params"], store, batch[0],
                                  batch_hash=batch[1], progress=False, claim_ttl_s=0.5)
            thread.join()
    finally:
        registry._REGISTRY.pop("test_slow_params", None)
    assert summary.scored == 1 and taken == [[]]


def _row(record: dict) -> ScoreRow:
    score = None if pd.isna(record["score"]) else record["score"]
    return ScoreRow(space=record["space"], arch_key=record["arch_key"], proxy=record["proxy"],
                    config_hash=record["config_hash"], seed=int(record["seed"]), batch_hash=record["batch_hash"],
                    device=record["device"], score=score, seconds=record["seconds"], status=record["status"],
                    error=record["error"], run_id=None)


def _fingerprint_of(space: NB201Space, batch: tuple) -> str:
    hashes = config_hashes(CHEAP, model_config(space, 10, {}))
    return work_fingerprint(hashes, 0, batch[1], "cpu")


def test_summary_counts_only_this_process_writes() -> None:
    summary = ScoringSummary(requested=5, skipped=1, scored=2, by_other=2, rows=6)
    summary.statuses["ok"] = 6
    text = str(summary)
    assert text.startswith("2 architectures scored, 1 already in the store, 2 finished by another process")
    assert "6 results written: ok 6, nan 0, failed 0" in text


@pytest.mark.parametrize("name", ["tpu", "cuda:x", "cpu:0", "CUDA", ""])
def test_unknown_devices_are_refused_in_one_line(name: str) -> None:
    with pytest.raises(ValueError, match="unknown device") as info:
        validate_device(name)
    assert "\n" not in str(info.value)


def test_device_checks(nb201: NB201Space) -> None:
    assert validate_device("cpu") == "cpu"
    assert validate_device("cuda:3", check_available=False) == "cuda:3"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            validate_device("cuda")
    with Store(":memory:") as store:
        with pytest.raises(ValueError, match="unknown device 'tpu'"):
            score_space(nb201, [nb201.from_index(0)], ["params"], store, device="tpu", progress=False)
        assert sum(store.count().values()) == 0
