"""EZNAS details pinned against the authors' code (issue 17), each on a tiny network with a hand-checkable value.

- ``input_grad`` is the gradient through the block only (the reference reads it from a backward hook on the block's
  ReLU), not the total gradient of the block's input tensor, which a skip connection also feeds.
- ``reference_init`` / ``input_noise_seed`` give the exact weights and noise the statistics are computed from.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from archrank.eznas import EZNAS_A, StatsBatch, StatsConfig, evaluate, extract_stats
from archrank.eznas.stats import input_noise_seed, reference_init


class SkipAroundBlock(nn.Module):
    """x -> stem -> h;  y = ReLU-Conv-BN(h) + h;  features = mean over space of y;  logits = Linear(features)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 2, 1, bias=False)
        self.block = nn.Sequential(nn.ReLU(), nn.Conv2d(2, 2, 1, bias=False), nn.BatchNorm2d(2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        return self.classifier(self.pool(self.block(h) + h).flatten(1))


@pytest.fixture
def tiny() -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = SkipAroundBlock()
    x = torch.randn(3, 1, 2, 2)
    return model, x


def test_input_grad_is_the_gradient_through_the_block_only(tiny) -> None:
    model, x = tiny
    stats = extract_stats(
        model, x, config=StatsConfig(init="none"), terminals=("input_data", "input_grad_data", "preact_grad_data")
    )
    (layer,) = stats.layers
    h, g, g_relu_out = layer["input_data"], layer["input_grad_data"], layer["preact_grad_data"]
    # where the ReLU input is <= 0 no gradient passes the ReLU: exactly 0 (the skip path's 1/(H*W) = 0.25 per
    # element of d Σ features / d h is not part of the block's input gradient)
    assert (h <= 0).any() and (h > 0).any()
    assert torch.equal(g[h <= 0], torch.zeros_like(g[h <= 0]))
    # elsewhere it is the ReLU's output gradient unchanged (ReLU backward)
    assert torch.equal(g[h > 0], g_relu_out[h > 0])


def test_total_gradient_of_the_block_input_differs_by_the_skip_term(tiny) -> None:
    model, x = tiny
    net = copy.deepcopy(model).train()
    h = net.stem(x)
    h.retain_grad()
    feats = net.pool(net.block(h) + h).flatten(1)
    feats.sum().backward()
    stats = extract_stats(model, x, config=StatsConfig(init="none"), terminals=("input_grad_data",))
    through_block = stats.layers[0]["input_grad_data"]
    # d Σ mean_hw(y) / dh = (through the block) + 1/(H·W) from the skip connection; H·W = 4
    assert torch.allclose(h.grad - through_block, torch.full_like(through_block, 0.25), atol=1e-6)


def test_statistics_are_those_of_reference_init_weights_and_seeded_noise(tiny) -> None:
    model, x = tiny
    reinit = copy.deepcopy(model)
    reference_init(reinit, seed=3)
    a = extract_stats(model, x, seed=3)  # init="eznas": re-initialises a private copy the same way
    b = extract_stats(reinit, x, seed=3, config=StatsConfig(init="none"))
    for name in a.layers[0]:
        assert torch.equal(a.layers[0][name], b.layers[0][name]), name
    # the noise input is the first draw of the documented generator
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(input_noise_seed(3)))
    c = extract_stats(reinit, noise, seed=3, config=StatsConfig(init="none"), terminals=("input_data",))
    assert torch.equal(c.layers[0]["input_data"], b.layers[0]["input_noise"])


def test_eznas_a_of_a_block_outside_the_graph_is_zero() -> None:
    """A block whose output never reaches the output has zero input gradient: sign 0, singular, sigmoid(-inf) = 0
    (the value the reference gives it, whether it multiplies a `none` edge by 0 or skips the unhooked layer)."""

    class DeadBranch(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.stem = nn.Conv2d(1, 2, 1, bias=False)
            self.dead = nn.Sequential(nn.ReLU(), nn.Conv2d(2, 2, 1, bias=False), nn.BatchNorm2d(2))
            self.classifier = nn.Linear(2, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.stem(x)
            self.dead(h)  # computed, never used
            return self.classifier(h.mean(dim=(2, 3)))

    torch.manual_seed(0)
    stats = extract_stats(DeadBranch(), torch.randn(2, 1, 3, 3), terminals=("input_grad_data",))
    assert torch.equal(stats.layers[0]["input_grad_data"], torch.zeros(2, 2, 3, 3))
    assert float(evaluate(EZNAS_A, StatsBatch([stats], ("input_grad_data",)))[0]) == 0.0


def test_logdet_in_the_statistics_precision_as_the_reference() -> None:
    """On matrices that are singular in exact arithmetic (last row = mean of three sign rows, not representable) the
    determinant's sign is rounding noise; op_logdet follows the reference's float32 ``torch.logdet`` (NaN -> 0,
    -inf -> LOG_FLOOR)."""
    from archrank.eznas.primitives import LOG_FLOOR, PRIMITIVES

    op_logdet = next(p.fn for p in PRIMITIVES if p.name == "logdet")
    gen = torch.Generator().manual_seed(0)
    m = torch.sign(torch.randn(400, 12, 12, generator=gen))
    m[:, -1] = (m[:, 0] + m[:, 1] + m[:, 2]) / 3  # rank <= 11: det = 0 exactly, not in floating point
    ours = op_logdet(m.unsqueeze(0))[0]
    ref = torch.logdet(m)  # the authors' OP20 before its NaN -> 0 rule
    expected = torch.where(torch.isnan(ref), torch.zeros_like(ref), ref.clamp(min=LOG_FLOOR))
    assert torch.equal(ours, expected)
    # the case the rule is about: some of these exactly singular matrices get a finite (rounding) log-determinant
    # and different signs in float64, so the precision decides the value
    f64 = torch.linalg.slogdet(m.double())
    assert (torch.isfinite(ref) | torch.isnan(ref)).any()
    assert (torch.sign(torch.nan_to_num(ref, nan=-1.0, neginf=0.0)) != f64.sign.float()).any()


# An exactly singular (rank 9) 16×16 sign map of NB201 cell
# |skip_connect~0|+|skip_connect~0|avg_pool_3x3~1|+|nor_conv_3x3~0|avg_pool_3x3~1|nor_conv_1x1~2| (block
# stages.1.1.edges.3_2.0, sample 9, channel 24) whose float32 LU meets several exact zero pivots: on this machine's
# CPU ``torch.logdet`` gives NaN there (the reference's value 0 -> sigmoid 1/2), not -inf.
_ZERO_PIVOTS = (
    "+0-+++++++++--0000-++++00000--0000--++00000++--0000+++00++------"
    "+00-----+---------000-------------------------------------------"
    "----------------------------------------------------------------"
    "--------------------------------+---------------++--------------"
)


def test_logdet_breakdown_nan_gives_zero_as_the_reference() -> None:
    """Where the reference's ``torch.logdet`` is NaN for any reason (negative determinant, or a factorisation that
    breaks down), its OP20 gives 0; op_logdet too — never LOG_FLOOR (issue 17: one block of one cell in 30 differed
    by 0.037 in EZNAS-A before)."""
    from archrank.eznas.primitives import LOG_FLOOR, PRIMITIVES

    op_logdet = next(p.fn for p in PRIMITIVES if p.name == "logdet")
    # hand-checkable: a NaN entry makes torch.logdet NaN -> 0 (the old rule gave LOG_FLOOR)
    nan_matrix = torch.tensor([[[[math.nan, 1.0], [1.0, 1.0]]]])
    assert torch.isnan(torch.logdet(nan_matrix)).all()
    assert op_logdet(nan_matrix).tolist() == [[0.0]]
    # the real map: whatever this platform's LU gives, op_logdet equals the reference's OP20 (NaN -> 0; -inf and
    # LOG_FLOOR are the same after the sigmoid EZNAS-A applies)
    m = torch.tensor([{"+": 1.0, "-": -1.0, "0": 0.0}[c] for c in _ZERO_PIVOTS]).reshape(1, 1, 16, 16)
    assert int(torch.linalg.matrix_rank(m[0, 0].double())) == 9
    ref = torch.logdet(m)
    ref[ref != ref] = 0
    assert torch.equal(torch.sigmoid(op_logdet(m)), torch.sigmoid(ref.clamp(min=LOG_FLOOR)))


def test_eznas_a_value_of_one_block_by_hand() -> None:
    """frobenius_norm(sigmoid(logdet(sign(g)))) on one block with two 2x2 maps: det(sign) = +2 and -2."""
    from archrank.eznas import NetworkStats

    g = torch.tensor([[[[0.3, -0.1], [0.2, 0.5]], [[0.1, 0.4], [0.7, -0.2]]]])  # (B=1, C=2, 2, 2)
    stats = NetworkStats([{"input_grad_data": g}], ["block"])
    value = float(evaluate(EZNAS_A, StatsBatch([stats], ("input_grad_data",)))[0])
    # sign maps [[1,-1],[1,1]] (det 2 -> sigmoid(log 2) = 2/3) and [[1,1],[1,-1]] (det -2 -> NaN -> 0 -> 1/2)
    assert value == pytest.approx(((2 / 3) ** 2 + (1 / 2) ** 2) ** 0.5, rel=1e-6)


def test_reference_init_draws_the_reference_values_on_any_device() -> None:
    """The weights are those of the reference's in-place draws from one CPU generator (conv: Kaiming normal,
    fan-out; linear: N(0, 0.01)), in module order; on a GPU the same values (drawn on the CPU, then copied)."""
    from archrank.seeding import derive_seed

    torch.manual_seed(1)
    net = SkipAroundBlock()
    expected = copy.deepcopy(net)
    gen = torch.Generator(device="cpu").manual_seed(derive_seed(7, "init"))
    with torch.no_grad():
        nn.init.kaiming_normal_(expected.stem.weight, mode="fan_out", nonlinearity="relu", generator=gen)
        nn.init.kaiming_normal_(expected.block[1].weight, mode="fan_out", nonlinearity="relu", generator=gen)
        nn.init.normal_(expected.classifier.weight, 0.0, 0.01, generator=gen)
        nn.init.zeros_(expected.classifier.bias)
    reference_init(net, seed=7)
    for got, want in zip(net.state_dict().values(), expected.state_dict().values(), strict=True):
        assert torch.equal(got, want)
    if torch.cuda.is_available():
        on_gpu = copy.deepcopy(net).cuda()
        reference_init(on_gpu, seed=7)
        for got, want in zip(on_gpu.state_dict().values(), net.state_dict().values(), strict=True):
            assert torch.equal(got.cpu(), want)
