"""The shortcuts of the faster engine (issue 18) give the same numbers as the computations they replace."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from archrank.proxies import Probe, create_proxy, score
from archrank.proxies.gradient import _population_std
from archrank.proxies.passes.az import rademacher
from archrank.proxies.torchutil import remove_batchnorm, weighted_layers

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def _cell(nb201, arch: str = BEST, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nb201.build(nb201.from_str(arch), num_classes=10, C=4, N=1)


def _batch(n: int = 16):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 16, 16, generator=gen), torch.arange(n) % 10


@pytest.mark.parametrize("shape", [(64, 16, 8, 8), (5, 3, 7, 7), (1, 1, 1, 1)])
def test_rademacher_draws_the_official_bernoulli_numbers(shape):
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    like = torch.empty(shape)
    for _ in range(2):  # consecutive draws stay in step
        official = (torch.bernoulli(torch.full(shape, 0.5), generator=g1) - 0.5) * 2
        assert torch.equal(rademacher(like, g2), official)


def test_two_chunk_std_equals_torch_std_on_real_gradients(nb201):
    x, y = _batch()
    probe = Probe(_cell(nb201), (x, y))
    for grads in probe.get("zico", num_chunks=2).values():
        g = grads.to(torch.float64)
        assert torch.equal(_population_std(g), g.std(dim=0, unbiased=False))
    three = torch.randn(3, 50, dtype=torch.float64)
    assert torch.equal(_population_std(three), three.std(dim=0, unbiased=False))


def _synflow_on_a_copy(model: nn.Module, input_shape: tuple[int, ...]) -> float:
    """The reference procedure: a float64 copy without BatchNorm, |θ|, eval mode, all-ones input."""
    net = copy.deepcopy(model)
    remove_batchnorm(net)
    net = net.double().eval()
    with torch.no_grad():
        for t in list(net.parameters()) + list(net.buffers()):
            if t.is_floating_point():
                t.abs_()
    layers = weighted_layers(net)
    out = net(torch.ones((1, *input_shape), dtype=torch.float64))
    grads = torch.autograd.grad(out.sum(), [m.weight for _, m in layers], allow_unused=True)
    total = sum(
        float((m.weight.detach() * g).abs().sum(dtype=torch.float64))
        for (_, m), g in zip(layers, grads, strict=True)
        if g is not None
    )
    return math.log(total)


def test_synflow_without_a_copy_equals_the_copy_procedure():
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.BatchNorm2d(5), nn.ReLU(), nn.Dropout(0.3),
        nn.Conv2d(5, 4, 3, stride=2), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(4, 3),
    )
    expected = _synflow_on_a_copy(model, (3, 9, 9))
    got = score(model, "synflow", input_shape=(3, 9, 9), memory_format="contiguous")["synflow"]
    assert got == pytest.approx(expected, rel=1e-13)
    assert model.training and all(m.training for m in model.modules())  # the caller's model is untouched


def test_forward_only_products_equal_those_of_a_pass_with_gradients(nb201):
    x, y = _batch()
    model = _cell(nb201)
    alone = score(model, ["meco", "nwot", "swap"], batch=(x, y))
    with_grads = score(model, ["meco", "nwot", "swap", "grad_norm"], batch=(x, y))
    assert all(alone[k] == with_grads[k] for k in alone)  # bit for bit: no_grad changes no value


def test_az_components_alone_equal_the_shared_pass_and_expressivity_skips_the_vjps(nb201):
    x, y = _batch()
    model = _cell(nb201)
    names = ["az_expressivity", "az_progressivity", "az_trainability"]
    together = score(model, names, batch=(x, y), seed=1)
    for name in names:
        assert score(model, name, batch=(x, y), seed=1)[name] == together[name]
    probe = Probe(model, (x, y), seed=1)
    options = {"init": "kaiming_normal_fan_in", "blocks": (), "inputs": "gaussian", "batch_size": 0}
    with probe.consuming("az_expressivity"):
        probe.get("az_covariances", **options)
    assert list(probe.pass_seconds) == ["az"]
    with pytest.raises(KeyError):  # the forward-only run computed no vector-Jacobian products
        probe._cache[(("az", tuple(sorted(options.items()))), "az_cross_moments")]
    fresh = Probe(model, (x, y), seed=1)
    fresh.plan(["az_covariances", "az_cross_moments"])
    fresh.get("az_covariances", **options)
    fresh.get("az_cross_moments", **options)
    assert list(fresh.pass_seconds) == ["az"]  # planned together: one run


def test_configured_az_data_inputs_still_shared(nb201):
    x, y = _batch()
    names = ["az_expressivity", "az_trainability"]
    cfg = [create_proxy(n, inputs="data") for n in names]
    res = score(_cell(nb201), cfg, batch=(x, y), detailed=True)
    assert all(r.ok for r in res.values())
    assert res["az_expressivity"].seconds > 0 and res["az_trainability"].seconds > 0


class _Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.b.weight = self.a.weight  # tied
        self.register_buffer("scale", torch.tensor(2.0))
        self.sizes = [4, 4]
        self.blocks = nn.Sequential(nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)) * self.scale


class _CustomCopy(nn.Linear):
    def __deepcopy__(self, memo):  # a class that copies itself its own way is copied by deepcopy
        new = nn.Linear.__new__(_CustomCopy)
        new.__dict__.update(copy.deepcopy(self.__dict__, memo))
        new.copied_by_deepcopy = True
        return new


def test_clone_module_is_a_deep_copy(nb201):
    from archrank.proxies.torchutil import clone_module

    calls = []
    model = _Tied()
    model.a.register_forward_hook(lambda m, i, o: calls.append(1))
    model.custom = _CustomCopy(2, 2)
    model.a.weight.requires_grad_(False)
    twin = clone_module(model)
    assert repr(twin) == repr(model) and type(twin.custom) is _CustomCopy and twin.custom.copied_by_deepcopy
    assert twin.b.weight is twin.a.weight and twin.a.weight is not model.a.weight  # tied, and new
    assert not twin.a.weight.requires_grad and isinstance(twin.a.weight, nn.Parameter)
    assert twin.sizes == model.sizes and twin.sizes is not model.sizes
    for (k, v), (k2, v2) in zip(model.state_dict().items(), twin.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(v, v2) and v.data_ptr() != v2.data_ptr()
    twin(torch.randn(3, 4))
    assert calls == [1]  # hooks are copied as deepcopy copies them
    cell = _cell(nb201)
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(clone_module(cell).eval()(x), copy.deepcopy(cell).eval()(x))


@pytest.mark.parametrize(("n", "units"), [(3, 5), (16, 300), (64, 4096)])
def test_code_gram_integer_product_is_exact(n, units):
    from archrank.proxies.hooks import code_gram

    codes = torch.rand(n, units, generator=torch.Generator().manual_seed(n)) > 0.5
    c = codes.to(torch.float64)
    assert torch.equal(code_gram(codes), c @ c.T)
