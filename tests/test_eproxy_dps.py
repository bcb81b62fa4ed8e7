"""Discrete Proxy Search: the configuration space (a SearchSpace), the one regularised evolution with a planted
answer, the stored, resumable run on a tiny space whose labels are planted by one configuration, and the robust
selection against the starting configuration."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from archrank import search
from archrank.eproxy import EproxyConfig, load_config
from archrank.eproxy.dps import DPSFitness, dps_fitness, run_dps, select_confident
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
        arch = SMALL.sample(rng_a)
        assert arch == SMALL.sample(rng_b)
        g = SMALL.genotype(arch)
        assert SMALL.from_genotype(g) == arch and SMALL.from_str(SMALL.key(arch)) == arch
        cfg = SMALL.config(arch)
        assert len(cfg.branches) == g["branch_number"]
        assert all(b.signals and b.stage == -(i + 1) for i, b in enumerate(cfg.branches))
        SMALL.config(SMALL.mutate(arch, rng_m))
        assert all(SMALL.config(n) for n in SMALL.neighbours(arch)[:5])
    full = DPSSpace()
    cfg = full.config(full.sample(random.Random(0)))
    assert cfg.steps == 10 and cfg.lr in full.lrs and cfg.alpha in full.alphas
    assert full.size > 10**18 and full.canonical(full.sample(0)) == full.config(full.sample(0)).key


def test_default_preset_is_a_configuration_of_the_space() -> None:
    from archrank.eproxy.presets import resolve_config
    from archrank.spaces import InvalidArchitectureError

    full = DPSSpace()
    default = resolve_config("default")
    assert full.config(full.arch_of(default)) == default
    with pytest.raises(ValueError, match="differs from the DPS space's base"):
        full.arch_of(resolve_config("default-synthetic"))
    with pytest.raises(ValueError, match="lr"):
        SMALL.arch_of(SMALL_BASE)  # lr 1.2 is not among SMALL's choices
    no_signal = list(full.arch_of(default))
    no_signal[5] = 0  # branch 0's only signal family (dot) switched off
    with pytest.raises(InvalidArchitectureError, match="needs a signal family"):
        full.from_decisions(no_signal)


def test_mutation_resamples_genes_and_keeps_branches_valid() -> None:
    arch = SMALL.sample(random.Random(1))
    rng = random.Random(2)
    children = [SMALL.mutate(arch, rng) for _ in range(200)]
    changed = [sum(a != b for a, b in zip(arch, c, strict=True)) for c in children]
    assert 0 < np.mean(changed) < len(arch) / 2  # about mutate_ratio of the genes change
    assert all(SMALL.from_decisions(c) == c for c in children)


def test_evolution_finds_planted_answer() -> None:
    """DPS is the one REA sampler of archrank.search on the DPS space; a planted fitness is found."""
    planted = SMALL.sample(random.Random(99))
    target = SMALL.config(planted)

    def match(arch: tuple) -> tuple[float, float, float]:
        config = SMALL.config(arch)
        a, b = config.to_dict(), target.to_dict()
        flat = [a[k] == b[k] for k in a if k != "branches"]
        flat += [len(config.branches) == len(target.branches)]
        for x, y in zip(config.branches, target.branches, strict=False):
            flat += [getattr(x, f) == getattr(y, f) for f in ("signals", "head_kernel", "barrier_kernel",
                                                                "head_channels", "target_channels", "level")]
        value = sum(flat) / len(flat)
        return value, value, 1.0

    hist = search.run(SMALL, "rea", match, budget=300, population_size=20, sample_size=5, seed=0,
                      until=lambda h: h.best().valid == 1.0)
    initial = max(q.valid for q in hist.queries[:20])
    assert hist.best().valid == 1.0 > initial  # the planted configuration itself is found
    again = search.run(SMALL, "rea", match, budget=len(hist), population_size=20, sample_size=5, seed=0)
    assert again.keys == hist.keys


def test_fitness_ranks_undefined_last() -> None:
    assert dps_fitness([3.0, 2.0, 1.0], [3.0, 2.0, 1.0]) == pytest.approx(1.0)
    assert dps_fitness([3.0, 2.0, math.nan], [3.0, 2.0, 1.0]) == pytest.approx(1.0)
    assert math.isnan(dps_fitness([math.nan, math.nan, 1.0], [1.0, 2.0, 3.0]))


def _planted(space, n_archs: int = 8):
    archs = [a for a in space.sample_many(40, seed=7) if space.is_valid(a)][:n_archs]
    planted = SMALL.config(SMALL.sample(random.Random(5)))
    shape_only = torch.zeros(16, 3, 16, 16)  # synthetic inputs take the batch's shape, not its values
    truth = score_archs(space, archs, planted, shape_only, seed=0)
    return [(a, truth[space.key(a)]["value"]) for a in archs], shape_only


def test_run_dps_planted_resume_and_store(tmp_path) -> None:
    space = TinyNB201()
    labelled, shape_only = _planted(space)
    archs = [a for a, _ in labelled]
    db = tmp_path / "r.db"
    kwargs = dict(
        store_path=db, run_name="t", batch=shape_only, dps_space=SMALL, population=4, tournament=2, seed=1,
        progress=False, start_from=None, select="fittest",
    )
    first = run_dps(space, labelled, budget=6, **kwargs)
    assert len(first.history) == 6 and first.labelled == [space.key(a) for a in archs]
    with EproxyStore(db) as store:
        run = store.dps_run("t")
        assert run is not None and [k for k, _ in run["labelled"]] == first.labelled
        assert len(store.dps_history("t")) == 6
    with Store(db) as store:
        measured = len(store.scores())
    resumed = run_dps(space, labelled, budget=6, **kwargs)  # everything is read back: no re-evaluation
    assert [c.fitness for c in resumed.history] == [c.fitness for c in first.history]
    assert [c.seconds for c in resumed.history] == pytest.approx([c.seconds for c in first.history])
    with Store(db) as store:
        assert len(store.scores()) == measured
    longer = run_dps(space, labelled, budget=16, out=tmp_path / "best.json", **kwargs)
    assert len(longer.history) == 16
    assert longer.best.fitness > max(c.fitness for c in longer.history[:4])  # DPS improves on its random start
    assert longer.best.fitness > 0.8  # the planted ranking is (nearly) recovered
    assert load_config(tmp_path / "best.json") == longer.best.config
    with pytest.raises(ValueError, match="other settings"):
        run_dps(space, labelled[:-1], budget=6, **kwargs)
    with pytest.raises(ValueError, match="other settings"):
        run_dps(space, labelled, budget=6, **{**kwargs, "tournament": 3})
    with Store(db) as store:  # every proposal is one trial of the one "dps" run, in order
        run_id = store.find_run("dps", "t")
        assert run_id is not None and [t["step"] for t in store.trials(run_id)] == list(range(16))
        assert store.run(run_id)["status"] == "done"


def test_dps_starts_from_a_given_config_and_keeps_it_unless_confidently_beaten(tmp_path) -> None:
    space = TinyNB201()
    labelled, shape_only = _planted(space)
    start = SMALL.config(SMALL.sample(random.Random(11)))
    kwargs = dict(store_path=tmp_path / "r.db", batch=shape_only, dps_space=SMALL, population=4, tournament=2,
                  seed=1, progress=False, start_from=start)
    fittest = run_dps(space, labelled, budget=10, run_name="f", select="fittest", **kwargs)
    assert fittest.history[0].config == start  # the first proposal is the starting configuration
    strict = run_dps(space, labelled, budget=10, run_name="s", select="confident", confidence=1.01, **kwargs)
    assert strict.best.config == start and strict.fittest == fittest.best  # nothing can be 101 % sure
    loose = run_dps(space, labelled, budget=10, run_name="l", select="confident", confidence=0.0, **kwargs)
    assert loose.best.config == fittest.best.config  # any fittest finalist passes a 0 % bar
    assert set(loose.win_rates) and all(0.0 <= r <= 1.0 for r in loose.win_rates.values())


def test_bootstrap_selection_prefers_a_clearly_better_config() -> None:
    space = TinyNB201()
    labelled, shape_only = _planted(space)
    oracle = DPSFitness(space, SMALL, labelled, shape_only)
    planted = SMALL.arch_of(SMALL.config(SMALL.sample(random.Random(5))))
    other = SMALL.sample(random.Random(6))
    assert oracle.query(planted).valid == pytest.approx(1.0)
    chosen, rates = select_confident(oracle, [planted], other, confidence=0.5, n_boot=200)
    assert chosen == planted and rates[SMALL.config(planted).key] > 0.5
    kept, _ = select_confident(oracle, [other], planted, confidence=0.5, n_boot=200)
    assert kept == planted


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
    from archrank.cli import eproxy as cli

    space = TinyNB201()
    archs = space.sample_many(12, seed=2210)
    import pandas as pd

    truth = Truth(pd.Series({space.key(a): float(i) for i, a in enumerate(archs)}), "test", "acc")
    monkeypatch.setattr(cli, "resolve_space", lambda name: space)
    monkeypatch.setattr(cli, "load_truth_option", lambda spec, sp: truth)
    base = tmp_path / "base.json"
    from archrank.eproxy import save_config

    save_config(SMALL_BASE, base)
    db = str(tmp_path / "c.db")
    runner = CliRunner()
    res = runner.invoke(cli.dps_cmd, ["--labelled", "4", "--budget", "3", "--population", "2", "--tournament", "1",
                                      "--base", str(base), "--store", db, "--quiet", "--out", str(tmp_path / "b.json")])
    assert res.exit_code == 0, res.output
    assert "chosen config" in res.output
    # eproxy on the tuned config: its JSON names the 4 labelled archs, which are excluded automatically
    res = runner.invoke(cli.eproxy_cmd, ["--config", str(tmp_path / "b.json"), "--sample", "3", "--store", db,
                                         "--quiet", "--out", str(tmp_path / "o")])
    assert res.exit_code == 0, res.output
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["excluded"] == 4 and summary["ok"] == 3
    res = runner.invoke(cli.eproxy_cmd, ["--exclude-dps", "nope", "--data", "synthetic", "--store", db, "--quiet"])
    assert res.exit_code != 0 and "no DPS run" in res.output


def test_finalists_are_fittest_first_when_some_fitness_is_undefined() -> None:
    from archrank.eproxy.dps import _finalists
    from archrank.search.history import History

    hist = History(space=SMALL.name, algorithm="rea", seed=0)
    fitness = [0.3, math.nan, 0.5, 0.1, math.nan, 0.9, 0.2]
    archs = [SMALL.sample(random.Random(i)) for i in range(40)]
    distinct = list({SMALL.canonical(a): a for a in archs}.values())[: len(fitness)]
    for arch, value in zip(distinct, fitness, strict=True):
        hist.append(arch, SMALL.key(arch), value, value, 0.0, 0.0, 0.0)
    got = [hist.queries[[q.arch for q in hist.queries].index(a)].valid for a in _finalists(SMALL, hist, 3)]
    assert got == [0.9, 0.5, 0.3]


def test_cli_too_large_or_empty_sample_is_one_error_line(tmp_path, monkeypatch) -> None:
    from archrank.bench.truth import Truth
    from archrank.cli import eproxy as cli

    space = TinyNB201()
    import pandas as pd

    truth = Truth(pd.Series({space.key(a): 1.0 for a in space.sample_many(4, seed=0)}), "test", "acc")
    monkeypatch.setattr(cli, "resolve_space", lambda name: space)
    monkeypatch.setattr(cli, "load_truth_option", lambda spec, sp: truth)
    db = str(tmp_path / "c.db")
    runner = CliRunner()
    for args in (["--sample", str(len(space) + 1)], ["--sample", "0"]):
        res = runner.invoke(cli.eproxy_cmd, [*args, "--data", "synthetic", "--store", db, "--quiet"])
        assert res.exit_code != 0 and isinstance(res.exception, SystemExit), (args, res.exception)
        assert "Error" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli.dps_cmd, ["--labelled", str(len(space)), "--data", "synthetic", "--store", db, "--quiet"])
    assert res.exit_code != 0 and isinstance(res.exception, SystemExit), res.exception
    assert "Error" in res.output


def test_stored_synthetic_scores_are_kept_apart_by_input_shape(tmp_path) -> None:
    space = TinyNB201()
    archs = space.sample_many(2, seed=3)
    small, large = torch.zeros(16, 3, 8, 8), torch.zeros(16, 3, 16, 16)  # synthetic inputs take the batch's shape
    fresh = score_archs(space, archs, SMALL_BASE, large, seed=0)
    with EproxyStore(tmp_path / "s.db") as store:
        score_archs(space, archs, SMALL_BASE, small, seed=0, store=store)
        stored = score_archs(space, archs, SMALL_BASE, large, seed=0, store=store)
        again = score_archs(space, archs, SMALL_BASE, None, seed=0, store=store)  # default 3×32×32: its own rows
    for a in archs:
        key = space.key(a)
        assert stored[key]["value"] == fresh[key]["value"]  # not the 8×8 result read back
        assert again[key]["value"] != fresh[key]["value"]
