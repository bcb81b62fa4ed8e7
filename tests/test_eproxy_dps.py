"""Discrete Proxy Search: the configuration space, regularised evolution with a planted answer, and the stored,
resumable run on a tiny space whose labels are planted by one configuration."""

from __future__ import annotations

import json
import math
import random

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from archrank.eproxy import EproxyConfig, load_config
from archrank.eproxy.dps import dps_fitness, regularized_evolution, run_dps
from archrank.eproxy.dps_space import DPSSpace
from archrank.eproxy.evaluate import build_seeded, sample_eval_archs, score_archs
from archrank.eproxy.store import EproxyStore
from archrank.spaces import NB201Space
from archrank.store import Store

SMALL_BASE = EproxyConfig(steps=3, size=4, inputs="synthetic", alpha=0.0)
SMALL = DPSSpace(
    lrs=(0.05, 0.5, 1.0),
    alphas=(0.0,),
    branch_numbers=(1, 2),
    head_kernels=(1, 3),
    barrier_kernels=(1, 3),
    channels=(8, 16),
    signals=("wave_h", "dot", "grid"),
    levels=(0.5, 1.0),
    inits=("kaiming_normal", "xavier_uniform"),
    signal_prob=0.4,
    base=SMALL_BASE,
)


class TinyNB201(NB201Space):
    """NB201 cells in a tiny skeleton (C=4, N=1) on 16×16 inputs: milliseconds per Eproxy evaluation."""

    name = "nb201-tiny"

    def build(self, arch, num_classes: int = 10, **kwargs) -> nn.Module:
        return super().build(arch, num_classes=num_classes, C=4, N=1)


def test_space_genotypes_valid_and_seeded() -> None:
    rng_a, rng_b, rng_m = random.Random(3), random.Random(3), random.Random(4)
    for _ in range(20):
        g = SMALL.random_genotype(rng_a)
        assert g == SMALL.random_genotype(rng_b)
        cfg = SMALL.decode(g)
        assert len(cfg.branches) == g["branch_number"]
        assert all(b.signals and b.stage == -(i + 1) for i, b in enumerate(cfg.branches))
        SMALL.decode(SMALL.mutate(g, rng_m, ratio=0.5))
    full = DPSSpace()
    cfg = full.decode(full.random_genotype(random.Random(0)))
    assert cfg.steps == 10 and cfg.lr in full.lrs and cfg.alpha in full.alphas


def test_mutation_leaves_parent_unchanged() -> None:
    g = SMALL.random_genotype(random.Random(1))
    snapshot = repr(g)
    SMALL.mutate(g, random.Random(2), ratio=1.0)
    assert repr(g) == snapshot


def test_evolution_finds_planted_answer() -> None:
    planted = SMALL.random_genotype(random.Random(99))
    target = SMALL.decode(planted)

    def match(config: EproxyConfig, genotype: dict) -> float:
        a, b = config.to_dict(), target.to_dict()
        flat = [a[k] == b[k] for k in a if k != "branches"]
        flat += [len(config.branches) == len(target.branches)]
        for x, y in zip(config.branches, target.branches, strict=False):
            flat += [getattr(x, f) == getattr(y, f) for f in ("signals", "head_kernel", "barrier_kernel",
                                                                "head_channels", "target_channels", "level")]
        return sum(flat) / len(flat)

    history = regularized_evolution(SMALL, match, budget=300, population=20, tournament=5, seed=0)
    initial = max(c.fitness for c in history[:20])
    best = max(c.fitness for c in history)
    assert best > initial
    assert best == 1.0  # the planted configuration itself is found
    again = regularized_evolution(SMALL, match, budget=300, population=20, tournament=5, seed=0)
    assert [c.config.key for c in again] == [c.config.key for c in history]


def test_fitness_ranks_undefined_last() -> None:
    assert dps_fitness([3.0, 2.0, 1.0], [3.0, 2.0, 1.0]) == pytest.approx(1.0)
    assert dps_fitness([3.0, 2.0, math.nan], [3.0, 2.0, 1.0]) == pytest.approx(1.0)
    assert math.isnan(dps_fitness([math.nan, math.nan, 1.0], [1.0, 2.0, 3.0]))


