"""Stacked EcoNAS training: k NB201 networks as one network compute what the k separate networks compute."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from archrank import econas, get_space
from archrank.econas.batched import StackedNB201, stacked_loss, train_stacked
from archrank.econas.consistency import train_many

ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
TINY = {"width_kwarg": {"C": 8}, "build_kwargs": {"N": 1}}
RECIPE = econas.Recipe(batch_size=32, lr=0.05)


def networks(count: int, channels: int = 4, cells: int = 1) -> tuple[list, list[torch.nn.Module]]:
    space = get_space("nb201")
    archs = [*space.sample_many(count - 1, seed=3), space.parse(ALL_NONE)]
    nets = []
    for i, arch in enumerate(archs):
        torch.manual_seed(i)
        nets.append(space.build(arch, num_classes=5, C=channels, N=cells))
    return archs, nets


def colour_data(n_train: int = 96, n_test: int = 48) -> econas.RawData:
    rng = np.random.default_rng(0)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.arange(n) % 3
        images = rng.integers(0, 90, size=(n, 3, 8, 8))
        images[np.arange(n), labels] += 120
        return images.astype(np.uint8), labels

    return econas.RawData.from_arrays(split(n_train), split(n_test), name="colours", num_classes=3)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_stacked_forward_equals_separate_networks(mode: str) -> None:
    _, nets = networks(7, cells=2)
    stacked = StackedNB201(nets)
    x = torch.randn(6, 3, 8, 8)
    for net in nets:
        net.train(mode == "train")
    stacked.train(mode == "train")
    expected = torch.stack([net(x) for net in nets], dim=1)
    got = stacked(x)
    assert got.shape == (6, 7, 5)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_a_node_fed_by_different_edges_in_different_networks_gets_every_networks_channels() -> None:
    """Node 3 of network A gets only the edge from node 0, of network B only the edge from node 1: the scatter
    index of its two pieces is the identity, but the node is still both pieces (a stack of study cells crashed
    there, taking only the first piece)."""
    space = get_space("nb201")
    cells = ["|nor_conv_3x3~0|+|skip_connect~0|none~1|+|nor_conv_1x1~0|none~1|none~2|",
             "|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|nor_conv_1x1~1|none~2|"]
    nets = []
    for i, cell in enumerate(cells):
        torch.manual_seed(i)
        nets.append(space.build(space.parse(cell), num_classes=5, C=4, N=1))
    stacked = StackedNB201(nets).eval()
    x = torch.randn(3, 3, 8, 8)
    expected = torch.stack([net.eval()(x) for net in nets], dim=1)
    torch.testing.assert_close(stacked(x), expected, rtol=1e-4, atol=1e-5)


def test_stacked_gradients_are_each_networks_own() -> None:
    _, nets = networks(5)
    stacked = StackedNB201(nets)
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 5, (8,))
    loss, per_loss, correct = stacked_loss(stacked(x), y)
    loss.backward()
    for j, net in enumerate(nets):
        F.cross_entropy(net(x), y).backward()
        torch.testing.assert_close(stacked.classifier_weight.grad[j], net.classifier.weight.grad, rtol=1e-4,
                                   atol=1e-6)
        stem = stacked.stem_conv.weight.grad[j * 4 : (j + 1) * 4]
        torch.testing.assert_close(stem, net.stem[0].weight.grad, rtol=1e-4, atol=1e-6)
    assert per_loss.shape == (5,) and correct.shape == (5,)
    torch.testing.assert_close(per_loss.sum() / 8, loss.detach())


def test_stacking_needs_equal_widths() -> None:
    space = get_space("nb201")
    a, b = space.sample_many(2, seed=0)
    with pytest.raises(ValueError, match="share width"):
        StackedNB201([space.build(a, C=4, N=1), space.build(b, C=8, N=1)])


def test_train_stacked_matches_separate_training() -> None:
    space = get_space("nb201")
    archs = space.sample_many(3, seed=1)
    data = colour_data()
    stacked = train_stacked(space, archs, "c2r0s0e2", data, seed=0, recipe=RECIPE, **TINY)
    alone = [econas.train(space, a, "c2r0s0e2", data, seed=0, recipe=RECIPE, **TINY) for a in archs]
    assert [r.arch_key for r in stacked] == [space.key(a) for a in archs]  # caller's order, not the stack's
    for s, a in zip(stacked, alone, strict=True):
        assert s.iterations == a.iterations and s.num_params == a.num_params and s.width == a.width
        assert s.final_train_loss == pytest.approx(a.final_train_loss, rel=1e-3)
        assert abs(s.accuracy - a.accuracy) <= 100.0 / 48 + 1e-9  # at most one test image apart
        assert s.recipe == a.recipe
        assert (s.stack, a.stack) == (3, 1)  # recorded: a stacked training's seconds are its share of the stack


def test_train_stacked_refuses_other_spaces() -> None:
    with pytest.raises(ValueError, match="nb201"):
        train_stacked(get_space("nb101"), [], "c4r4s0e1", colour_data())


def test_train_many_stacked_resumes(tmp_path) -> None:
    space = get_space("nb201")
    archs = space.sample_many(3, seed=2)
    data = colour_data()
    with econas.TrainingStore(tmp_path / "s.db") as store:
        ran = train_many(space, archs, ["c2r0s1e1", "c2r0s0e1"], data, store, recipe=RECIPE, progress=False,
                         stack=2, **TINY)
        assert ran == 6
        assert train_many(space, archs, ["c2r0s1e1", "c2r0s0e1"], data, store, recipe=RECIPE, progress=False,
                          stack=2, **TINY) == 0
        frame = store.results(space="nb201")
    assert set(frame["setting"]) == {"c2r0s1e1|batch_size=32,lr=0.05,N=1,full_C=8",
                                     "c2r0s0e1|batch_size=32,lr=0.05,N=1,full_C=8"}
    assert frame["accuracy"].between(0, 100).all()
    # per setting: a stack of 2, then the third cell alone
    assert frame.groupby("setting")["stack"].apply(sorted).tolist() == [[1, 2, 2], [1, 2, 2]]


def test_stack_shrinks_with_activation_size() -> None:
    from archrank.econas.consistency import stack_size

    assert stack_size(32, side=8, width=4) == 32  # the c4r4 reference size
    assert stack_size(32, side=16, width=4) == 8  # 4x the pixels: a quarter of the networks
    assert stack_size(32, side=8, width=2) == 32  # smaller networks never stack more than asked
    assert stack_size(3, side=32, width=16) == 1


def test_a_failing_stack_is_trained_network_by_network(monkeypatch, tmp_path) -> None:
    """When a stacked training raises (out of memory, a cell it cannot hold), its networks are trained one by one:
    the good ones are stored, the bad one is recorded as failed with its reason, and the run goes on."""
    from archrank.econas import batched, keeper
    from test_econas import failing_for

    space = get_space("nb201")
    archs = space.sample_many(3, seed=2)
    bad = space.key(archs[1])
    def no_stack(*args, **kwargs):
        raise RuntimeError("out of memory (simulated)")

    monkeypatch.setattr(batched, "train_stacked", no_stack)
    flaky = failing_for(bad, keeper.train, ValueError("cannot build (simulated)"))
    monkeypatch.setattr(keeper, "train", flaky)
    with econas.TrainingStore(tmp_path / "s.db") as store:
        ran = train_many(space, archs, ["c2r0s1e1"], colour_data(), store, recipe=RECIPE, progress=False, stack=4,
                         **TINY)
        frame = store.results(space="nb201")
        failures = store.failures(space="nb201")
    assert ran == 2
    assert sorted(frame["arch_key"]) == sorted(space.key(a) for a in archs if space.key(a) != bad)
    assert frame["stack"].tolist() == [1, 1]
    assert failures["arch_key"].tolist() == [bad] and failures["error"].tolist() == ["ValueError: cannot build "
                                                                                     "(simulated)"]
