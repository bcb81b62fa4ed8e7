"""EZNAS blocks: Conv-BN-ReLU networks (NB101, NDS stage networks) are read at their Conv-BN-ReLU blocks (issue 17).

Pinned here, each on a tiny network with a hand-checkable value:
- which blocks are found (dataflow: BN reads the conv's output, the ReLU reads the BN's output directly or through
  a residual addition; one kind per network, ReLU-Conv-BN first);
- what ``input_grad`` is in a Conv-BN-ReLU block (the gradient through the conv only, also for a stem conv that
  reads the network input) and the EZNAS-A value that follows;
- ReLU-Conv-BN networks (NB201) keep their statistics, and NB101 networks now get a finite score.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from archrank.eznas import EZNAS_A, NetworkStats, StatsBatch, StatsCache, StatsConfig, Summary, evaluate
from archrank.eznas.stats import (
    CBRBlock,
    RCBBlock,
    extract_stats,
    find_blocks,
    find_cbr_blocks,
    find_rcb_blocks,
    reference_init,
)
from archrank.proxies import score

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def conv_bn(c_in: int, c_out: int, relu: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, nn.ReLU()) if relu else nn.Sequential(*layers)


class TinyResNet(nn.Module):
    """stem CBR; one residual block relu(proj(h) + [CBR, CB](h)) with a CB projection; a Conv-BN-pool-ReLU tail that
    is not a block (a pool is not an addition); a Conv-ReLU without BN, not a block either."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = conv_bn(3, 4)
        self.f = nn.Sequential(conv_bn(4, 6), conv_bn(6, 6, relu=False))
        self.proj = conv_bn(4, 6, relu=False)
        self.relu = nn.ReLU()
        self.tail = nn.Sequential(nn.Conv2d(6, 6, 1, bias=False), nn.BatchNorm2d(6), nn.MaxPool2d(2), nn.ReLU())
        self.no_bn = nn.Sequential(nn.Conv2d(6, 6, 1, bias=False), nn.ReLU())
        self.classifier = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = self.relu(self.proj(h) + self.f(h))
        return self.classifier(self.no_bn(self.tail(h)).mean(dim=(2, 3)))


def _x(n: int = 4, size: int = 4, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------- which blocks
def test_cbr_blocks_by_dataflow_residual_relu_shared() -> None:
    model = TinyResNet()
    blocks = find_cbr_blocks(model, _x())
    # in the order the convs run: stem, projection (called first in forward), f's two convs
    assert [b.name for b in blocks] == ["stem.0", "proj.0", "f.0.0", "f.1.0"]
    assert all(isinstance(b, CBRBlock) and b.kind == "conv-bn-relu" for b in blocks)
    stem, proj, a, b = blocks
    assert (stem.conv, stem.bn, stem.relu) == (model.stem[0], model.stem[1], model.stem[2])
    assert a.relu is model.f[0][2]
    # the conv-BN branches summed before the block's ReLU both end there
    assert proj.relu is model.relu and b.relu is model.relu
    assert proj.modules == (model.proj[0], model.proj[1], model.relu)
    assert find_rcb_blocks(model) == [] and find_blocks(model, _x()) == blocks


def test_block_finders_are_public_at_package_level() -> None:
    import archrank.eznas as eznas

    for name in ("find_blocks", "find_cbr_blocks", "find_rcb_blocks", "CBRBlock", "RCBBlock", "Block"):
        assert name in eznas.__all__, name
    blocks = eznas.find_blocks(TinyResNet(), _x())
    assert [b.name for b in blocks] == ["stem.0", "proj.0", "f.0.0", "f.1.0"]
    assert all(isinstance(b, eznas.CBRBlock) for b in blocks)


def test_finding_blocks_leaves_the_model_alone() -> None:
    model = TinyResNet().train()
    before = copy.deepcopy(model.state_dict())
    find_cbr_blocks(model, _x())
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key  # no forward on the caller's model: BN statistics unchanged
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_one_kind_per_network_relu_conv_bn_first() -> None:
    """A network with both kinds is read at its ReLU-Conv-BN blocks only (NB201/NB301 stems and heads)."""
    model = nn.Sequential(
        conv_bn(3, 4),  # a CBR block ...
        nn.Sequential(nn.ReLU(), nn.Conv2d(4, 4, 1, bias=False), nn.BatchNorm2d(4)),  # ... and an RCB block
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 2),
    )
    assert len(find_cbr_blocks(model, _x())) == 1
    blocks = find_blocks(model, _x())
    assert [type(b) for b in blocks] == [RCBBlock] and blocks[0].name == "1.0"
    stats = extract_stats(model, _x(), terminals=["input_grad_data"])
    assert stats.layer_names == ["1.0"] and stats.meta["block_kind"] == "relu-conv-bn"


