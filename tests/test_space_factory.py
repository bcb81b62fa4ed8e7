"""FactorySpace: a user's own model factory as a search space, end to end (define, register, score, evaluate)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import archrank
from archrank import spaces
from archrank.bench.evaluate import evaluate
from archrank.bench.truth import load_truth
from archrank.data import load_batch
from archrank.runner import score_space
from archrank.search import run as search_run
from archrank.spaces import FactorySpace, InvalidArchitectureError, get_space, register_space
from archrank.store import Store

DECISIONS = {"depth": [1, 2, 3], "width": [8, 16], "act": ["relu", "gelu"]}


def make_net(depth: int, width: int, act: str, num_classes: int) -> nn.Module:
    layers: list[nn.Module] = []
    c_in = 3
    for _ in range(depth):
        activation = nn.ReLU() if act == "relu" else nn.GELU()
        layers += [nn.Conv2d(c_in, width, 3, padding=1), nn.BatchNorm2d(width), activation]
        c_in = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, num_classes))


def make_space(truth_csv: Path | None = None) -> FactorySpace:
    return FactorySpace("test-factory", DECISIONS, make_net, num_classes=5, truth_csv=truth_csv,
                        constraint=lambda c: not (c["depth"] == 3 and c["width"] == 16))


@pytest.fixture
def registered(tmp_path: Path) -> Iterator[tuple[FactorySpace, Path]]:
    space = make_space()
    results = tmp_path / "my_results.csv"
    archs = list(space.enumerate())
    # The user's own "trained" results: a made-up accuracy that grows with depth and width.
    accuracy = [50 + 10 * space.choices(a)["depth"] + space.choices(a)["width"] / 4 for a in archs]
    pd.DataFrame({"arch": [space.to_str(a) for a in archs], "accuracy": accuracy}).to_csv(results, index=False)
    register_space("test-factory", lambda: make_space(results))
    yield get_space("test-factory"), results
    spaces._SPACE_FACTORIES.pop("test-factory", None)


def test_decisions_constraint_and_names() -> None:
    space = make_space()
    assert space.size == 12 and len(list(space.enumerate())) == 10  # the constraint removes depth 3 × width 16
    arch = space.parse("depth=2,width=16,act=gelu")
    assert arch == (2, 16, "gelu") and space.to_str(arch) == "depth=2,width=16,act=gelu"
    assert space.parse({"depth": 2, "width": 16, "act": "gelu"}) == arch
    with pytest.raises(InvalidArchitectureError, match="constraint"):
        space.parse("depth=3,width=16,act=relu")
    with pytest.raises(ValueError, match="not an option"):
        space.parse("depth=5,width=16,act=relu")
    with pytest.raises(ValueError, match="must set exactly"):
        space.parse("depth=2,width=16")
    for seed in range(30):
        sampled = space.sample(seed)
        assert not (sampled[0] == 3 and sampled[1] == 16)
        assert all(not (n[0] == 3 and n[1] == 16) for n in space.neighbours(sampled))
    assert space.encode(arch).shape == (7,)
    model = space.build(arch)
    assert model(torch.zeros(2, 3, 32, 32)).shape == (2, 5)


def test_factory_space_end_to_end(registered: tuple[FactorySpace, Path]) -> None:
    space, _ = registered
    assert "test-factory" in archrank.list_spaces()
    archs = space.sample_many(6, seed=0)
    batch = load_batch("synthetic", batch_size=8, seed=0)
    one = archrank.score(space.build(archs[0]), ["params", "synflow"], batch=(batch.x, batch.y), seed=0)
    assert one["params"] == sum(p.numel() for p in space.build(archs[0]).parameters())
    with Store(":memory:") as store:
        summary = score_space(space, archs, ["params", "nwot"], store, (batch.x, batch.y),
                              batch_hash=batch.content_hash, num_classes=space.num_classes, progress=False)
        assert "ok" in str(summary)
        table = store.score_table(space.name)
    assert sorted(table.index) == sorted(space.key(a) for a in archs)
    truth = load_truth("auto", space)
    assert "my_results.csv" in truth.source
    result = evaluate(table, truth.values, truth_name=truth.source, n_boot=10, label_repeats=2,
                      learned_models=(), label_ks=())
    rho = result.metrics.loc["params", "spearman"]
    truth_rho = pd.Series(table["params"]).corr(truth.values.reindex(table.index), method="spearman")
    assert np.isclose(rho, truth_rho)


def test_factory_space_searches(registered: tuple[FactorySpace, Path]) -> None:
    space, results = registered
    accuracy = dict(pd.read_csv(results).itertuples(index=False))

    def oracle(arch: tuple) -> tuple[float, float]:
        value = float(accuracy[space.to_str(arch)])
        return value, value

    hist = search_run(space, algorithm="rea", oracle=oracle, budget=6, seed=0, progress=False)
    assert len(hist.queries) == 6
    assert all(space.parse(space.to_str(q[0])) == q[0] for q in hist.queries)
