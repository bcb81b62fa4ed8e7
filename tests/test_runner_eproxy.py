"""Eproxy scoring and DPS on an executor: the same values as in-process, written by the driver only."""

from __future__ import annotations

from pathlib import Path

import torch

from archrank.eproxy import EproxyConfig
from archrank.eproxy.evaluate import score_archs
from archrank.eproxy.store import EproxyStore
from archrank.executors import LocalExecutor
from archrank.spaces import NB201Space

TINY = EproxyConfig(steps=3, size=4, inputs="synthetic", alpha=0.0)
SHAPE = torch.zeros(8, 3, 16, 16)  # synthetic inputs take the batch's shape only


def test_eproxy_scores_on_workers_equal_in_process_and_are_stored(nb201: NB201Space, tmp_path: Path) -> None:
    archs = [nb201.from_index(i) for i in (1, 2, 5, 8)]
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the in-process path uses the caller's threads; workers use one
    try:
        here = score_archs(nb201, archs, TINY, SHAPE, seed=0)
    finally:
        torch.set_num_threads(before)
    with EproxyStore(tmp_path / "e.db") as store:
        there = score_archs(nb201, archs, TINY, SHAPE, seed=0, store=store, executor=LocalExecutor(2))
        again = score_archs(nb201, archs, TINY, SHAPE, seed=0, store=store)  # read back, nothing recomputed
    keys = [nb201.key(a) for a in archs]
    assert list(there) == keys
    assert all(here[k]["status"] == there[k]["status"] == "ok" for k in keys)
    assert [here[k]["value"] for k in keys] == [there[k]["value"] for k in keys] == [again[k]["value"] for k in keys]
