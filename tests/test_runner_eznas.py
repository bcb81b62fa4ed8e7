"""EZNAS statistics pass on an executor: the same tensors as the in-process pass, cached by the driver."""

from __future__ import annotations

from pathlib import Path

import torch

from archrank.executors import LocalExecutor
from archrank.eznas.stats import Summary
from archrank.eznas.tasks import StatsSource
from archrank.spaces import NB201Space


def test_statistics_on_workers_equal_in_process_and_are_cached(nb201: NB201Space, tmp_path: Path) -> None:
    archs = [nb201.from_index(i) for i in (1, 5, 9)]
    small = Summary(max_samples=2, max_channels=4, max_spatial=4)
    here = StatsSource("synthetic", batch_size=4, summary=small)
    there = StatsSource("synthetic", batch_size=4, summary=small, cache_dir=str(tmp_path))
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the in-process pass uses the caller's threads; workers use one
    try:
        expected = here.network_stats(nb201, archs, seed=1, progress=False)
    finally:
        torch.set_num_threads(before)
    got = there.network_stats(nb201, archs, seed=1, progress=False, executor=LocalExecutor(2))
    assert len(list(tmp_path.rglob("*"))) >= len(archs)  # the driver cached every network
    cached = there.network_stats(nb201, archs, seed=1, progress=False)  # read back from the cache alone
    for a, b, c in zip(expected, got, cached, strict=True):
        assert a.layer_names == b.layer_names == c.layer_names and a.layers
        for la, lb, lc in zip(a.layers, b.layers, c.layers, strict=True):
            assert la.keys() == lb.keys()
            for name in la:
                assert torch.equal(la[name], lb[name]) and torch.equal(lb[name], lc[name])


def test_statistics_are_seeded_without_reinit_and_leave_the_global_rng_alone(nb201: NB201Space) -> None:
    from archrank.eznas.stats import StatsConfig

    archs = [nb201.from_index(5)]
    small = Summary(max_samples=2, max_channels=4, max_spatial=4)
    source = StatsSource("synthetic", batch_size=2, config=StatsConfig(init="none"), summary=small)
    runs = []
    for global_seed in (0, 123):
        torch.manual_seed(global_seed)
        state = torch.get_rng_state()
        runs.append(source.network_stats(nb201, archs, seed=1, progress=False)[0])
        assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG is not advanced
    for la, lb in zip(runs[0].layers, runs[1].layers, strict=True):
        for name in la:
            assert torch.equal(la[name], lb[name]), name  # the model's weights come from the seed alone
