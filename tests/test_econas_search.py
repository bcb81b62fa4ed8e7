"""EcoNAS hierarchical-proxy search on a table oracle (planted best architecture), the flat baseline, and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from archrank.econas.cli import consistency_cmd, econas_search_cmd, train_cmd
from archrank.econas.hierarchical import (
    HierarchicalConfig,
    TableOracle,
    flat_evolution,
    hierarchical_search,
    on_grid,
)
from archrank.econas.setting import parse_setting

PLANTED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"
TIERS = ("c0r0s0e20", "c0r0s0e40", "c0r0s0e60")


@pytest.fixture(scope="module")
def planted_table(nb201) -> pd.DataFrame:
    """Smooth landscape: 50 + 5 × (edges agreeing with the planted cell); the planted cell itself scores 95."""
    target = nb201.parse(PLANTED).ops
    keys, acc = [], []
    for arch in nb201.enumerate():
        keys.append(nb201.key(arch))
        acc.append(50.0 + 5.0 * sum(a == b for a, b in zip(arch.ops, target, strict=True)))
    frame = pd.DataFrame({"cifar10_test_acc": acc, "cifar10valid_train_time_200ep_s": 200.0}, index=keys)
    frame.loc[PLANTED, "cifar10_test_acc"] = 95.0
    return frame


class RecordingOracle:
    """Noise-free oracle (accuracy = table value) that records every (arch key, tier, from_tier) asked."""

    def __init__(self, space, table: pd.DataFrame) -> None:
        self.inner = TableOracle(space, table, tiers=TIERS, noise_at_ref=0.0)
        self.tiers = self.inner.tiers
        self.space = space
        self.calls: list[tuple[str, int, int | None]] = []

    def evaluate(self, arch, tier, from_tier=None):
        self.calls.append((self.space.key(arch), tier, from_tier))
        return self.inner.evaluate(arch, tier, from_tier)

    def true_accuracy(self, arch):
        return self.inner.true_accuracy(arch)


def test_hierarchical_search_finds_the_planted_best(nb201, planted_table) -> None:
    oracle = TableOracle(nb201, planted_table, tiers=TIERS, seed=0, noise_at_ref=0.05)
    trace = hierarchical_search(nb201, oracle, budget=40 * 400.0, seed=0)
    assert nb201.key(trace.pick) == PLANTED
    assert trace.true_accuracy[-1] == 95.0
    assert trace.promotions > 0 and trace.evaluations[2] > 0
    assert trace.evaluations[0] > trace.evaluations[1] >= trace.evaluations[2]
    assert np.all(np.diff(trace.costs) > 0) and trace.costs[-1] >= 40 * 400.0


def test_promotions_climb_one_tier_at_a_time_and_pay_extra_epochs(nb201, planted_table) -> None:
    oracle = RecordingOracle(nb201, planted_table)
    config = HierarchicalConfig(initial=10, tier_capacity=(20, 6, 4), promote_every=3, promote_top=2)
    trace = hierarchical_search(nb201, oracle, budget=3000.0, config=config, seed=1)
    reached: dict[str, int] = {}
    for key, tier, from_tier in oracle.calls:
        if tier == 0:
            assert from_tier is None
        else:
            assert from_tier == tier - 1 and reached.get(key, -1) >= tier - 1
        reached[key] = max(reached.get(key, -1), tier)
    assert trace.promotions == sum(1 for _, tier, _ in oracle.calls if tier > 0)
    # each tier-0 training costs 20 epochs x 1 s, each promotion the extra 20 epochs: 20 s per call
    assert trace.costs[-1] == pytest.approx(20.0 * len(oracle.calls))
    # noise-free oracle, nothing dropped yet: the first promoted is the best tier-0 member so far
    first = next(i for i, (_, tier, _) in enumerate(oracle.calls) if tier == 1)
    assert first == config.initial + config.promote_every
    acc = planted_table["cifar10_test_acc"]
    assert acc[oracle.calls[first][0]] == max(acc[key] for key, _, _ in oracle.calls[:first])


def test_table_oracle_costs_and_noise(nb201, planted_table) -> None:
    oracle = TableOracle(nb201, planted_table, tiers=("c0r0s0e20", "c0r0s0e40", "c4r4s0e40"), seed=3)
    arch = nb201.parse(PLANTED)
    assert oracle.evaluate(arch, 0)[1] == pytest.approx(20.0)
    assert oracle.evaluate(arch, 1)[1] == pytest.approx(40.0)
    assert oracle.evaluate(arch, 1, from_tier=0)[1] == pytest.approx(20.0)
    assert oracle.evaluate(arch, 2, from_tier=1)[1] == pytest.approx(40.0 / 256)  # other reductions: retrain
    assert oracle.sigma(20) > oracle.sigma(40) > oracle.sigma(200) == pytest.approx(0.3)
    draws = [oracle.evaluate(arch, 0)[0] for _ in range(200)]
    assert np.std(draws) > 0.5 and abs(np.mean(draws) - 95.0) < 3 * oracle.sigma(20)
    with pytest.raises(ValueError, match="persistence"):
        TableOracle(nb201, planted_table, persistence=2.0)


def test_flat_evolution_trains_every_child_at_the_top_tier(nb201, planted_table) -> None:
    oracle = RecordingOracle(nb201, planted_table)
    trace = flat_evolution(nb201, oracle, budget=60 * 300.0, seed=0)
    assert {tier for _, tier, _ in oracle.calls} == {2}
    assert trace.costs[-1] == pytest.approx(60.0 * len(oracle.calls))
    assert trace.true_accuracy[-1] >= 85.0
    grid = np.array([10.0, 60.0, 600.0, 1e9])
    values = on_grid(trace, grid)
    assert np.isnan(values[0]) and values[-1] == trace.true_accuracy[-1]


def test_hierarchical_config_must_match_the_tiers(nb201, planted_table) -> None:
    oracle = TableOracle(nb201, planted_table, tiers=TIERS)
    with pytest.raises(ValueError, match="one entry per tier"):
        hierarchical_search(nb201, oracle, 100.0, HierarchicalConfig(tier_capacity=(5, 5)))
    assert parse_setting(TIERS[-1]).epochs == 60


def test_trainer_oracle_drives_the_search_with_real_trainings(nb201) -> None:
    from archrank.econas import RawData, Recipe, TrainerOracle

    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    images = rng.integers(0, 256, size=(40, 3, 8, 8)).astype(np.uint8)
    data = RawData.from_arrays((images, labels), (images[:10], labels[:10]), num_classes=2)
    oracle = TrainerOracle(nb201, ("c2r2s1e1", "c2r2s1e2"), data, truth={PLANTED: 94.0},
                           recipe=Recipe(batch_size=16), build_kwargs={"N": 1}, width_kwarg={"C": 8})
    accuracy, seconds = oracle.evaluate(nb201.parse(PLANTED), 1, from_tier=0)
    assert 0.0 <= accuracy <= 100.0 and seconds > 0
    assert oracle.true_accuracy(nb201.parse(PLANTED)) == 94.0 and np.isnan(oracle.true_accuracy(nb201.from_index(0)))
    config = HierarchicalConfig(initial=2, tier_capacity=(4, 2), tier_weights=(1.0, 1.0), promote_every=1,
                                promote_top=1)
    _, one = oracle.evaluate(nb201.from_index(0), 0)  # warm: the first training pays one-time set-up
    trace = hierarchical_search(nb201, oracle, budget=4 * one, config=config, seed=0)
    assert trace.evaluations[0] >= 2 and np.all(np.diff(trace.costs) > 0)


# --- command line ---------------------------------------------------------------------------------------------
def test_econas_search_command(nb201_csv, tmp_path) -> None:
    result = CliRunner().invoke(econas_search_cmd, ["--seeds", "2", "--budget-hours", "3", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "hierarchical" in result.output and "SIMULATED" in result.output
    assert (tmp_path / "hierarchical.png").is_file() and (tmp_path / "hierarchical.csv").is_file()


def test_train_command(data_root, tmp_path) -> None:
    store = tmp_path / "r.sqlite"
    args = ["0", "--setting", "c8r8s4e1", "--threads", "1", "--store", str(store)]
    result = CliRunner().invoke(train_cmd, args)
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output and "{'C': 2}" in result.output and "resolution         4" in result.output
    bad = CliRunner().invoke(train_cmd, ["0", "--setting", "c8r8e1"])
    assert bad.exit_code != 0 and "malformed EcoNAS setting" in bad.output


def test_consistency_command_resumes(data_root, tmp_path) -> None:
    args = ["--sample", "4", "--settings", "c8r8s4e1,c8r8s3e1", "--threads", "1", "--quiet",
            "--store", str(tmp_path / "r.sqlite"), "--out", str(tmp_path)]
    first = CliRunner().invoke(consistency_cmd, args)
    assert first.exit_code == 0, first.output
    assert "8 new trainings" in first.output and "c8r8s3e1" in first.output and "spearman" in first.output
    assert (tmp_path / "consistency.png").is_file()
    again = CliRunner().invoke(consistency_cmd, args)
    assert again.exit_code == 0 and "0 new trainings" in again.output
