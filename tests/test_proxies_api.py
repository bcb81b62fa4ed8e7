"""Registry, public contract, statuses, no mutation of the caller's model, determinism, shared passes."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import archrank.proxies.registry as registry
from archrank.proxies import (
    DEFAULT_PROXIES,
    SUITE_ZERO_PROXIES,
    ProxyResult,
    create_proxy,
    get_proxy_info,
    list_proxies,
    proxy_config_hash,
    register_proxy,
    score,
    score_detailed,
)

ALL = [
    "grad_norm",
    "snip",
    "grasp",
    "fisher",
    "jacov",
    "synflow",
    "plain",
    "params",
    "flops",
    "l2_norm",
    "nwot",
    "epe_nas",
    "zen",
    "zico",
    "meco",
    "swap",
    "az_expressivity",
    "az_progressivity",
    "az_trainability",
    "az_complexity",
]


def small_cnn(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1, bias=False),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.Sequential(nn.Conv2d(6, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU()),
        nn.Sequential(nn.Conv2d(6, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.ReLU()),
        nn.Dropout(0.5),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 4),
    )


def small_batch(n: int = 12, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 8, 8, generator=gen), torch.arange(n) % 4


def test_every_proxy_is_registered_with_metadata_and_docstring():
    names = list_proxies()
    assert set(ALL) <= set(names)  # other packages (archrank.eznas, archrank.eproxy) may register more
    for name in ALL:
        info = get_proxy_info(name)
        assert info.name == name and info.higher_is_better
        assert info.citation and len(info.description) > 20, name
    assert len(SUITE_ZERO_PROXIES) == 13 and set(DEFAULT_PROXIES) <= set(names)
    # the default set is the affordable one: no backward pass at all
    assert not any(get_proxy_info(p).needs_labels or get_proxy_info(p).needs_hessian for p in DEFAULT_PROXIES)


def test_wildcards_and_metadata_flags():
    assert list_proxies("grad*") == ["grad_norm"]
    assert sorted(list_proxies("az_*")) == ["az_complexity", "az_expressivity", "az_progressivity", "az_trainability"]
    assert get_proxy_info("jacov").negated and not get_proxy_info("synflow").negated
    assert get_proxy_info("synflow").needs_double and get_proxy_info("synflow").bn_mode == "off"
    assert get_proxy_info("grasp").needs_hessian and get_proxy_info("grasp").needs_labels
    assert get_proxy_info("jacov").needs_input_gradients and not get_proxy_info("jacov").needs_labels
    nwot = get_proxy_info("nwot")
    assert nwot.needs_data and not nwot.needs_labels and not nwot.needs_gradients
    for name in ("params", "flops", "l2_norm", "synflow", "zen", "az_complexity"):
        assert not get_proxy_info(name).needs_data, name
    with pytest.raises(KeyError, match="unknown proxy"):
        get_proxy_info("nope")


def test_create_proxy_validates_config_and_hash_is_stable():
    with pytest.raises(TypeError, match="no config option"):
        create_proxy("fisher", colour="red")
    assert proxy_config_hash("fisher", {}) == proxy_config_hash("fisher", {"weighting": "fan_in"})
    assert proxy_config_hash("fisher", {"weighting": "none"}) != proxy_config_hash("fisher", {})
    assert proxy_config_hash("fisher", {}) != proxy_config_hash("snip", {})
    assert len(proxy_config_hash("zen", {"mixup_gamma": 0.01})) == 16
    assert create_proxy("fisher", weighting="none").config_hash == proxy_config_hash("fisher", {"weighting": "none"})


def test_user_registered_proxy_in_a_few_lines():
    @register_proxy("test_grad_abs", requires=("weight_grads",), citation="test")
    def grad_abs(probe, *, power: float = 1.0) -> float:
        """Sum of |dL/dW|**power over conv/linear weights (a test proxy)."""
        return sum(float(g.abs().pow(power).sum()) for g in probe.get("weight_grads").values())

    try:
        assert "test_grad_abs" in list_proxies("test_*")
        assert get_proxy_info("test_grad_abs").needs_labels
        with pytest.raises(KeyError, match="already registered"):
            register_proxy("test_grad_abs")(grad_abs)
        x, y = small_batch()
        got = score(small_cnn(), ["test_grad_abs", create_proxy("grad_norm")], batch=(x, y))
        assert got["test_grad_abs"] > 0 and got["grad_norm"] > 0
        squared = score(small_cnn(), [create_proxy("test_grad_abs", power=2.0)], batch=(x, y))["test_grad_abs"]
        assert squared != got["test_grad_abs"]
    finally:
        registry._REGISTRY.pop("test_grad_abs", None)


def test_score_returns_floats_and_detailed_results():
    x, y = small_batch()
    plain = score(small_cnn(), ["synflow", "nwot"], batch=(x, y), seed=0)
    assert set(plain) == {"synflow", "nwot"} and all(isinstance(v, float) for v in plain.values())
    detailed = score(small_cnn(), ["synflow", "nwot"], batch=(x, y), seed=0, detailed=True)
    assert all(isinstance(r, ProxyResult) and r.status == "ok" and r.seconds >= 0 for r in detailed.values())
    assert {k: r.value for k, r in detailed.items()} == plain
    assert score_detailed(small_cnn(), "nwot", (x, y))["nwot"].value == plain["nwot"]


def _snapshot(model: nn.Module):
    return (
        {k: v.clone() for k, v in model.state_dict().items()},
        [p.requires_grad for p in model.parameters()],
        [m.training for m in model.modules()],
        [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks)) for m in model.modules()],
        [p.grad for p in model.parameters()],
    )


def test_caller_model_and_global_rng_are_never_modified():
    model = small_cnn()
    model.eval()
    model[3].train()  # mixed modes must survive
    model[0].weight.requires_grad_(False)
    before = _snapshot(model)
    rng = torch.get_rng_state()
    x, y = small_batch()
    results = score(model, ALL, batch=(x, y), seed=3, detailed=True)
    assert all(r.status == "ok" for r in results.values()), {k: r.reason for k, r in results.items() if not r.ok}
    after = _snapshot(model)
    assert before[0].keys() == after[0].keys()
    for key in before[0]:
        assert torch.equal(before[0][key], after[0][key]), key  # incl. BN running stats
    assert before[1:4] == after[1:4]
    assert all(g is None for g in after[4])
    assert torch.equal(rng, torch.get_rng_state())
    assert not x.requires_grad and x.grad is None


def test_identical_seeds_give_identical_scores_and_seed_matters():
    x, y = small_batch()
    a = score(small_cnn(), ALL, batch=(x, y), seed=5)
    b = score(small_cnn(), ALL, batch=(x, y), seed=5)
    assert a == b  # bit-identical, dropout included
    c = score(small_cnn(), ["zen", "az_trainability", "grad_norm"], batch=(x, y), seed=6)
    assert c["zen"] != a["zen"] and c["az_trainability"] != a["az_trainability"]
    assert c["grad_norm"] != a["grad_norm"]  # the model's dropout draws from the seeded generator


def test_fused_equals_one_at_a_time():
    x, y = small_batch()
    model = small_cnn()
    fused = score(model, ALL, batch=(x, y), seed=1)
    for name in ALL:
        alone = score(model, [name], batch=(x, y), seed=1)[name]
        assert alone == pytest.approx(fused[name], rel=1e-5, abs=1e-9), name


def test_wildcard_requests_and_duplicates():
    x, y = small_batch()
    got = score(small_cnn(), ["az_*", "az_complexity", "nwot"], batch=(x, y))
    assert list(got) == [*list_proxies("az_*"), "nwot"]
    with pytest.raises(ValueError, match="twice"):
        score(small_cnn(), [create_proxy("fisher"), create_proxy("fisher", weighting="none")], batch=(x, y))
    with pytest.raises(KeyError):
        score(small_cnn(), ["zz*"], batch=(x, y))


class _NaNNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.relu(self.conv(x)).mean((2, 3))
        return self.fc(h) * float("nan")


def test_nan_is_status_nan_never_replaced_by_a_number():
    x, y = small_batch()
    results = score(_NaNNet(), ["grad_norm", "snip", "jacov", "fisher", "params"], batch=(x, y), detailed=True)
    for name in ("grad_norm", "snip", "jacov", "fisher"):
        res = results[name]
        assert res.status == "nan" and math.isnan(res.value) and name in res.reason, (name, res)
    assert results["params"].status == "ok" and results["params"].value == 3 * 4 * 9 + 4 + 4 * 4 + 4
    assert math.isnan(score(_NaNNet(), ["snip"], batch=(x, y))["snip"])


def test_failing_proxy_is_recorded_and_others_still_succeed():
    @register_proxy("test_broken", requires=("weight_grads",), citation="test")
    def broken(probe) -> float:
        """A proxy that always fails (test)."""
        raise RuntimeError("boom")

    try:
        x, y = small_batch()
        res = score(small_cnn(), ["test_broken", "snip", "nwot"], batch=(x, y), detailed=True)
        assert res["test_broken"].status == "failed" and "boom" in res["test_broken"].reason
        assert res["snip"].ok and res["nwot"].ok
    finally:
        registry._REGISTRY.pop("test_broken", None)


def test_missing_data_or_labels_fail_only_the_proxies_that_need_them():
    x, _ = small_batch()
    no_labels = score(small_cnn(), ["snip", "nwot", "jacov", "zen"], batch=x, detailed=True)
    assert no_labels["snip"].status == "failed" and "labels" in no_labels["snip"].reason
    assert no_labels["nwot"].ok and no_labels["jacov"].ok and no_labels["zen"].ok
    no_data = score(small_cnn(), ["nwot", "synflow", "params", "flops", "zen"], input_shape=(3, 8, 8), detailed=True)
    assert no_data["nwot"].status == "failed" and "batch" in no_data["nwot"].reason
    assert all(no_data[k].ok for k in ("synflow", "params", "flops", "zen"))
    assert score(small_cnn(), ["synflow"], detailed=True)["synflow"].status == "failed"  # no shape at all


class _OOMAbove(nn.Module):
    """Raises an out-of-memory error whenever it sees more than ``limit`` samples at once."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.body = small_cnn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return self.body(x)