class ReusedRelu(nn.Module):
    """torchvision's BasicBlock pattern: one ReLU module called after bn1 and again after the residual addition."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 3, 1, bias=False), nn.BatchNorm2d(3)
        self.conv2, self.bn2 = nn.Conv2d(3, 3, 1, bias=False), nn.BatchNorm2d(3)
        self.relu = nn.ReLU(inplace=True)
        self.classifier = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(h)) + x)
        return self.classifier(y.mean(dim=(2, 3)))


def test_a_relu_module_called_twice_ends_two_blocks_each_with_its_own_call() -> None:
    model, x = ReusedRelu(), _x()
    blocks = find_blocks(model, x)
    assert [(b.name, b.relu) for b in blocks] == [("conv1", model.relu), ("conv2", model.relu)]
    stats = extract_stats(model, x, config=StatsConfig(init="none"), terminals=["act_data"])
    net = copy.deepcopy(model).train()
    net.relu.inplace = False
    with torch.no_grad():
        h = net.relu(net.bn1(net.conv1(x)))
        y = net.relu(net.bn2(net.conv2(h)) + x)
    assert torch.allclose(stats.layers[0]["act_data"], h, atol=1e-6)
    assert torch.allclose(stats.layers[1]["act_data"], y, atol=1e-6)  # the second call's output, not h


# ------------------------------------------------------------------------------------------- what is read
def test_cbr_statistics_are_positional_and_input_grad_is_through_the_conv() -> None:
    model, x = TinyResNet(), _x()
    terms = ("weight", "input_data", "input_grad_data", "preact_data", "preact_grad_data", "act_data")
    stats = extract_stats(model, x, config=StatsConfig(init="none"), terminals=terms)
    assert stats.meta["block_kind"] == "conv-bn-relu"
    assert stats.layer_names == ["stem.0", "proj.0", "f.0.0", "f.1.0"]
    stem, proj, a, b = stats.layers
    # input = conv input, preact = conv output (the BN input), act = ReLU output (shared after the addition)
    assert torch.equal(stem["input_data"], x)
    assert torch.allclose(stem["preact_data"], nn.functional.conv2d(x, model.stem[0].weight), atol=1e-6)
    assert torch.equal(proj["act_data"], b["act_data"]) and bool((b["act_data"] >= 0).all())
    assert torch.equal(proj["weight"], model.proj[0].weight.detach())
    # input_grad is the conv's backward of preact_grad (1x1 conv: Σ_o w[o, c] · g[o]), not the total gradient of h,
    # which the projection and f both read
    for layer in (proj, a):
        w = layer["weight"][:, :, 0, 0]
        assert torch.allclose(layer["input_grad_data"], torch.einsum("oc,bohw->bchw", w, layer["preact_grad_data"]),
                              atol=1e-6)
    assert bool(a["input_grad_data"].ne(0).any())  # so h's total gradient (proj's + f's) is not proj's
    # the stem conv reads the network input, which requires gradients as in the reference: not all zero
    assert bool(stem["input_grad_data"].ne(0).any())


class OneConvBnRelu(nn.Module):
    """x (1 channel, 2x2) -> conv 1x1 -> BN -> ReLU -> mean over space -> linear."""

    def __init__(self) -> None:
        super().__init__()
        self.block = conv_bn(1, 1)
        self.classifier = nn.Linear(1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.block(x).mean(dim=(2, 3)))


def test_eznas_a_of_one_cbr_block_by_hand() -> None:
    """Conv output z = w·[[0, 1], [3, 6]] (one sample, 1x1 conv weight w). BN: y = sign(w)·(v - 2.5)/√5.25 with
    v = [0, 1, 3, 6]; for w > 0 the ReLU passes y3, y4 (mask m = [0, 0, 1, 1]) and ∂Σ features/∂y = m/4.
    BN backward: ∂/∂z ∝ m - mean(m) - y·mean(m·y) = [-0.024, -0.214, +0.405, -0.167]; the conv's backward
    multiplies by w > 0. For w < 0, y and m flip, ∂/∂z flips and so does w: the same signs. input_grad has the signs
    [[-1, -1], [1, -1]], det = 2, EZNAS-A = sigmoid(log 2) = 2/3 whatever the initial weight."""
    x = torch.tensor([[[[0.0, 1.0], [3.0, 6.0]]]])
    model = OneConvBnRelu()
    stats = extract_stats(model, x, config=StatsConfig(init="none"), terminals=["input_grad_data"])
    w = float(model.block[0].weight.detach())
    signs = torch.sign(stats.layers[0]["input_grad_data"][0, 0])
    assert w != 0 and torch.equal(signs, torch.tensor([[-1.0, -1.0], [1.0, -1.0]]))
    for seed in (0, 1, 2):  # the proxy re-initialises: a conv weight of either sign
        value = score(model, ["eznas"], batch=x, seed=seed)["eznas"]
        assert value == pytest.approx(2 / 3, rel=1e-6)


def test_stale_empty_statistics_are_recomputed(tmp_path) -> None:
    """Empty statistics stored before CBR blocks existed (no ``block_kind``) are not reused; new ones are."""
    cache = StatsCache(tmp_path)
    key = StatsCache.key("nb101", "arch", 0, "hash", StatsConfig(), Summary())
    cache.put("nb101", key, NetworkStats([], [], {"seed": 0}))
    assert cache.get("nb101", key) is None
    cache.put("nb101", key, NetworkStats([], [], {"seed": 0, "block_kind": "none"}))
    loaded = cache.get("nb101", key)
    assert loaded is not None and loaded.layers == []


# ------------------------------------------------------------------------------------------- real spaces
def test_nb201_statistics_unchanged_against_independent_autograd() -> None:
    """NB201 (ReLU-Conv-BN): EZNAS-A from an independent computation — the gradient with respect to each ReLU's
    output (only its conv reads it), masked by ReLU input > 0 — equals the proxy's value."""
    from archrank.spaces import get_space

    space = get_space("nb201")
    model = space.build(space.sample(3), num_classes=10)
    x = _x(4, 32, seed=1)
    net = copy.deepcopy(model).train()
    reference_init(net, seed=0)
    relus = [b.relu for b in find_rcb_blocks(net)]
    assert relus and all(isinstance(b, RCBBlock) for b in find_blocks(model, x))
    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    inputs: dict[int, torch.Tensor] = {}
    outputs: dict[int, torch.Tensor] = {}
    features: list[torch.Tensor] = []

    def record(k: int, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        inputs.setdefault(k, inp[0])
        outputs.setdefault(k, out)

    handles = [r.register_forward_hook(lambda m, i, o, k=k: record(k, i, o)) for k, r in enumerate(relus)]
    linear = [m for m in net.modules() if isinstance(m, nn.Linear)][-1]
    handles.append(linear.register_forward_hook(lambda m, i, o: features.append(i[0])))
    net(x.clone().requires_grad_(True))
    for h in handles:
        h.remove()
    keys = sorted(outputs)
    grads = torch.autograd.grad(features[0].sum(), [outputs[k] for k in keys], allow_unused=True)
    layers = []
    for k, g in zip(keys, grads, strict=True):
        g = torch.zeros_like(outputs[k]) if g is None else g
        layers.append({"input_grad_data": (g * (inputs[k] > 0)).detach()})
    stats = NetworkStats(layers, [str(k) for k in keys])
    expected = float(evaluate(EZNAS_A, StatsBatch([stats], ["input_grad_data"]))[0])
    ours = score(model, ["eznas"], batch=x, seed=0)["eznas"]
    assert ours == pytest.approx(expected, rel=1e-5)


def test_nb101_network_gets_a_finite_eznas_score() -> None:
    from archrank.spaces import get_space

    space = get_space("nb101")
    model = space.build(space.sample(0), num_classes=10)
    x = _x(2, 32)
    result = score(model, ["eznas"], batch=x, detailed=True)["eznas"]
    assert result.ok and math.isfinite(result.value), result
    stats = extract_stats(model, x, terminals=["input_grad_data"])
    assert stats.meta["block_kind"] == "conv-bn-relu"
    # every conv-BN-ReLU op of the network that runs is a block (NB101's ops and projections are ConvBNReLU)
    ran: list[str] = []
    names = {m: n for n, m in model.named_modules()}
    handles = [m.register_forward_hook(lambda m, i, o: ran.append(names[m])) for m in model.modules()
               if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model.eval()(x)
    for h in handles:
        h.remove()
    assert sorted(stats.layer_names) == sorted(dict.fromkeys(ran))


class BlockThenConstant(nn.Module):
    """An RCB block whose result the output ignores (like an NB201/TransNAS cell of only `none` edges)."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.block(x)
        return torch.zeros(x.shape[0], 2)


def test_output_independent_of_every_block_gives_zero_gradients_not_an_error() -> None:
    stats = extract_stats(BlockThenConstant(), _x(), terminals=["input_grad_data", "act_data"])
    assert len(stats.layers) == 1
    assert torch.count_nonzero(stats.layers[0]["input_grad_data"]) == 0
    assert torch.count_nonzero(stats.layers[0]["act_data"]) > 0  # the forward statistics are real
