"""Eproxy (Li et al., arXiv 2210.09459): frozen barrier, deterministic targets and scores, feature extraction,
registry integration. Tiny NB201 networks (C=4, N=1) on 16×16 inputs and 3 steps keep every test fast."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import archrank.eproxy  # noqa: F401  (registers "eproxy")
from archrank.eproxy import (
    BranchConfig,
    EproxyConfig,
    EproxyHead,
    eproxy_score,
    load_config,
    make_extractor,
    make_signal,
    make_targets,
    resolve_config,
    run_eproxy,
    save_config,
)
from archrank.proxies import create_proxy, get_proxy_info, list_proxies, proxy_config_hash, score

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
TINY = EproxyConfig(
    branches=(BranchConfig(signals=("wave_h", "dot"), head_channels=16, target_channels=8),),
    steps=3,
    size=4,
    lr=0.5,
)


@pytest.fixture()
def tiny_model(nb201) -> nn.Module:
    torch.manual_seed(0)
    return nb201.build(nb201.parse(ARCH), C=4, N=1)


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(1))


def _state(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_barrier_frozen_head_trained(tiny_model: nn.Module, x: torch.Tensor) -> None:
    run = run_eproxy(tiny_model, TINY, x, seed=3)
    assert run.head is not None
    fresh = EproxyHead(TINY, [16], seed=3)  # the deepest NB201 stage has 4C = 16 channels
    for trained, initial in zip(run.head.barriers, fresh.barriers, strict=True):
        assert not trained.weight.requires_grad
        assert torch.equal(trained.weight.detach().cpu(), initial.weight)
        assert torch.equal(trained.bias.detach().cpu(), initial.bias)
    head_conv = run.head.heads[0][0].weight.detach().cpu()
    assert not torch.allclose(head_conv, fresh.heads[0][0].weight)
    assert len(run.result.losses) == TINY.steps
    assert run.result.losses[-1] < run.result.losses[0]  # it learns something in 3 steps


def test_callers_model_untouched(tiny_model: nn.Module, x: torch.Tensor) -> None:
    tiny_model.eval()
    before = _state(tiny_model)
    eproxy_score(tiny_model, TINY, (x, torch.zeros(16, dtype=torch.long)), seed=0)
    after = tiny_model.state_dict()
    assert not tiny_model.training
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(p.grad is None for p in tiny_model.parameters())


def test_inputs_are_a_copy_of_the_callers_batch(x: torch.Tensor) -> None:
    """A model that writes into its input (a first in-place ReLU) must not change the caller's batch."""
    from archrank.eproxy.train import eproxy_inputs

    batch = x.clone()
    inputs = eproxy_inputs(EproxyConfig(batch_size=8), (batch, torch.zeros(16, dtype=torch.long)))
    assert torch.equal(inputs, x[:8])
    nn.ReLU(inplace=True)(inputs)
    assert torch.equal(batch, x)


def test_inputs_from_a_float64_batch_are_float32_and_a_copy(x: torch.Tensor) -> None:
    """A float64 batch is converted once to float32; the result still does not alias the caller's data."""
    from archrank.eproxy.train import eproxy_inputs

    batch = x.double()
    inputs = eproxy_inputs(EproxyConfig(batch_size=8), (batch, torch.zeros(16, dtype=torch.long)))
    assert inputs.dtype == torch.float32
    assert torch.equal(inputs, batch[:8].float())
    inputs.fill_(0.0)
    assert torch.equal(batch, x.double())


def test_deterministic_for_a_seed(tiny_model: nn.Module, x: torch.Tensor) -> None:
    a = eproxy_score(tiny_model, TINY, x, seed=5)
    b = eproxy_score(tiny_model, TINY, x, seed=5)
    c = eproxy_score(tiny_model, TINY, x, seed=6)
    assert a.losses == b.losses and a.value == b.value
    assert c.losses != a.losses
    assert a.seconds > 0 and a.macs is not None and a.macs > 0


def test_score_formula(tiny_model: nn.Module, x: torch.Tensor) -> None:
    cfg = EproxyConfig.from_dict({"alpha": 0.3, "macs_ref": 2.0}, base=TINY)
    res = eproxy_score(tiny_model, cfg, x)
    assert res.loss == res.losses[-1]
    assert res.score == pytest.approx(res.loss * (1 - 0.3 * res.macs / 2.0))
    assert res.value == -res.score
    two = EproxyConfig.from_dict(
        {"branches": [TINY.branches[0], {"stage": -2, "signals": ["grid"], "head_channels": 8, "target_channels": 4}]},
        base=TINY,
    )
    res2 = eproxy_score(tiny_model, two, x)
    assert res2.loss == pytest.approx(res2.branch_losses[0] + 0.5 * res2.branch_losses[1], rel=1e-6)


def test_input_independent_model_is_undefined(nb201, x: torch.Tensor) -> None:
    dead = nb201.build(nb201.parse("|none~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|none~2|"), C=4, N=1)
    assert not nb201.is_valid(nb201.parse("|none~0|+|nor_conv_3x3~0|none~1|+|none~0|skip_connect~1|none~2|"))
    res = eproxy_score(dead, TINY, x)
    assert math.isnan(res.value) and "depend on the input" in res.reason
    out = score(dead, [create_proxy("eproxy", config=TINY.to_dict())], batch=x, detailed=True)["eproxy"]
    assert out.status == "nan" and "depend on the input" in (out.reason or "")


