"""The ``ray`` executor on one local Ray instance of 2 CPUs, started for this module and shut down after it:
the executor contract (retries, worker deaths, splitting), scoring equal to ``local``, failures recorded, and a
driver killed with ``kill -9`` then rerun. Few tests on purpose: every Ray worker start costs seconds."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

import test_executors
from archrank.data import load_batch
from archrank.executors import RayExecutor
from archrank.proxies import registry
from archrank.runner import score_space
from archrank.spaces import NB201Space
from archrank.store import Store
from test_executors import _logged, attempts

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'archrank[ray]'")
pytestmark = pytest.mark.xdist_group("ray")  # one Ray instance per test process (make test: --dist loadgroup)

SMALL_MODEL = 100_000  # only cell 3 among NB201 cells 0-3 has fewer parameters (73306)


def _exit_on_small_model(probe: object) -> float:
    params = sum(p.numel() for p in probe.model.parameters())  # type: ignore[attr-defined]
    if params < SMALL_MODEL:
        os._exit(7)
    return float(params)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A local Ray instance of 2 CPUs; its address. Test code travels to the workers by value."""
    from ray import cloudpickle

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    for module in (sys.modules[__name__], test_executors):
        cloudpickle.register_pickle_by_value(module)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        for module in (sys.modules[__name__], test_executors):
            cloudpickle.unregister_pickle_by_value(module)
        ray.shutdown()


@pytest.fixture(scope="module")
def batch() -> tuple[tuple[torch.Tensor, torch.Tensor], str]:
    b = load_batch("synthetic", batch_size=8, seed=0)
    return (b.x, b.y), b.content_hash


def test_ray_map_retries_splits_and_reports(cluster: str, tmp_path: Path) -> None:
    items = ["a", "raise-x", "once-y", "die-z", "b"]
    executor = RayExecutor(retries=1)
    outcomes = list(executor.map(_logged, str(tmp_path), items, chunk_size=5))
    failed = {o.items[0]: o.error for o in outcomes if not o.ok}
    assert set(failed) == {"raise-x", "die-z"}
    assert "planned failure of raise-x" in failed["raise-x"]
    assert "die" in failed["die-z"].lower() or "crash" in failed["die-z"].lower()
    done = {i: v for o in outcomes if o.ok for i, v in zip(o.items, o.value, strict=True)}
    assert done == {"a": "A", "once-y": "ONCE-Y", "b": "B"}
    assert attempts(tmp_path, "raise-x") == 4  # 2 attempts of the whole chunk, then 2 alone
    assert attempts(tmp_path, "die-z") == 2  # the chunk never reached it; alone it died twice
    executor.close()
    assert ray.is_initialized()  # the executor leaves a connection it did not open


def test_ray_scores_equal_local_and_failures_are_recorded(cluster: str, nb201: NB201Space, batch: tuple) -> None:
    archs = [nb201.from_index(i) for i in range(4)]
    proxies = ["grad_norm", "synflow", "nwot", "params"]
    with Store(":memory:") as on_ray, Store(":memory:") as here:
        summary = score_space(nb201, archs, proxies, on_ray, batch[0], batch_hash=batch[1],
                              executor=RayExecutor(), chunk_size=2, progress=False)
        score_space(nb201, archs, proxies, here, batch[0], batch_hash=batch[1], progress=False)
        assert summary.scored == 4 and summary.statuses["ok"] == 16
        pd.testing.assert_frame_equal(on_ray.score_table("nb201"), here.score_table("nb201"))

    registry.register_proxy("test_exit_small_ray", citation="test")(_exit_on_small_model)
    try:
        with Store(":memory:") as store:
            summary = score_space(nb201, archs, ["params", "test_exit_small_ray"], store, batch[0],
                                  batch_hash=batch[1], executor=RayExecutor(retries=1), chunk_size=1, progress=False)
            rows = store.scores(space="nb201")
    finally:
        registry._REGISTRY.pop("test_exit_small_ray", None)
    failed = rows[rows["status"] == "failed"]
    assert set(failed["arch_key"]) == {nb201.key(nb201.from_index(3))}
    assert failed["error"].str.startswith("task failed: task failed 2 times").all()
    assert (rows["status"] == "ok").sum() == 6 and summary.failed_tasks == 1


_DRIVER = textwrap.dedent(
    """
    import sys
    from archrank import get_space
    from archrank.data import load_batch
    from archrank.executors import RayExecutor
    from archrank.runner import score_space
    from archrank.store import Store

    space = get_space("nb201")
    b = load_batch("synthetic", batch_size=8, seed=0)
    archs = [space.from_index(i) for i in range(int(sys.argv[3]))]
    with Store(sys.argv[2]) as store, RayExecutor(sys.argv[1]) as executor:
        score_space(space, archs, ["params", "flops"], store, (b.x, b.y), batch_hash=b.content_hash,
                    executor=executor, chunk_size=1, progress=False, claim_ttl_s=2.0)
    """
)


def test_ray_driver_killed_then_rerun(cluster: str, nb201: NB201Space, batch: tuple, tmp_path: Path) -> None:
    # Enough cells that the driver cannot store them all between two polls: on an idle machine, once Ray's workers
    # are up, ten NB201 cells (params, nwot, batch 8) were all stored within one 0.2 s poll and the kill came too late.
    # params and FLOPs: defined on every cell (nwot is not `ok` on all of the first 200), so every stored status is ok.
    n, path = 200, tmp_path / "killed.db"
    proc = subprocess.Popen([sys.executable, "-c", _DRIVER, cluster, str(path), str(n)], start_new_session=True,
                            stderr=subprocess.DEVNULL)
    try:
        # Ray workers start slowly on a loaded machine (about 2 min before the first result with two trainings
        # beside it), so the wait is long; on an idle machine the first results come within seconds.
        deadline, written = time.monotonic() + 600, 0
        while time.monotonic() < deadline and proc.poll() is None and written < 2 * 2:
            if path.exists():
                with Store(path) as peek:
                    written = sum(peek.count().values())
            time.sleep(0.05)
        assert proc.poll() is None, "the driver finished before it could be killed: give it more work"
        assert written >= 2 * 2, "the driver stored nothing in 10 minutes: it is not killed mid-run"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    archs = [nb201.from_index(i) for i in range(n)]
    with Store(path) as store:
        before = len(store.scores(space="nb201"))
        summary = score_space(nb201, archs, ["params", "flops"], store, batch[0], batch_hash=batch[1],
                              executor=RayExecutor(), progress=False, claim_ttl_s=2.0)
        after = store.scores(space="nb201")
    assert 0 < before < 2 * n and before % 2 == 0
    assert summary.skipped == before // 2 and summary.scored == n - before // 2
    assert len(after) == 2 * n and not after.duplicated(["arch_key", "proxy"]).any()
    assert (after["status"] == "ok").all()
