"""Seeds of one search as parallel tasks (issue 15): ``archrank search --workers 2`` and ``--executor ray`` give the
sequential trajectories, the driver alone writes the store, a partial run resumes and a finished one is not run
again. One small table-oracle search (3 seeds, budget 30) is the reference."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner, Result

from archrank import get_space
from archrank.cli.search import search_cmd
from archrank.executors import LocalExecutor, RayExecutor, TaskOutcome
from archrank.search import HistoryDB, TableOracle, run_many
from archrank.store import Store

SETUP = ["--algorithm", "rea", "--warmup", "params:20", "--move", "flops", "--seeds", "0-2", "--quiet"]
ON_RAY = pytest.mark.xdist_group("ray")  # the test process of the other Ray tests: one Ray instance at a time


@pytest.fixture(scope="module")
def table(data_root: Path) -> Path:
    path = data_root / "nb201" / "nb201_cifar10.csv"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return path


def _search(table: Path, store: Path, *options: str, budget: int = 30) -> tuple[Result, pd.DataFrame]:
    """Run the command; its exit, and the trajectories it wrote (empty when it failed)."""
    out = store.with_suffix(".out")
    result = CliRunner().invoke(search_cmd, [*SETUP, "--oracle", f"nb201-csv:{table}", "--budget", str(budget),
                                             "--store", str(store), "--out", str(out), *options])
    frame = pd.read_csv(out / "trajectories.csv") if result.exit_code == 0 else pd.DataFrame()
    return result, frame


def _recorded(store: Path) -> tuple[pd.DataFrame, int, int]:
    """Every recorded query, the number of search runs and of stored measurements."""
    with HistoryDB(store) as db:
        return db.trajectories(), len(db.store.runs(kind="search")), sum(db.store.count().values())


@pytest.fixture(scope="module")
def sequential(table: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The reference: the seeds one after the other in this process; (trajectories, recorded queries)."""
    store = tmp_path_factory.mktemp("sequential") / "s.db"
    result, frame = _search(table, store)
    assert result.exit_code == 0, result.output
    assert len(frame) == 90 and set(frame["seed"]) == {0, 1, 2}
    return frame, _recorded(store)[0]


class _Recording(LocalExecutor):
    """Two local workers that note every seed task submitted to them."""

    def __init__(self) -> None:
        super().__init__(2)
        self.submitted: list[Any] = []

    def map(self, fn: Any, shared: Any, items: Sequence[Any], **kwargs: Any) -> Iterator[TaskOutcome[Any]]:
        self.submitted.extend(items)
        return super().map(fn, shared, items, **kwargs)


def test_local_workers_equal_sequential_and_rerun_writes_nothing(table: Path, sequential: tuple, tmp_path: Path
                                                                   ) -> None:
    reference, recorded = sequential
    store = tmp_path / "local.db"
    result, frame = _search(table, store, "--workers", "2")
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(frame, reference)
    before = _recorded(store)
    pd.testing.assert_frame_equal(before[0], recorded)
    assert before[1] == 3

    again, frame = _search(table, store, "--workers", "2")
    assert again.exit_code == 0, again.output
    assert again.output.count("(resumed 30)") == 3
    pd.testing.assert_frame_equal(frame, reference)
    after = _recorded(store)
    pd.testing.assert_frame_equal(after[0], before[0])
    assert after[1:] == before[1:]

    space = get_space("nb201")
    executor = _Recording()
    histories = run_many(space, [2, 0], executor=executor, algorithm="rea", warmup="params:20", move="flops",
                         oracle=TableOracle.nb201_cifar10(space, str(table)), budget=30, store=store)
    assert executor.submitted == []  # finished seeds are read back, not run again
    assert [h.seed for h in histories] == [2, 0]
    for hist in histories:
        expected = reference[reference["seed"] == hist.seed].reset_index(drop=True)
        pd.testing.assert_frame_equal(hist.to_frame(), expected, check_dtype=False)


def test_partial_run_resumes_on_workers(table: Path, sequential: tuple, tmp_path: Path) -> None:
    store = tmp_path / "partial.db"
    first, _ = _search(table, store, budget=12)
    assert first.exit_code == 0, first.output
    result, frame = _search(table, store, "--workers", "2")
    assert result.exit_code == 0, result.output
    assert result.output.count("(resumed 12)") == 3
    pd.testing.assert_frame_equal(frame, sequential[0])
    pd.testing.assert_frame_equal(_recorded(store)[0], sequential[1])


def test_a_seed_recorded_with_other_settings_fails_alone(table: Path, tmp_path: Path) -> None:
    store = tmp_path / "clash.db"
    other, _ = _search(table, store, "--seeds", "1", "--move-random-prob", "0.5", "--run-name", "clash", budget=5)
    assert other.exit_code == 0, other.output
    result, _ = _search(table, store, "--workers", "2", "--run-name", "clash", budget=5)
    assert result.exit_code != 0
    assert "1 of 3 seeds of 'clash' failed" in result.output and "seed 1:" in result.output
    assert "different setup" in result.output
    recorded = _recorded(store)[0]
    assert recorded.groupby("seed").size().to_dict() == {0: 5, 1: 5, 2: 5}  # seeds 0 and 2 stored, 1 untouched
    with Store(store) as db:
        assert db.runs(kind="search")["status"].tolist() == ["done"] * 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, bool]]:
    """A local Ray instance of 2 CPUs started by the executor (or the one this test process already holds); its
    address and whether the executor started it."""
    ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'archrank[ray]'")
    from ray import cloudpickle

    executor = RayExecutor(num_cpus=2, init_kwargs={"log_to_driver": False})
    started = not ray.is_initialized()
    executor.connect()
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        yield ray.get_runtime_context().gcs_address, started
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
        executor.close()


def _niceness(shared: object, items: list[int]) -> list[int]:
    return [os.nice(0) for _ in items]


@ON_RAY
def test_ray_local_instance_runs_tasks_at_the_drivers_priority(cluster: tuple[str, bool]) -> None:
    if not cluster[1]:
        pytest.skip("this test process already held a Ray instance started elsewhere")
    outcomes = list(RayExecutor().map(_niceness, None, [0, 1], chunk_size=1))
    assert [o.value for o in outcomes] == [[os.nice(0)], [os.nice(0)]]  # Ray's default would add 15


@ON_RAY
def test_ray_equals_sequential_and_rerun_writes_nothing(cluster: tuple[str, bool], table: Path, sequential: tuple,
                                                       tmp_path: Path) -> None:
    store = tmp_path / "ray.db"
    options = ("--executor", "ray", "--ray-address", cluster[0])
    result, frame = _search(table, store, *options)
    assert result.exit_code == 0, result.output
    pd.testing.assert_frame_equal(frame, sequential[0])
    before = _recorded(store)
    pd.testing.assert_frame_equal(before[0], sequential[1])
    again, frame = _search(table, store, *options)
    assert again.exit_code == 0, again.output
    assert again.output.count("(resumed 30)") == 3
    pd.testing.assert_frame_equal(frame, sequential[0])
    after = _recorded(store)
    pd.testing.assert_frame_equal(after[0], before[0])
    assert after[1:] == before[1:]