def test_run_dps_planted_resume_and_store(tmp_path) -> None:
    space = TinyNB201()
    archs = [a for a in space.sample_many(40, seed=7) if space.is_valid(a)][:8]
    planted = SMALL.decode(SMALL.random_genotype(random.Random(5)))
    shape_only = torch.zeros(16, 3, 16, 16)  # synthetic inputs take the batch's shape, not its values
    truth = score_archs(space, archs, planted, shape_only, seed=0)
    labelled = [(a, truth[space.key(a)]["value"]) for a in archs]
    db = tmp_path / "r.db"
    kwargs = dict(
        store_path=db, run_name="t", batch=shape_only, dps_space=SMALL, population=4, tournament=2, seed=1,
        progress=False,
    )
    first = run_dps(space, labelled, budget=6, **kwargs)
    assert len(first.history) == 6 and first.labelled == [space.key(a) for a in archs]
    with EproxyStore(db) as store:
        run = store.dps_run("t")
        assert run is not None and [k for k, _ in run["labelled"]] == first.labelled
        assert len(store.dps_history("t")) == 6
    resumed = run_dps(space, labelled, budget=6, **kwargs)  # everything is read back: no re-evaluation
    assert [c.fitness for c in resumed.history] == [c.fitness for c in first.history]
    assert all(c.seconds == 0.0 for c in resumed.history)
    longer = run_dps(space, labelled, budget=16, out=tmp_path / "best.json", **kwargs)
    assert len(longer.history) == 16
    assert longer.best.fitness > max(c.fitness for c in longer.history[:4])  # DPS improves on its random start
    assert longer.best.fitness > 0.8  # the planted ranking is (nearly) recovered
    assert load_config(tmp_path / "best.json") == longer.best.config
    with pytest.raises(ValueError, match="other settings"):
        run_dps(space, labelled[:-1], budget=6, **kwargs)
    with Store(db) as store:  # every proposal is one trial of the one "dps" run, in order
        run_id = store.find_run("dps", "t")
        assert run_id is not None and [t["step"] for t in store.trials(run_id)] == list(range(16))


def test_eval_sample_excludes_labelled() -> None:
    space = TinyNB201()
    labelled = {space.key(a) for a in space.sample_many(20, seed=2210)}
    chosen = sample_eval_archs(space, 50, seed=0, exclude=labelled)
    assert len(chosen) == 50 and not labelled & {space.key(a) for a in chosen}
    assert chosen == sample_eval_archs(space, 50, seed=0, exclude=labelled)
    m1 = build_seeded(space, chosen[0], seed=3)
    m2 = build_seeded(space, chosen[0], seed=3)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True))


def test_cli_commands(tmp_path, monkeypatch) -> None:
    from archrank.bench.truth import Truth
    from archrank.eproxy import cli

    space = TinyNB201()
    archs = space.sample_many(12, seed=2210)
    import pandas as pd

    truth = Truth(pd.Series({space.key(a): float(i) for i, a in enumerate(archs)}), "test", "acc")
    monkeypatch.setattr(cli, "_space", lambda name: space)
    monkeypatch.setattr(cli, "_truth", lambda spec, sp: truth)
    base = tmp_path / "base.json"
    from archrank.eproxy import save_config

    save_config(SMALL_BASE, base)
    db = str(tmp_path / "c.db")
    runner = CliRunner()
    res = runner.invoke(cli.dps_cmd, ["--labelled", "4", "--budget", "3", "--population", "2", "--tournament", "1",
                                      "--base", str(base), "--store", db, "--quiet", "--out", str(tmp_path / "b.json")])
    assert res.exit_code == 0, res.output
    assert "best fitness" in res.output
    # eproxy on the tuned config: its JSON names the 4 labelled archs, which are excluded automatically
    res = runner.invoke(cli.eproxy_cmd, ["--config", str(tmp_path / "b.json"), "--sample", "3", "--store", db,
                                         "--quiet", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["excluded"] == 4 and summary["ok"] == 3
    res = runner.invoke(cli.eproxy_cmd, ["--exclude-dps", "nope", "--data", "synthetic", "--store", db, "--quiet"])
    assert res.exit_code != 0 and "no DPS run" in res.output
