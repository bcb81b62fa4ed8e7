"""EcoNAS's hierarchy as a policy over an oracle's fidelities on the one REA sampler (planted best architecture),
the flat baseline, the real-fidelity NB201 oracle, real reduced training as an oracle, and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from archrank import search
from archrank.cli.econas import consistency_cmd, econas_search_cmd, train_cmd
from archrank.econas.compare import compare_searches, real_fidelity_methods, summarize
from archrank.econas.hierarchical import HierarchicalConfig, flat_evolution, hierarchical_search, on_grid
from archrank.search.oracles import Fidelity, OracleResult, TableOracle

PLANTED = "|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(scope="module")
def planted_table(nb201) -> pd.DataFrame:
    """Smooth landscape: 50 + 5 × (edges agreeing with the planted cell); the planted cell itself scores 95. The
    cheap fidelity sees it through a fixed per-cell distortion (its rank is blurred, as a short training's is)."""
    target = nb201.parse(PLANTED).ops
    keys, acc = [], []
    for arch in nb201.enumerate():
        keys.append(nb201.key(arch))
        acc.append(50.0 + 5.0 * sum(a == b for a, b in zip(arch.ops, target, strict=True)))
    frame = pd.DataFrame({"acc": acc, "time": 200.0}, index=keys)
    frame.loc[PLANTED, "acc"] = 95.0
    frame["acc_short"] = frame["acc"] * 0.8 + np.random.default_rng(0).normal(0.0, 2.0, len(frame))
    return frame


def two_fidelities(nb201, table: pd.DataFrame) -> TableOracle:
    return TableOracle(table, "acc", "acc", space=nb201, fidelities=(
        Fidelity("short", "acc_short", "time", 0.1), Fidelity("full", "acc", "time", 1.0)))


class RecordingOracle(search.Oracle):
    """Wraps an oracle and records every (arch key, fidelity level) asked."""

    def __init__(self, inner: TableOracle) -> None:
        self.inner, self.fidelities, self.calls = inner, inner.fidelities, []

    def query(self, arch, fidelity=None) -> OracleResult:
        self.calls.append((self.inner.key_of(arch), self.level(fidelity)))
        return self.inner.query(arch, fidelity)


def test_table_oracle_fidelities_and_costs(nb201, planted_table) -> None:
    oracle = two_fidelities(nb201, planted_table)
    arch = nb201.parse(PLANTED)
    assert oracle.fidelities == ("short", "full") and oracle.level(None) == 1 and oracle.level("short") == 0
    short, full = oracle.query(arch, "short"), oracle.query(arch)
    assert short.cost_s == pytest.approx(20.0) and full.cost_s == pytest.approx(200.0)
    assert full.valid == 95.0 and short.test == full.test == 95.0  # the most faithful test value is reported
    assert short.valid == pytest.approx(planted_table.loc[PLANTED, "acc_short"])
    with pytest.raises(ValueError, match="unknown fidelity 'mid'"):
        oracle.query(arch, "mid")
    with pytest.raises(ValueError, match="fidelity names must be distinct"):
        TableOracle(planted_table, "acc", "acc", fidelities=(Fidelity("a", "acc"), Fidelity("a", "acc_short")))


def test_hierarchical_search_finds_the_planted_best(nb201, planted_table) -> None:
    oracle = RecordingOracle(two_fidelities(nb201, planted_table))
    hist = hierarchical_search(nb201, oracle, max_cost=400 * 200.0, seed=0)
    assert hist.keys[hist.best_index()] == PLANTED and hist.best().test == 95.0
    levels = np.array(hist.levels)
    assert 0 < (levels == 1).sum() < (levels == 0).sum()
    assert np.all(np.diff([q.cumulative_cost_s for q in hist.queries]) > 0) and hist.total_cost_s >= 400 * 200.0
    assert hist.levels[hist.best_index()] == 1  # the pick comes from the highest fidelity reached


def test_promotions_climb_one_level_and_pay_the_next_fidelity(nb201, planted_table) -> None:
    oracle = RecordingOracle(two_fidelities(nb201, planted_table))
    config = HierarchicalConfig(initial=10, tier_capacity=(20, 6), promote_every=3, promote_top=2)
    hist = hierarchical_search(nb201, oracle, max_cost=3000.0, config=config, seed=1)
    first = next(i for i, (_, level) in enumerate(oracle.calls) if level == 1)
    assert first == config.initial + config.promote_every  # after 10 initial + 3 children
    short = planted_table["acc_short"]
    seen = [key for key, _ in oracle.calls[:first]]
    assert short[oracle.calls[first][0]] == max(short[k] for k in seen)  # the best at the cheap level goes up
    assert all(level == 0 or any(k == key and lv == 0 for k, lv in oracle.calls) for key, level in oracle.calls)
    expected = sum(20.0 if level == 0 else 200.0 for _, level in oracle.calls)
    assert hist.total_cost_s == pytest.approx(expected)


def test_the_hierarchy_resumes_like_any_search(nb201, planted_table, tmp_path) -> None:
    oracle = two_fidelities(nb201, planted_table)
    first = hierarchical_search(nb201, oracle, max_cost=2000.0, seed=3, store=tmp_path / "r.db", run_name="h")
    again = hierarchical_search(nb201, oracle, max_cost=4000.0, seed=3, store=tmp_path / "r.db", run_name="h")
    assert again.resumed == len(first) and again.keys[: len(first)] == first.keys
    assert again.levels[: len(first)] == first.levels
    alone = hierarchical_search(nb201, oracle, max_cost=4000.0, seed=3)
    assert alone.keys == again.keys and alone.levels == again.levels


def test_flat_evolution_trains_every_child_at_one_fidelity(nb201, planted_table) -> None:
    oracle = RecordingOracle(two_fidelities(nb201, planted_table))
    hist = flat_evolution(nb201, oracle, max_cost=60 * 200.0, seed=0)
    assert {level for _, level in oracle.calls} == {1}
    assert hist.total_cost_s == pytest.approx(200.0 * len(oracle.calls))
    assert hist.best().test > np.mean([q.test for q in hist.queries[:20]]) + 10.0  # evolution beats its start
    cheap = flat_evolution(nb201, RecordingOracle(two_fidelities(nb201, planted_table)), 600.0, fidelity="short")
    assert set(cheap.levels) == {0} and len(cheap) == 30
    values = on_grid(hist, np.array([10.0, 600.0, 1e9]))
    assert np.isnan(values[0]) and values[-1] == hist.incumbent()[1][-1]


def test_comparison_reads_every_method_on_one_cost_grid(nb201, planted_table) -> None:
    oracle = two_fidelities(nb201, planted_table)
    proxy = search.TableScorer(nb201, planted_table["acc"], name="planted", seconds=1.0)
    methods = real_fidelity_methods(nb201, oracle, 8000.0, zero_cost=proxy, warmup=50,
                                    config=HierarchicalConfig(initial=5))
    assert len(methods) == 5
    frame = compare_searches(methods, [0, 1], 8000.0, grid_points=5)
    assert len(frame) == 5 * 2 * 5 and {"queries short", "queries full"} <= set(frame.columns)
    summary = summarize(frame)
    final = summary[summary["cost"] == 8000.0].set_index("method")
    guided, plain = final.loc["REA @ full + planted warmup & move", "median"], final.loc["REA @ full", "median"]
    assert guided >= 90.0 and guided > plain  # the proxy is the truth here: guidance climbs straight up
    assert final.loc["REA @ short", "queries full"] == 0


def test_hierarchical_config_must_match_the_levels(nb201, planted_table) -> None:
    oracle = two_fidelities(nb201, planted_table)
    with pytest.raises(ValueError, match="one entry per fidelity level"):
        hierarchical_search(nb201, oracle, 100.0, HierarchicalConfig(tier_capacity=(5, 5, 5)))


def test_nb201_real_fidelities(nb201, data_root) -> None:
    path = data_root / "nb201" / "nb201_cifar10_12epoch.csv"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    oracle = TableOracle.nb201_fidelities(nb201)
    arch = nb201.from_index(1)
    short, full = oracle.query(arch, "12ep"), oracle.query(arch, "200ep")
    assert short.valid == pytest.approx(82.834) and short.cost_s == pytest.approx(full.cost_s * 12 / 200)
    assert short.test == full.test and len(oracle) == 15625


def test_training_oracle_drives_the_hierarchy_with_real_trainings(nb201, tmp_path) -> None:
    from archrank.econas import RawData, Recipe, training_oracle

    rng = np.random.default_rng(0)
    labels = np.arange(40) % 2
    images = rng.integers(0, 256, size=(40, 3, 8, 8)).astype(np.uint8)
    data = RawData.from_arrays((images, labels), (images[:10], labels[:10]), num_classes=2)
    oracle = training_oracle(nb201, ("c2r2s1e1", "c2r2s1e2"), data, truth={PLANTED: 94.0}, store=tmp_path / "t.db",
                             recipe=Recipe(batch_size=16), build_kwargs={"N": 1}, width_kwarg={"C": 8})
    assert oracle.fidelities == ("c2r2s1e1", "c2r2s1e2")
    result = oracle.query(nb201.parse(PLANTED), 1)
    assert 0.0 <= result.valid <= 100.0 and result.cost_s > 0 and result.test == 94.0
    assert np.isnan(oracle.query(nb201.from_index(0), 0).test)  # not in the truth table: NaN, never made up
    config = HierarchicalConfig(initial=2, tier_capacity=(4, 2), promote_every=1, promote_top=1)
    hist = search.run(nb201, search.HierarchicalEvolution, oracle, budget=4, seed=0, **config.kwargs())
    assert hist.levels == [0, 0, 0, 1] and np.all(np.diff([q.cumulative_cost_s for q in hist.queries]) > 0)
    again = oracle.query(nb201.parse(PLANTED), 1)  # cached in the store: same result, charged its seconds
    assert again == result


# --- command line ---------------------------------------------------------------------------------------------
def test_econas_search_command(nb201_csv, data_root, tmp_path) -> None:
    if not (data_root / "nb201" / "nb201_cifar10_12epoch.csv").is_file():
        pytest.skip("the NB201 12-epoch table is missing")
    result = CliRunner().invoke(econas_search_cmd, ["--seeds", "2", "--budget-hours", "2", "--warmup", "100",
                                                    "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "hierarchical (12ep -> 200ep)" in result.output and "REAL fidelities" in result.output
    assert (tmp_path / "search_real_fidelities.png").is_file()
    bad = CliRunner().invoke(econas_search_cmd, ["--seeds", "0"])
    assert bad.exit_code != 0 and "--seeds >= 1" in bad.output


def test_econas_search_on_real_trainings(nb201_csv, data_root, tmp_path) -> None:
    """--tiers runs the same comparison on real reduced trainings, cached in --store: a second run trains nothing
    and reproduces the first one exactly."""
    from archrank.econas.store import TrainingStore

    if not (data_root / "nb201" / "nb201_cifar10_12epoch.csv").is_file():
        pytest.skip("the NB201 12-epoch table is missing")
    store = tmp_path / "t.db"
    args = ["--seeds", "1", "--tiers", "c8r8s4e1,c8r4s4e1", "--budget-seconds", "2", "--warmup", "50",
            "--proxy-seconds", "0.01", "--store", str(store)]
    first = CliRunner().invoke(econas_search_cmd, [*args, "--out", str(tmp_path / "a")])
    assert first.exit_code == 0, first.output
    assert "hierarchical (c8r8s4e1 -> c8r4s4e1)" in first.output and "REAL reduced trainings" in first.output
    with TrainingStore(store) as view:
        trained = len(view.results())
    assert trained >= 5  # at least one training per method
    second = CliRunner().invoke(econas_search_cmd, [*args, "--out", str(tmp_path / "b")])
    assert second.exit_code == 0, second.output
    with TrainingStore(store) as view:
        assert len(view.results()) == trained  # everything came from the store
    a = pd.read_csv(tmp_path / "a" / "search_training_oracle.csv")
    b = pd.read_csv(tmp_path / "b" / "search_training_oracle.csv")
    pd.testing.assert_frame_equal(a, b)
    assert (tmp_path / "a" / "search_training_oracle.png").is_file()
    bad = CliRunner().invoke(econas_search_cmd, ["--tiers", "c8r8s4e1,c8r4s4e1"])
    assert bad.exit_code != 0 and "go together" in bad.output


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