def test_targets_deterministic() -> None:
    inputs = torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    cfg = EproxyConfig(branches=(BranchConfig(signals=("wave_l", "wave_m", "wave_h", "grid", "dot", "net")),))
    first = make_targets(cfg, inputs)
    second = make_targets(cfg, inputs.clone())
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert first[0].shape == (16, 64, 8, 8)
    other = make_targets(EproxyConfig.from_dict({"target_seed": 1}, base=cfg), inputs)
    assert not torch.equal(first[0], other[0])
    for family in ("wave_l", "wave_m", "wave_h", "grid", "dot", "net"):
        sig = make_signal(family, batch=4, channels=8, size=8, seed=0, inputs=inputs[:4])
        assert sig.shape == (4, 8, 8, 8) and torch.isfinite(sig).all()
        assert float(sig.abs().max()) > 0
    waves = make_signal("wave_h", batch=2, channels=8, size=8, seed=0)
    assert torch.equal(waves[0], waves[1])  # waves are shared across inputs, dots are not
    dots = make_signal("dot", batch=2, channels=8, size=8, seed=0)
    assert not torch.equal(dots[0], dots[1])
    assert set(dots.unique().tolist()) <= {-1.0, 0.0, 1.0}


def test_synthetic_inputs_need_no_data(tiny_model: nn.Module) -> None:
    cfg = EproxyConfig.from_dict({"inputs": "synthetic"}, base=TINY)
    a = eproxy_score(tiny_model, cfg, None, input_shape=(3, 16, 16))
    b = eproxy_score(tiny_model, cfg, None, input_shape=(3, 16, 16))
    assert a.ok and a.value == b.value
    with pytest.raises(ValueError, match="needs a data batch"):
        eproxy_score(tiny_model, TINY, None)


def test_registered_and_scored_through_engine(tiny_model: nn.Module, x: torch.Tensor) -> None:
    assert "eproxy" in list_proxies()
    info = get_proxy_info("eproxy")
    assert info.negated and info.higher_is_better and not info.needs_data
    proxy = create_proxy("eproxy", config=TINY.to_dict())
    out = score(tiny_model, [proxy], batch=(x, torch.zeros(16, dtype=torch.long)), seed=2, detailed=True)
    res = out["eproxy"]
    assert res.ok and res.seconds > 0
    direct = eproxy_score(tiny_model, TINY, x, seed=2)
    assert res.value == pytest.approx(direct.value, rel=1e-5)
    synthetic = create_proxy("eproxy", config={**TINY.to_dict(), "inputs": "synthetic"})
    free = score(tiny_model, [synthetic], batch=None, input_shape=(3, 16, 16), detailed=True)["eproxy"]
    assert free.ok
    missing = score(tiny_model, [proxy], batch=None, input_shape=(3, 16, 16), detailed=True)["eproxy"]
    assert missing.status == "failed" and "batch" in (missing.reason or "")
    assert proxy_config_hash("eproxy", {"config": "default"}) == proxy_config_hash("eproxy", {})


class _Plain(nn.Module):
    """A user model without forward_features: two stages then a classifier."""

    def __init__(self) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.block2(self.block1(x)).mean(dim=(2, 3)))


def test_feature_extraction_modes(x: torch.Tensor) -> None:
    model = _Plain()
    auto = make_extractor(model)(x)
    assert [tuple(f.shape[1:]) for f in auto] == [(8, 16, 16), (16, 8, 8)]
    hooks = make_extractor(model, ["block1", "block2"])(x)
    assert torch.allclose(hooks[1], auto[1])
    fx = make_extractor(model, ["block1_2", "block2_2"])(x)  # not module names: torch.fx node names
    assert torch.allclose(fx[1], auto[1])
    with pytest.raises(KeyError):
        make_extractor(model, ["nope"])
    cfg = EproxyConfig.from_dict({"size": 4}, base=TINY)
    res = eproxy_score(model, cfg, x, feature_nodes=("block1", "block2"))
    assert res.ok
    assert math.isfinite(eproxy_score(model, cfg, x).value)


def test_config_roundtrip(tmp_path) -> None:
    path = save_config(TINY, tmp_path / "c.json", name="tiny", meta={"note": 1})
    assert load_config(path) == TINY
    assert resolve_config(str(path)) == TINY
    assert resolve_config("default") == EproxyConfig()
    assert resolve_config({"inputs": "synthetic"}).inputs == "synthetic"
    assert resolve_config("default-synthetic").inputs == "synthetic"
    assert EproxyConfig.from_dict(TINY.to_dict()).key == TINY.key
    with pytest.raises(KeyError):
        EproxyConfig.from_dict({"bogus": 1})
    with pytest.raises(KeyError):
        resolve_config("no-such-preset")
    with pytest.raises(ValueError):
        BranchConfig(signals=("sparkles",))
    # one input makes every feature map look input-independent (every score NaN): refused up front
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        EproxyConfig(batch_size=1)
    assert EproxyConfig(batch_size=2).batch_size == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_matches_cpu(tiny_model: nn.Module, x: torch.Tensor) -> None:
    cpu = eproxy_score(tiny_model, TINY, x, seed=1)
    gpu = eproxy_score(tiny_model, TINY, x, seed=1, device="cuda")
    again = eproxy_score(tiny_model, TINY, x, seed=1, device="cuda")
    assert gpu.ok and gpu.losses[0] == pytest.approx(cpu.losses[0], rel=1e-3)
    assert again.losses == pytest.approx(gpu.losses, rel=1e-5)
    assert next(tiny_model.parameters()).device.type == "cpu"
