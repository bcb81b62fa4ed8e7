"""EZNAS statistics pass on an executor: the same tensors as the in-process pass, cached by the driver."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
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


class _BrokenNB201(NB201Space):
    """NB201 whose cells listed in ``broken`` cannot be built (as an out-of-memory network would fail)."""

    name = "nb201-broken"

    def __init__(self, broken: frozenset[str]) -> None:
        super().__init__()
        self.broken = broken

    def build(self, arch, num_classes=None, **kwargs):  # type: ignore[no-untyped-def]
        if self.key(arch) in self.broken:
            raise RuntimeError("out of memory\nsecond line of the message")
        return super().build(arch, num_classes=num_classes, **kwargs)


_SMALL = Summary(max_samples=2, max_channels=4, max_spatial=4)


def test_a_failing_architecture_is_reported_in_its_place_and_the_rest_go_on(tmp_path: Path) -> None:
    from archrank.eznas.stats import NetworkStats
    from archrank.eznas.tasks import StatsFailure

    plain = NB201Space()
    archs = [plain.from_index(i) for i in (1, 5, 9)]
    broken = _BrokenNB201(frozenset({plain.key(archs[1])}))
    source = StatsSource("synthetic", batch_size=4, summary=_SMALL, cache_dir=str(tmp_path))
    for executor in (None, LocalExecutor(2)):
        found = source.collect_stats(broken, archs, seed=1, progress=False, executor=executor)
        assert [type(s) for s in found] == [NetworkStats, StatsFailure, NetworkStats]
        failure = found[1]
        assert isinstance(failure, StatsFailure)
        assert failure.arch == plain.key(archs[1]) and failure.reason == "RuntimeError: out of memory"
        with pytest.raises(RuntimeError, match=r"statistics of .* failed: RuntimeError: out of memory"):
            source.network_stats(broken, archs, seed=1, progress=False, executor=executor)
    # the failure was not cached: once the network builds, its statistics are extracted
    healthy = _BrokenNB201(frozenset())
    assert all(isinstance(s, NetworkStats) for s in source.collect_stats(healthy, archs, seed=1, progress=False))


def test_tasks_leave_out_failed_architectures_and_say_so() -> None:
    from archrank.eznas.tasks import MIN_TASK_ARCHS, build_tasks, fitness_architectures

    plain = NB201Space()
    (group,) = fitness_architectures(plain, 1, 5, seed=1)
    keys = [plain.key(a) for a in group]
    table = pd.DataFrame({"cifar10_test_acc": np.arange(5.0)}, index=keys)
    source = StatsSource("synthetic", batch_size=4, summary=_SMALL)
    tasks, spec = build_tasks(_BrokenNB201(frozenset(keys[1:3])), table, source, n_tasks=1, per_task=5,
                              task_seed=1, progress=False)
    (task,) = tasks
    assert task.batch.n_networks == 3 and task.accuracy.tolist() == [0.0, 3.0, 4.0]
    assert sorted(task.meta["failed"]) == sorted(keys[1:3])
    assert spec["tasks"][0]["archs"] == [keys[0], keys[3], keys[4]]
    assert spec["tasks"][0]["failed"] == sorted(keys[1:3])
    _, clean_spec = build_tasks(plain, table, source, n_tasks=1, per_task=5, task_seed=1, progress=False)
    assert "failed" not in clean_spec["tasks"][0] and clean_spec["tasks"][0]["archs"] == keys
    too_many = frozenset(keys[: 5 - MIN_TASK_ARCHS + 1])
    with pytest.raises(ValueError, match="fewer than 3 left"):
        build_tasks(_BrokenNB201(too_many), table, source, n_tasks=1, per_task=5, task_seed=1, progress=False)


def test_statistics_of_a_network_with_dropout_come_from_the_seed_alone() -> None:
    """Dropout draws from torch's global generator: the statistics pass forks and seeds it per pass, so two calls
    agree whatever the caller's RNG, the caller's RNG is not advanced, and another seed gives other masks."""
    from torch import nn

    from archrank.eznas.stats import StatsConfig, extract_stats

    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Dropout(0.5),
        nn.Conv2d(8, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )
    x = torch.randn(4, 3, 8, 8)
    config = StatsConfig(init="none")
    runs = []
    for global_seed in (1, 2):
        torch.manual_seed(global_seed)
        state = torch.get_rng_state()
        runs.append(extract_stats(model, x, seed=3, config=config, summary=_SMALL))
        assert torch.equal(torch.get_rng_state(), state)
    other = extract_stats(model, x, seed=4, config=config, summary=_SMALL)
    assert runs[0].layers and runs[0].layer_names == runs[1].layer_names
    differs = False
    for la, lb, lo in zip(runs[0].layers, runs[1].layers, other.layers, strict=True):
        for name in la:
            assert torch.equal(la[name], lb[name]), name
            differs = differs or not torch.equal(la[name], lo[name])
    assert differs  # the masks come from the seed
