"""The executor contract on the ``local`` executor: outcomes, retries, worker deaths, chunk splitting, admit.

The same contract on Ray is tested in ``test_runner_ray.py`` (one shared local Ray instance)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archrank.executors import (
    EXECUTORS,
    ExecutorUnavailable,
    LocalExecutor,
    auto_chunk_size,
    make_executor,
)
from archrank.executors.ray import INSTALL_HINT, import_ray


def _times(factor: int, items: list[int]) -> list[int]:
    return [factor * i for i in items]


def _logged(log_dir: str, items: list[str]) -> list[str]:
    """Logs one line per attempt of each item; ``raise*`` items raise, ``die*`` items kill their worker process,
    ``once*`` items fail on their first attempt only."""
    out = []
    for item in items:
        path = Path(log_dir) / item
        with path.open("a") as fh:
            fh.write("attempt\n")
        attempts = len(path.read_text().splitlines())
        if item.startswith("raise"):
            raise RuntimeError(f"planned failure of {item}")
        if item.startswith("die"):
            os._exit(3)
        if item.startswith("once") and attempts == 1:
            raise RuntimeError(f"first attempt of {item} fails")
        out.append(item.upper())
    return out


def attempts(log_dir: Path, item: str) -> int:
    return len((log_dir / item).read_text().splitlines())


@pytest.mark.parametrize("workers", [1, 2])
def test_map_returns_every_chunk_once(workers: int) -> None:
    executor = LocalExecutor(workers)
    outcomes = list(executor.map(_times, 3, list(range(10)), chunk_size=3))
    assert all(o.ok for o in outcomes)
    assert sorted(len(o.items) for o in outcomes) == [1, 3, 3, 3]
    pairs = sorted(p for o in outcomes for p in zip(o.items, o.value, strict=True))
    assert pairs == [(i, 3 * i) for i in range(10)]


@pytest.mark.parametrize("workers", [1, 2])
def test_raising_task_is_retried_split_then_reported(workers: int, tmp_path: Path) -> None:
    items = ["a", "raise-x", "b", "once-y", "c"]
    outcomes = list(LocalExecutor(workers, retries=1).map(_logged, str(tmp_path), items, chunk_size=5))
    failed = [o for o in outcomes if not o.ok]
    assert [o.items for o in failed] == [("raise-x",)]  # the chunk was split: only the culprit fails
    assert "planned failure of raise-x" in failed[0].error and "2 times" in failed[0].error
    done = {i: v for o in outcomes if o.ok for i, v in zip(o.items, o.value, strict=True)}
    assert done == {"a": "A", "b": "B", "once-y": "ONCE-Y", "c": "C"}
    # two attempts of the 5-item chunk, then two alone
    assert attempts(tmp_path, "raise-x") == 4
    assert attempts(tmp_path, "a") == 3


def test_worker_death_is_charged_to_its_task_only(tmp_path: Path) -> None:
    items = [f"ok{i}" for i in range(6)] + ["die-z"]
    executor = LocalExecutor(2, retries=1)
    outcomes = list(executor.map(_logged, str(tmp_path), items, chunk_size=1))
    failed = [o for o in outcomes if not o.ok]
    assert [o.items for o in failed] == [("die-z",)]
    assert "worker process died" in failed[0].error
    assert sorted(i for o in outcomes if o.ok for i in o.items) == sorted(items[:-1])
    # the culprit ran alone twice (once + one retry) after possibly dying beside an innocent task
    assert 2 <= attempts(tmp_path, "die-z") <= 3


def test_admit_filters_chunks_before_submission(tmp_path: Path) -> None:
    seen: list[list[int]] = []

    def admit(chunk: list[int]) -> list[int]:
        seen.append(chunk)
        return [i for i in chunk if i % 2 == 0]

    outcomes = list(LocalExecutor(1).map(_times, 1, list(range(8)), chunk_size=4, admit=admit))
    assert seen == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert sorted(i for o in outcomes for i in o.items) == [0, 2, 4, 6]


def test_auto_chunk_size_balances_slots() -> None:
    assert auto_chunk_size(0, 4) == 1
    assert auto_chunk_size(10, 4) == 1
    assert auto_chunk_size(200, 2) == 16  # capped
    assert auto_chunk_size(80, 2) == 10


def test_make_executor_rejects_bad_choices() -> None:
    assert set(EXECUTORS) == {"local", "ray"}
    with pytest.raises(ValueError, match="unknown executor 'dask'"):
        make_executor("dask")
    with pytest.raises(ValueError, match="need --executor ray"):
        make_executor("local", address="auto")
    with pytest.raises(ValueError, match="workers must be >= 1"):
        make_executor("local", workers=0)


def test_missing_ray_gives_the_install_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else real(name, *a))
    with pytest.raises(ExecutorUnavailable) as info:
        import_ray()
    assert str(info.value) == INSTALL_HINT
    assert "pip install 'archrank[ray]'" in INSTALL_HINT
    with pytest.raises(ExecutorUnavailable):
        make_executor("ray")


_ORPHAN_DRIVER = """
import sys, time
from pathlib import Path
from archrank.executors import LocalExecutor

def nap(pid_dir, items):
    import os
    (Path(pid_dir) / str(os.getpid())).touch()  # tells the test which processes run the tasks
    time.sleep(60)
    return items

if __name__ == "__main__":
    session = LocalExecutor(2).open(nap, sys.argv[1])
    session.submit((1,))
    session.submit((2,))
    time.sleep(600)
"""


def test_workers_exit_when_their_driver_is_killed(tmp_path: Path) -> None:
    """A driver killed without closing its pool (SIGKILL, OOM killer) must not leave workers behind."""
    import signal
    import subprocess
    import sys
    import time

    script, pid_dir = tmp_path / "driver.py", tmp_path / "pids"
    script.write_text(_ORPHAN_DRIVER)
    pid_dir.mkdir()
    driver = subprocess.Popen([sys.executable, str(script), str(pid_dir)])
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(list(pid_dir.iterdir())) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [int(p.name) for p in pid_dir.iterdir()]
        assert len(workers) == 2 and all(_alive(p) for p in workers)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
        deadline = time.monotonic() + 20
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers), "orphaned pool workers are still running"
    finally:
        driver.kill()
        for pid in filter(_alive, workers):  # a failing run must not leave its own orphans behind
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie reaped by init counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False