def test_out_of_memory_splits_the_batch_then_fails_cleanly():
    x, y = small_batch(n=12)
    split = score(_OOMAbove(4), ["snip", "grasp", "jacov", "nwot", "params"], batch=(x, y), detailed=True)
    assert all(r.ok for r in split.values()), split
    assert "split into 4 chunks" in split["snip"].reason and split["params"].reason is None
    # with BatchNorm per chunk the values differ from the unsplit batch, but they are finite scores
    never = score(_OOMAbove(0), ["snip", "nwot", "params"], batch=(x, y), detailed=True)
    assert never["snip"].status == "failed" and "out of memory" in never["snip"].reason
    assert never["params"].ok


def test_layout_fallback_for_models_that_view_channels_last_tensors():
    class ViewNet(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 2, 3, padding=1)
            self.relu = nn.ReLU()
            self.fc = nn.Linear(2 * 8 * 8, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(self.relu(self.conv(x)).view(x.shape[0], -1))

    x, y = small_batch()
    model = ViewNet()
    res = score(model, ["snip", "nwot"], batch=(x, y), detailed=True)
    assert res["snip"].ok and res["nwot"].ok and "contiguous layout" in res["snip"].reason
    contiguous = score(model, ["snip", "nwot"], batch=(x, y), memory_format="contiguous")
    assert contiguous == {k: r.value for k, r in res.items()}


def test_cuda_request_without_cuda_raises():
    if torch.cuda.is_available():
        pytest.skip("CUDA present")
    with pytest.raises(RuntimeError, match="CUDA"):
        score(small_cnn(), ["params"], device="cuda")


def test_seconds_split_shared_passes():
    x, y = small_batch()
    res = score(small_cnn(), ["grad_norm", "snip", "plain", "params"], batch=(x, y), detailed=True)
    shared = [res[k].seconds for k in ("grad_norm", "snip", "plain")]
    assert max(shared) < 3 * min(shared) + 0.01  # each pays a third of the one shared pass


class _TokenModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 8)
        self.fc1 = nn.Linear(8, 64)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(64, 3)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.relu(self.fc1(self.emb(tokens).mean(1))))


def test_any_module_token_model_scores_what_applies_and_explains_the_rest():
    torch.manual_seed(0)
    tokens, y = torch.randint(0, 20, (10, 5)), torch.arange(10) % 3
    res = score(
        _TokenModel(),
        ["grad_norm", "snip", "fisher", "nwot", "meco", "params", "jacov"],
        batch=(tokens, y),
        detailed=True,
    )
    for name in ("grad_norm", "snip", "fisher", "nwot", "meco", "params"):
        assert res[name].ok, (name, res[name].reason)
    assert res["jacov"].status == "failed"  # no input gradient through integer token ids


def test_scoring_inside_callers_no_grad_block():
    x, y = small_batch()
    model = small_cnn()
    with torch.no_grad():
        inside = score(model, ["snip", "grasp", "jacov", "synflow", "zico", "az_trainability"], batch=(x, y))
    outside = score(model, ["snip", "grasp", "jacov", "synflow", "zico", "az_trainability"], batch=(x, y))
    assert inside == outside and all(math.isfinite(v) for v in inside.values())
