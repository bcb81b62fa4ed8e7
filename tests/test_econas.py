"""EcoNAS reduced training: settings, the reduction factors, the trainer, the store and the consistency tools."""

from __future__ import annotations

import dataclasses
import math
import time
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from archrank import econas, get_space
from archrank.econas.consistency import consistency_table, pareto_front, train_many
from archrank.econas.data import augment, prepare, resize
from archrank.econas.trainer import (
    ZERO_COST_PAPER_RECIPE,
    ZERO_COST_PAPER_SETTING,
    fit,
    make_optimizer,
    reduced_build_kwargs,
    seeded_model,
    training_setup,
)

TINY_ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|+|skip_connect~0|none~1|nor_conv_1x1~2|"
TINY = {"width_kwarg": {"C": 8}, "build_kwargs": {"N": 1}}
TINY_RECIPE = econas.Recipe(batch_size=32, lr=0.05)


def failing_for(bad_key: str, train_fn, error: Exception):
    """``train_fn`` that raises ``error`` for the architecture ``bad_key``: a failing training, simulated."""

    def train_or_fail(space, arch, *args, **kwargs):
        if space.key(arch) == bad_key:
            raise error
        return train_fn(space, arch, *args, **kwargs)

    return train_or_fail


def colour_task(n_train: int = 240, n_test: int = 90, side: int = 8, seed: int = 0) -> econas.RawData:
    """3 classes told apart by which colour channel is bright (invariant to crops and flips), with noise."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 3
        images = rng.integers(0, 90, size=(n, 3, side, side))
        images[np.arange(n), labels] += 120
        return images.astype(np.uint8), labels

    return econas.RawData.from_arrays(split(n_train), split(n_test), name="colours", num_classes=3)


def cifar_like(n_per_class: tuple[int, ...] = (30, 20, 25, 40), side: int = 32) -> econas.RawData:
    labels = np.concatenate([np.full(n, c) for c, n in enumerate(n_per_class)])
    images = np.random.default_rng(1).integers(0, 256, size=(len(labels), 3, side, side), dtype=np.uint8)
    return econas.RawData.from_arrays((images, labels), (images[:12], labels[:12]), name="fake")


# --- settings ------------------------------------------------------------------------------------------------
def test_parse_setting_factors() -> None:
    s = econas.parse_setting("c4r4s0e60")
    assert (s.c, s.r, s.s, s.e) == (4, 4, 0, 60)
    assert (s.channel_divisor, s.resolution_divisor, s.sample_fraction, s.epochs) == (4, 4, 1.0, 60)
    assert str(s) == "c4r4s0e60" and econas.parse_setting(s) is s
    assert econas.parse_setting(" C2R1S2E5 ").sample_fraction == 0.25
    full = econas.parse_setting("c0r0s0e200")
    assert (full.channel_divisor, full.resolution_divisor) == (1, 1)
    assert s.width(16) == 4 and s.resolution(32) == 8
    assert s.relative_cost() == pytest.approx(1 / 256)
    with pytest.raises(AttributeError):
        s.c = 2  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["", "c4r4s0", "c4r4e10s0", "c-1r4s0e10", "c4r4s0e0", "c4 r4s0e10", "c4r4s0e1.5",
                                 "x4r4s0e10", "c4r4s17e10"])
def test_parse_setting_rejects_malformed(bad: str) -> None:
    with pytest.raises(ValueError) as info:
        econas.parse_setting(bad)
    assert "\n" not in str(info.value) and "setting" in str(info.value).lower()


def test_parse_setting_rejects_non_string() -> None:
    with pytest.raises(ValueError, match="string"):
        econas.parse_setting(460)  # type: ignore[arg-type]


# --- channels --------------------------------------------------------------------------------------------------
def test_channel_factor_scales_nb201_width(nb201) -> None:
    arch = nb201.parse(TINY_ARCH)
    for text, channels in (("c4r4s0e1", (4, 8, 16)), ("c0r4s0e1", (16, 32, 64)), ("c8r4s0e1", (2, 4, 8))):
        kwargs = reduced_build_kwargs(nb201, econas.parse_setting(text))
        model = nb201.build(arch, **kwargs)
        assert model.stage_channels == channels
        assert model.stem[0].out_channels == channels[0]


def test_channel_factor_needs_a_width_parameter_for_unknown_spaces() -> None:
    other = SimpleNamespace(name="other")
    assert reduced_build_kwargs(other, econas.parse_setting("c0r2s0e1")) == {}  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="width_kwarg"):
        reduced_build_kwargs(other, econas.parse_setting("c2r2s0e1"))  # type: ignore[arg-type]
    got = reduced_build_kwargs(other, econas.parse_setting("c2r2s0e1"), {"width": 36})  # type: ignore[arg-type]
    assert got == {"width": 18}


# --- resolution -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "side", "padding"), [("c1r4s0e1", 8, 1), ("c1r0s0e1", 32, 4), ("c1r2s0e1", 16, 2)])
def test_resolution_factor_resizes_train_and_test(text: str, side: int, padding: int) -> None:
    data = prepare(cifar_like(), econas.parse_setting(text), seed=0)
    assert data.train_x.shape[1:] == (3, side, side) and data.test_x.shape[1:] == (3, side, side)
    assert data.padding == padding and data.side == side
    assert float(data.train_x.min()) >= 0.0 and float(data.train_x.max()) <= 1.0


def test_resize_keeps_constant_images_constant() -> None:
    flat = torch.full((2, 3, 32, 32), 128, dtype=torch.uint8)
    assert torch.allclose(resize(flat, 8), torch.full((2, 3, 8, 8), 128 / 255))


# --- samples ----------------------------------------------------------------------------------------------------
def test_sample_factor_draws_a_seeded_balanced_subset() -> None:
    raw = cifar_like((30, 20, 25, 40))  # 115 samples, 4 classes
    half = prepare(raw, econas.parse_setting("c1r1s1e1"), seed=3)
    counts = torch.bincount(half.train_y, minlength=4)
    assert counts.tolist() == [14, 14, 14, 14]  # floor(0.5 * 115 / 4) per class
    again = econas.balanced_subset(raw.train_labels, 0.5, 3, 4)
    other = econas.balanced_subset(raw.train_labels, 0.5, 4, 4)
    assert torch.equal(again, econas.balanced_subset(raw.train_labels, 0.5, 3, 4))
    assert not torch.equal(again, other)
    assert len(torch.unique(again)) == len(again)
    quarter = prepare(raw, econas.parse_setting("c1r1s2e1"), seed=0)
    assert torch.bincount(quarter.train_y, minlength=4).tolist() == [7, 7, 7, 7]
    assert len(prepare(raw, econas.parse_setting("c1r1s0e1"), seed=0).train_y) == 115


def test_small_class_contributes_all_it_has() -> None:
    labels = torch.tensor([0] * 50 + [1] * 3)
    index = econas.balanced_subset(labels, 0.5, 0, 2)
    assert torch.bincount(labels[index]).tolist() == [13, 3]


# --- augmentation -----------------------------------------------------------------------------------------------
def test_augment_crops_are_windows_of_the_padded_image() -> None:
    x = torch.rand(16, 3, 6, 6)
    gen = torch.Generator().manual_seed(0)
    out = augment(x, padding=2, flip=False, generator=gen)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(16):
        windows = [(dy, dx) for dy in range(5) for dx in range(5)]
        found = [(dy, dx) for dy, dx in windows if torch.equal(out[i], padded[i, :, dy : dy + 6, dx : dx + 6])]
        assert found, f"image {i} is not a crop of its padded input"
        offsets.add(found[0])
    assert len(offsets) > 1


def test_augment_flips_some_images_horizontally() -> None:
    x = torch.rand(64, 3, 4, 4)
    out = augment(x, padding=0, flip=True, generator=torch.Generator().manual_seed(1))
    same = [torch.equal(out[i], x[i]) for i in range(64)]
    flipped = [torch.equal(out[i], x[i].flip(2)) for i in range(64)]
    assert all(a or b for a, b in zip(same, flipped, strict=True))
    assert 10 < sum(flipped) < 54


def test_fast_pool_equals_avg_pool_without_padding_counts(nb201) -> None:
    from archrank.econas.trainer import BoxAvgPool3x3, speed_up_pools

    pool = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    for shape in ((2, 3, 1, 1), (2, 3, 2, 2), (4, 5, 8, 8), (2, 3, 7, 5)):
        x = torch.randn(shape)
        torch.testing.assert_close(BoxAvgPool3x3()(x), pool(x))
    arch = nb201.parse("|avg_pool_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|avg_pool_3x3~1|none~2|")
    model = nb201.build(arch, C=4, N=1).eval()
    x = torch.randn(3, 3, 8, 8)
    before = model(x)
    assert speed_up_pools(model) == 9 and speed_up_pools(model) == 0
    torch.testing.assert_close(model(x), before)


# --- training ---------------------------------------------------------------------------------------------------
def test_short_training_learns_a_tiny_task(nb201) -> None:
    raw = colour_task()
    short = econas.train(nb201, TINY_ARCH, "c1r1s0e1", raw, seed=0, recipe=TINY_RECIPE, **TINY)
    result = econas.train(nb201, TINY_ARCH, "c1r1s0e6", raw, seed=0, recipe=TINY_RECIPE, **TINY)
    assert result.final_train_loss < short.final_train_loss
    assert result.final_train_loss < 0.7 * math.log(3)
    assert result.accuracy > 60.0  # chance is 33 %
    assert result.seconds > 0 and result.cpu_seconds > 0
    assert result.width == {"C": 8} and result.resolution == 8 and result.train_samples == 240
    assert result.test_samples == 90 and result.iterations == 6 * 8 and result.epochs == 6
    assert result.num_params == sum(p.numel() for p in nb201.build(nb201.parse(TINY_ARCH), 3, C=8, N=1).parameters())
    assert result.recipe == "|batch_size=32,lr=0.05,N=1,full_C=8"


def test_training_is_deterministic_on_cpu(nb201) -> None:
    raw = colour_task(n_train=60, n_test=30)
    runs = [econas.train(nb201, TINY_ARCH, "c2r2s1e2", raw, seed=5, recipe=TINY_RECIPE, **TINY) for _ in range(2)]
    assert runs[0].accuracy == runs[1].accuracy
    assert runs[0].final_train_loss == runs[1].final_train_loss
    assert runs[0].width == {"C": 4} and runs[0].resolution == 4 and runs[0].train_samples == 30


def test_prepared_data_must_match_the_setting(nb201) -> None:
    data = prepare(colour_task(), econas.parse_setting("c1r1s0e1"))
    with pytest.raises(ValueError, match="prepared"):
        econas.train(nb201, TINY_ARCH, "c1r2s0e1", data, recipe=TINY_RECIPE, **TINY)


# --- store, train_many, scorer ------------------------------------------------------------------------------
def test_store_round_trip_and_idempotence(nb201) -> None:
    result = econas.train(nb201, TINY_ARCH, "c2r2s1e1", colour_task(60, 30), recipe=TINY_RECIPE, **TINY)
    with econas.TrainingStore(":memory:") as store:
        assert store.put(result) and not store.put(result)
        back = store.get(*result.key)
        assert back == result
        assert store.done("nb201", "c2r2s1e1" + result.recipe, 0, result.data) == {result.arch_key}
        assert store.get("nb201", result.arch_key, "c2r2s1e1", 0, result.data) is None  # other variant
        assert len(store.results(space="nb201")) == 1
        wide = store.score_table("nb201")
        assert list(wide.columns) == ["econas_c2r2s1e1" + result.recipe]
        assert wide.loc[result.arch_key].iloc[0] == result.accuracy


def test_a_gpu_training_does_not_stand_in_for_a_cpu_one(nb201) -> None:
    """A merged store holds CPU and GPU (mixed-precision) trainings of one key; each device resumes its own."""
    raw = colour_task(60, 30)
    result = econas.train(nb201, TINY_ARCH, "c2r2s1e1", raw, recipe=TINY_RECIPE, **TINY)
    on_gpu = dataclasses.replace(result, device="cuda:0", accuracy=result.accuracy + 1.0)
    with econas.TrainingStore(":memory:") as store:
        assert store.put(on_gpu)
        key = ("nb201", "c2r2s1e1" + result.recipe, 0, result.data)
        assert store.done(*key, device="cuda") == {result.arch_key}
        assert store.done(*key, device="cpu") == set()
        assert store.done(*key) == {result.arch_key}  # no device given: any device
        assert train_many(nb201, [nb201.parse(TINY_ARCH)], ["c2r2s1e1"], raw, store, recipe=TINY_RECIPE,
                          progress=False, **TINY) == 1
        frame = store.results(space="nb201")
    assert sorted(frame["device"]) == ["cpu", "cuda:0"]


def test_a_saved_trainings_table_rebuilds_the_store(nb201, tmp_path) -> None:
    """save_trainings -> archrank merge FILE.csv gives back every training (a recipe variant, a GPU row and a NaN
    accuracy included), keeps what is already there, and refuses a table that is not one in one line."""
    from click.testing import CliRunner

    from archrank.cli import main
    from archrank.econas.store import result_from_row, save_trainings

    result = econas.train(nb201, TINY_ARCH, "c2r2s1e1", colour_task(60, 30), recipe=TINY_RECIPE, **TINY)
    others = [dataclasses.replace(result, device="cuda:0", accuracy=result.accuracy + 1.0),
              dataclasses.replace(result, arch_key=nb201.key(nb201.from_index(7)), accuracy=math.nan)]
    source = tmp_path / "source.sqlite"
    with econas.TrainingStore(source) as store:
        assert all(store.put(r) for r in (result, *others))
        original = store.results()
    csv = save_trainings(original, tmp_path / "trainings.csv")
    rebuilt = tmp_path / "rebuilt.sqlite"
    with econas.TrainingStore(rebuilt) as store:
        assert store.put(result)  # already here: kept, not duplicated
    out = CliRunner().invoke(main, ["merge", str(csv), "--store", str(rebuilt)])
    assert out.exit_code == 0, out.output
    assert "2 new trainings, 1 already here" in out.output
    with econas.TrainingStore(rebuilt) as store:
        back = store.results()
        here = back[(back["arch_key"] == result.arch_key) & (back["device"] == result.device)]
        assert len(here) == 1 and result_from_row(here.iloc[0]) == result
        assert store.put_frame(original) == (0, 3)  # idempotent
    back, original = (f.sort_values(["arch_key", "device"], ignore_index=True) for f in (back, original))
    columns = [c for c in original.columns if c != "created_at"]
    pd.testing.assert_frame_equal(back[columns], original[columns])
    merged = back["arch_key"].ne(result.arch_key) | back["device"].ne(result.device)
    assert merged.sum() == 2  # when each merged training was made, not when it was merged
    assert back.loc[merged, "created_at"].tolist() == original.loc[merged, "created_at"].tolist()
    assert back["accuracy"].isna().sum() == 1  # NaN stays NaN
    with econas.TrainingStore(":memory:") as store:  # an older table without width and recipe columns
        assert store.put_frame(original.drop(columns=["width", "recipe"])) == (3, 0)
        assert store.get(*result.key).width == {} and store.get(*result.key).recipe == result.recipe
    with econas.TrainingStore(":memory:") as store:  # without when they were made: the time of the merge
        before = time.time()
        assert store.put_frame(original.drop(columns=["created_at"])) == (3, 0)
        assert (store.results()["created_at"] >= before).all()
    with econas.TrainingStore(":memory:") as store:  # ... and without the stack size: not recorded, not made up
        assert store.put_frame(original.drop(columns=["stack"])) == (3, 0)
        assert store.get(*result.key).stack is None and store.results()["stack"].isna().all()
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"space": ["nb201"]}).to_csv(bad, index=False)
    out = CliRunner().invoke(main, ["merge", str(bad), "--store", str(rebuilt)])
    assert out.exit_code != 0 and "not a trainings table" in out.output and len(out.output.strip().splitlines()) == 1


def test_train_many_resumes_after_interruption(nb201, tmp_path) -> None:
    raw = colour_task(60, 30)
    archs = [nb201.parse(TINY_ARCH), nb201.from_index(1)]
    settings = ["c2r2s1e1", "c4r2s1e1"]
    path = tmp_path / "runs.sqlite"

    def stop(result: econas.TrainResult) -> None:
        raise KeyboardInterrupt

    with econas.TrainingStore(path) as store, pytest.raises(KeyboardInterrupt):
        train_many(nb201, archs, settings, raw, store, recipe=TINY_RECIPE, progress=False, on_result=stop, **TINY)
    with econas.TrainingStore(path) as store:
        assert len(store.results()) == 1
        assert train_many(nb201, archs, settings, raw, store, recipe=TINY_RECIPE, progress=False, **TINY) == 3
        assert train_many(nb201, archs, settings, raw, store, recipe=TINY_RECIPE, progress=False, **TINY) == 0
        frame = store.results(space="nb201")
    assert len(frame) == 4 and set(frame["resolution"]) == {4}


def test_a_failing_training_is_recorded_with_its_reason_and_the_run_goes_on(nb201, monkeypatch, tmp_path) -> None:
    """A training that raises (here: out of memory on one cell) is stored as failed with the reason, the other
    architectures still train, and the next run trains the failed one and replaces the failure."""
    from archrank.econas import keeper

    raw = colour_task(60, 30)
    archs = [nb201.parse(TINY_ARCH), nb201.from_index(1)]
    bad = nb201.key(archs[0])
    flaky = failing_for(bad, keeper.train, RuntimeError("out of memory (simulated)"))
    path = tmp_path / "runs.sqlite"
    with econas.TrainingStore(path) as store:
        with monkeypatch.context() as patch:
            patch.setattr(keeper, "train", flaky)
            assert train_many(nb201, archs, ["c2r2s1e1"], raw, store, recipe=TINY_RECIPE, progress=False,
                              **TINY) == 1
        failures = store.failures(space="nb201")
        assert failures[["arch_key", "seed"]].values.tolist() == [[bad, 0]]
        assert failures["error"].iloc[0] == "RuntimeError: out of memory (simulated)"
        assert failures["setting"].iloc[0].startswith("c2r2s1e1|")  # the recipe tag, as results are keyed
        assert store.results(space="nb201")["arch_key"].tolist() == [nb201.key(archs[1])]
        assert train_many(nb201, archs, ["c2r2s1e1"], raw, store, recipe=TINY_RECIPE, progress=False, **TINY) == 1
        assert store.failures().empty
        assert sorted(store.results(space="nb201")["arch_key"]) == sorted(nb201.key(a) for a in archs)


def test_consistency_command_reports_failed_trainings(data_root, monkeypatch, tmp_path) -> None:
    from click.testing import CliRunner

    from archrank.cli import main
    from archrank.econas import keeper

    if not (data_root / "cifar-10-batches-py").is_dir():
        pytest.skip(f"no CIFAR-10 under {data_root}")
    space = get_space("nb201")
    bad = space.key(space.sample_many(3, seed=0)[1])
    monkeypatch.setattr(keeper, "train", failing_for(bad, keeper.train,
                                                     RuntimeError("CUDA out of memory (simulated)")))
    store = tmp_path / "c.db"
    out = CliRunner().invoke(main, ["consistency", "--sample", "3", "--settings", "c4r8s2e1", "--store", str(store),
                                    "--threads", "1", "--quiet"])
    assert out.exit_code == 0, out.output
    assert (f"1 trainings failed and are left out (recorded with their reasons; the next run tries them again), "
            f"e.g. {bad} under c4r8s2e1: RuntimeError: CUDA out of memory (simulated)") in out.output
    with econas.TrainingStore(store) as training_store:
        assert len(training_store.results(space="nb201")) == 2


def test_scorer_returns_accuracy_and_reuses_the_store(nb201) -> None:
    with econas.TrainingStore(":memory:") as store:
        scorer = econas.ReducedTrainingScorer("c2r2s1e1", colour_task(60, 30), recipe=TINY_RECIPE, store=store, **TINY)
        first = scorer(nb201, TINY_ARCH)
        assert 0.0 <= first <= 100.0 and scorer.seconds > 0 and scorer.name == "econas_c2r2s1e1"
        assert scorer(nb201, TINY_ARCH) == first and scorer.seconds == 0.0
        assert len(scorer.history) == 2 and scorer.higher_is_better
        stored = scorer.history[0]
        on_gpu = dataclasses.replace(stored, arch_key=nb201.key(nb201.from_index(7)), device="cuda:0", accuracy=1.0)
        assert store.put(on_gpu)
        assert store.get(*on_gpu.key) == on_gpu and store.get(*on_gpu.key, device="cuda") == on_gpu
        assert store.get(*on_gpu.key, device="cpu") is None  # a mixed-precision GPU result is not a CPU one
        assert store.get(*stored.key, device="cpu") == stored and store.get(*stored.key, device="cuda:1") is None
        scorer(nb201, nb201.from_index(7))  # so the CPU scorer trains it rather than reading the GPU row
        assert scorer.seconds > 0 and scorer.history[-1].device == "cpu"
        assert len(store.results(space="nb201")) == 3


# --- consistency -----------------------------------------------------------------------------------------------
def test_consistency_table_and_pareto_front() -> None:
    keys = [f"a{i}" for i in range(20)]
    truth = pd.Series(np.linspace(50, 90, 20), index=keys)
    rows = []
    for i, key in enumerate(keys):
        rows.append({"setting": "c4r4s0e10", "arch_key": key, "seed": 0, "accuracy": 10 + i, "seconds": 2.0,
                     "cpu_seconds": 2.0})
        rows.append({"setting": "c8r4s0e5", "arch_key": key, "seed": 0, "accuracy": 30 - i, "seconds": 1.0,
                     "cpu_seconds": 1.0})
    rows.append({"setting": "c8r4s0e5", "arch_key": "a0", "seed": 1, "accuracy": 32, "seconds": 1.0,
                 "cpu_seconds": 1.0})
    table = consistency_table(pd.DataFrame(rows), truth).set_index("setting")
    assert table.loc["c4r4s0e10", "spearman"] == pytest.approx(1.0)
    assert table.loc["c8r4s0e5", "kendall"] == pytest.approx(-1.0)
    assert table.loc["c8r4s0e5", "model_cost_epochs"] == pytest.approx(5 / 1024)  # (1/8)² (1/4)² × 5 epochs
    assert table["pareto"].all() and set(table["archs"]) == {20}
    mask = pareto_front(np.array([1.0, 2.0, 3.0, 2.0]), np.array([0.5, 0.7, 0.6, 0.4]))
    assert mask.tolist() == [True, True, False, False]


# --- the recipe: a cosine schedule longer than the training (the zero-cost paper's EcoNAS proxy) -------------------
def test_recipe_schedule_epochs_is_checked_and_tagged() -> None:
    setting = econas.parse_setting("c4r4s0e20")
    assert econas.Recipe().horizon(setting) == 20
    assert econas.Recipe(schedule_epochs=40).horizon(setting) == 40
    with pytest.raises(ValueError, match="shorter than the 20 epochs"):
        econas.Recipe(schedule_epochs=10).horizon(setting)
    for bad in (0, -3, True, 2.5):
        with pytest.raises(ValueError, match="schedule_epochs"):
            econas.Recipe(schedule_epochs=bad)
    assert ZERO_COST_PAPER_RECIPE.diffs() == ["batch_size=2048", "schedule_epochs=40"]
    assert ZERO_COST_PAPER_RECIPE.horizon(econas.parse_setting(ZERO_COST_PAPER_SETTING)) == 40


def final_learning_rate(nb201, recipe: econas.Recipe, setting: str) -> float:
    """The learning rate of the last SGD step of a tiny training under ``recipe``."""
    parsed = econas.parse_setting(setting)
    data, kwargs, autocast, scaler, fmt = training_setup(nb201, parsed, colour_task(64, 30), 0, torch.device("cpu"),
                                                         recipe, TINY["width_kwarg"], TINY["build_kwargs"])
    model = seeded_model(nb201, nb201.parse(TINY_ARCH), 0, data.num_classes, kwargs)
    optimizer = make_optimizer(model, recipe)

    def loss_fn(logits: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loss = torch.nn.functional.cross_entropy(logits, yb)
        return loss, loss.detach() * len(yb), (logits.argmax(1) == yb).sum()

    stats = fit(model, optimizer, data, parsed, recipe, 0, fmt, autocast, scaler, loss_fn)
    assert stats.iterations == parsed.epochs * 2  # 64 images, batch 32: the steps trained, not the horizon
    return optimizer.param_groups[0]["lr"]


def test_schedule_epochs_stops_the_cosine_half_way(nb201) -> None:
    annealed = final_learning_rate(nb201, TINY_RECIPE, "c1r1s0e2")
    snapshot = final_learning_rate(nb201, econas.Recipe(batch_size=32, lr=0.05, schedule_epochs=4), "c1r1s0e2")
    # last step is step 3 of 4 (annealed) or of 8 (half of a 4-epoch schedule)
    assert annealed == pytest.approx(0.05 * 0.5 * (1 + math.cos(math.pi * 3 / 4)))
    assert snapshot == pytest.approx(0.05 * 0.5 * (1 + math.cos(math.pi * 3 / 8)))
    with pytest.raises(ValueError, match="shorter"):
        econas.train(nb201, TINY_ARCH, "c1r1s0e3", colour_task(60, 30), recipe=econas.Recipe(schedule_epochs=2),
                     **TINY)


def test_recipe_options_reach_the_store_and_errors_are_one_line(tmp_path) -> None:
    from click.testing import CliRunner

    from archrank.cli import main

    bad = CliRunner().invoke(main, ["consistency", "--settings", "c4r4s0e20", "--schedule-epochs", "10",
                                    "--store", str(tmp_path / "s.db"), "--quiet"])
    assert bad.exit_code != 0
    lines = [ln for ln in bad.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "shorter than the 20 epochs" in lines[0], bad.output
    assert not (tmp_path / "s.db").exists()  # refused before any work
    from archrank.cli.econas import make_recipe

    assert make_recipe(256, 0.1, 20, ["c4r4s0e20"]) == econas.Recipe()  # a schedule as long as the training
    assert make_recipe(2048, 0.1, 40, ["c4r4s0e20"]) == ZERO_COST_PAPER_RECIPE


def test_train_command_stores_a_recipe_variant_under_its_own_key(data_root, tmp_path) -> None:
    from click.testing import CliRunner

    from archrank.cli import main

    if not (data_root / "cifar-10-batches-py").is_dir():
        pytest.skip(f"no CIFAR-10 under {data_root}")
    store = tmp_path / "t.db"
    args = ["train", TINY_ARCH, "--setting", "c4r4s2e1", "--store", str(store), "--threads", "1"]
    variant = CliRunner().invoke(main, [*args, "--batch-size", "512", "--schedule-epochs", "3"])
    plain = CliRunner().invoke(main, args)
    assert variant.exit_code == 0 and plain.exit_code == 0, variant.output + plain.output
    assert "|batch_size=512,schedule_epochs=3" in variant.output
    with econas.TrainingStore(store) as training_store:
        frame = training_store.results(space="nb201")
    assert sorted(frame["setting"]) == ["c4r4s2e1", "c4r4s2e1|batch_size=512,schedule_epochs=3"]
    assert set(frame["iterations"]) == {math.ceil(len_subset(frame) / 512), math.ceil(len_subset(frame) / 256)}


def test_consistency_shards_split_the_sample_between_processes(data_root, tmp_path) -> None:
    from click.testing import CliRunner

    from archrank.cli import main

    if not (data_root / "cifar-10-batches-py").is_dir():
        pytest.skip(f"no CIFAR-10 under {data_root}")
    store = tmp_path / "c.db"
    args = ["consistency", "--sample", "4", "--settings", "c4r8s2e1", "--store", str(store), "--threads", "1",
            "--quiet"]
    first = CliRunner().invoke(main, [*args, "--shard", "0/2"])
    assert first.exit_code == 0, first.output
    with econas.TrainingStore(store) as training_store:
        half = set(training_store.results(space="nb201")["arch_key"])
    second = CliRunner().invoke(main, [*args, "--shard", "1/2"])
    assert second.exit_code == 0, second.output
    with econas.TrainingStore(store) as training_store:
        both = set(training_store.results(space="nb201")["arch_key"])
    sample = get_space("nb201").sample_many(4, seed=0)
    assert half == {get_space("nb201").key(a) for a in sample[0::2]}
    assert both == {get_space("nb201").key(a) for a in sample} and "c4r8s2e1" in second.output  # table of all 4
    bad = CliRunner().invoke(main, [*args, "--shard", "2/2"])
    assert bad.exit_code != 0 and "I must be in 0..N-1" in bad.output


def test_consistency_reports_only_the_data_set_given(data_root, tmp_path) -> None:
    """One store may hold a setting trained on two data sets (the subset and the full CIFAR-10): the consistency
    table of ``--data X`` is made of X's trainings only, never an average of both."""
    import sqlite3

    from click.testing import CliRunner

    from archrank.cli import main

    if not (data_root / "cifar-10-batches-py").is_dir():
        pytest.skip(f"no CIFAR-10 under {data_root}")
    store = tmp_path / "c.db"
    args = ["consistency", "--sample", "3", "--settings", "c4r8s2e1", "--store", str(store), "--threads", "1",
            "--quiet"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    with econas.TrainingStore(store) as training_store:
        mine = training_store.results(space="nb201")
    assert len(mine) == 3
    with sqlite3.connect(store) as db:  # the same trainings "on another data set", with other accuracies
        db.execute("INSERT INTO measurements SELECT space, arch_key, method, config_hash, seed, 'other-data', device,"
                   " 100 - value, seconds, status, reason, extra, run_id, created_at FROM measurements")
    again = CliRunner().invoke(main, args)
    assert again.exit_code == 0, again.output
    line = next(ln for ln in again.output.splitlines() if ln.startswith("c4r4s2e1") or ln.startswith("c4r8s2e1"))
    header = next(ln for ln in again.output.splitlines() if ln.lstrip().startswith("setting"))
    row = dict(zip(header.split(), line.split(), strict=True))
    assert int(row["archs"]) == 3 and float(row["mean_accuracy"]) == pytest.approx(mine["accuracy"].mean(), abs=1e-3)


def len_subset(frame: pd.DataFrame) -> int:
    """The training images of the stored trainings (all of one setting, so one value)."""
    (count,) = set(frame["train_samples"])
    return int(count)
