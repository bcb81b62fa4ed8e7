"""EcoNAS reduced trainings on an executor: the same results as one worker, written by the driver, resumable."""

from __future__ import annotations

from pathlib import Path

import torch

from archrank import econas
from archrank.econas.consistency import train_many
from archrank.executors import LocalExecutor
from archrank.spaces import NB201Space
from test_econas import TINY, TINY_ARCH, TINY_RECIPE, colour_task, failing_for


def test_trainings_on_two_workers_equal_one_worker_and_resume(nb201: NB201Space, tmp_path: Path) -> None:
    raw = colour_task(60, 30)
    archs = [nb201.parse(TINY_ARCH), nb201.from_index(1)]
    settings = ["c2r2s1e1", "c4r2s1e1"]
    frames = []
    before = torch.get_num_threads()
    for workers in (1, 2):
        with econas.TrainingStore(tmp_path / f"w{workers}.db") as store:
            executor = LocalExecutor(workers)
            ran = train_many(nb201, archs, settings, raw, store, recipe=TINY_RECIPE, progress=False,
                             executor=executor, **TINY)
            assert ran == 4
            assert train_many(nb201, archs, settings, raw, store, recipe=TINY_RECIPE, progress=False,
                              executor=executor, **TINY) == 0
            frames.append(store.results(space="nb201").set_index(["arch_key", "setting"]).sort_index())
    assert torch.get_num_threads() == before
    assert len(frames[0]) == 4
    assert frames[0]["accuracy"].tolist() == frames[1]["accuracy"].tolist()
    assert frames[0]["final_train_loss"].tolist() == frames[1]["final_train_loss"].tolist()


def test_a_failing_task_is_recorded_as_failed_and_retried(nb201: NB201Space, tmp_path: Path, monkeypatch) -> None:
    """On an executor, a training whose task fails for good is stored as failed with the reason; the next run
    trains it and the result replaces the failure."""
    from archrank.econas import parallel

    raw = colour_task(60, 30)
    archs = [nb201.parse(TINY_ARCH), nb201.from_index(1)]
    bad = nb201.key(archs[1])
    flaky = failing_for(bad, parallel.train, RuntimeError("out of memory (simulated)"))
    with econas.TrainingStore(tmp_path / "e.db") as store:
        with monkeypatch.context() as patch:
            patch.setattr(parallel, "train", flaky)
            assert train_many(nb201, archs, ["c2r2s1e1"], raw, store, recipe=TINY_RECIPE, progress=False,
                              executor=LocalExecutor(1), **TINY) == 1
        failures = store.failures(space="nb201")
        assert failures["arch_key"].tolist() == [bad] and "out of memory (simulated)" in failures["error"].iloc[0]
        assert failures["setting"].iloc[0] == store.results(space="nb201")["setting"].iloc[0]
        assert train_many(nb201, archs, ["c2r2s1e1"], raw, store, recipe=TINY_RECIPE, progress=False,
                          executor=LocalExecutor(1), **TINY) == 1
        assert store.failures().empty and len(store.results(space="nb201")) == 2
