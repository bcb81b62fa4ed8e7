"""Hand-computed values of every proxy on tiny networks (numpy formulas, independent of the probe's autograd)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from archrank.proxies import Probe, create_proxy, get_proxy_info, score
from archrank.proxies.probe import _seed_for


def _linear_batch(n: int = 6, d: int = 3, c: int = 4, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    model = nn.Linear(d, c, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.randn(c, d, generator=gen, dtype=torch.float64).float())
    x = torch.randn(n, d, generator=gen)
    y = torch.arange(n) % c
    return model, x, y


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def _ce_grad(model: nn.Linear, x: torch.Tensor, y: torch.Tensor):
    """Closed form for a bias-free linear layer with mean cross-entropy: dL/dz, dL/dW, p, z (float64 numpy)."""
    w = model.weight.detach().double().numpy()
    xs = x.double().numpy()
    z = xs @ w.T
    p = _softmax(z)
    onehot = np.eye(w.shape[0])[y.numpy()]
    dz = (p - onehot) / len(xs)
    return dz, dz.T @ xs, p, z, w, xs


def test_grad_norm_snip_plain_linear_closed_form():
    model, x, y = _linear_batch()
    _, grad, _, _, w, _ = _ce_grad(model, x, y)
    got = score(model, ["grad_norm", "snip", "plain"], batch=(x, y))
    assert got["grad_norm"] == pytest.approx(np.linalg.norm(grad), rel=1e-5)
    assert got["snip"] == pytest.approx(np.abs(w * grad).sum(), rel=1e-5)
    assert got["plain"] == pytest.approx((w * grad).sum(), rel=1e-4, abs=1e-7)


def test_grad_norm_sums_layer_norms_not_global_norm():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    x, y = torch.randn(8, 3), torch.tensor([0, 1] * 4)
    out = nn.functional.cross_entropy(model(x), y)
    g1, g2 = torch.autograd.grad(out, [model[0].weight, model[2].weight])
    got = score(model, "grad_norm", batch=(x, y))["grad_norm"]
    assert got == pytest.approx(float(g1.norm() + g2.norm()), rel=1e-5)
    assert got > float(torch.cat([g1.flatten(), g2.flatten()]).norm())


def test_grasp_linear_explicit_hessian():
    model, x, y = _linear_batch()
    _, grad, p, _, w, xs = _ce_grad(model, x, y)
    c, d = w.shape
    hess = np.zeros((c * d, c * d))
    for n in range(len(xs)):
        a = np.diag(p[n]) - np.outer(p[n], p[n])
        hess += np.kron(a, np.outer(xs[n], xs[n])) / len(xs)
    hg = (hess @ grad.reshape(-1)).reshape(c, d)
    expected = -(w * hg).sum()
    assert score(model, "grasp", batch=(x, y))["grasp"] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("weighting", ["fan_in", "none"])
def test_fisher_linear_closed_form(weighting):
    model, x, y = _linear_batch()
    dz, _, _, z, w, _ = _ce_grad(model, x, y)
    delta = 0.5 * ((z * dz) ** 2).mean(0)
    expected = delta.sum() * (w.shape[1] if weighting == "fan_in" else 1)
    got = score(model, [create_proxy("fisher", weighting=weighting)], batch=(x, y))["fisher"]
    assert got == pytest.approx(expected, rel=1e-4)


def test_fisher_conv_sums_over_positions_before_squaring():
    torch.manual_seed(1)
    conv = nn.Conv2d(2, 3, 1, bias=False)
    model = nn.Sequential(conv, nn.Flatten(), nn.Linear(3 * 2 * 2, 2, bias=False))
    x, y = torch.randn(5, 2, 2, 2), torch.tensor([0, 1, 0, 1, 1])
    a = conv(x)
    a.retain_grad()
    nn.functional.cross_entropy(model[2](model[1](a)), y).backward()
    g_conv = (a * a.grad).sum((2, 3))
    logits = model(x)
    lg = logits.detach().requires_grad_(True)
    nn.functional.cross_entropy(lg, y).backward()
    g_lin = logits.detach() * lg.grad
    expected = 0.5 * (g_conv.double() ** 2).mean(0).sum() * 2 + 0.5 * (g_lin.double() ** 2).mean(0).sum() * 12
    assert score(model, "fisher", batch=(x, y))["fisher"] == pytest.approx(float(expected.detach()), rel=1e-4)


class _Square(nn.Module):
    """Σ_d x_d² per sample: its input Jacobian row is 2x, so correlations are those of the inputs."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x**2).sum(1, keepdim=True)


def test_jacov_matches_eigenvalues_of_input_correlation():
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(7, 10, generator=gen)
    corr = np.corrcoef(x.double().numpy())
    lam = np.linalg.eigvalsh(corr)
    k = 1e-5
    expected = -np.sum(np.log(lam + k) + 1.0 / (lam + k))
    got = score(_Square(), "jacov", batch=(x, torch.zeros(7, dtype=torch.long)))["jacov"]
    assert got == pytest.approx(expected, rel=1e-5)


def test_jacov_identical_jacobians_closed_form_and_orientation():
    # f(x) = W x: every sample has the same Jacobian row Wᵀ1, correlation all ones, eigenvalues (N, 0, ..., 0).
    model, x, y = _linear_batch(n=5)
    k = 1e-5
    n = 5
    expected = -((math.log(n + k) + 1 / (n + k)) + (n - 1) * (math.log(k) + 1 / k))
    same = score(model, "jacov", batch=(x, y))["jacov"]
    assert same == pytest.approx(expected, rel=1e-6)
    diverse = score(_Square(), "jacov", batch=(x, y))["jacov"]
    assert diverse > same  # decorrelated Jacobians are predicted better


def test_epe_nas_per_class_correlations():
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(9, 6, generator=gen)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2, 3])
    k = 1e-5
    xs = x.double().numpy()
    expected = 0.0
    for c in range(4):
        rows = xs[y.numpy() == c]
        s = math.log(1 + k) if len(rows) == 1 else np.log(np.abs(np.corrcoef(rows)) + k).sum()
        expected += abs(s)
    assert score(_Square(), "epe_nas", batch=(x, y))["epe_nas"] == pytest.approx(expected, rel=1e-6)


def _codes_batch():
    x = torch.tensor(
        [
            [1.0, -1.0, 2.0, -3.0, 0.5, 1.0],
            [1.0, 1.0, -2.0, -3.0, 0.5, -1.0],
            [-1.0, -1.0, 2.0, 3.0, 0.5, 1.0],
            [1.0, -1.0, -2.0, 3.0, -0.5, 1.0],
        ]
    )
    return x, torch.tensor([0, 1, 0, 1])


def test_nwot_counts_code_agreements():
    x, y = _codes_batch()
    c = (x > 0).numpy()
    agree = np.array([[np.sum(c[i] == c[j]) for j in range(4)] for i in range(4)], dtype=float)
    expected = np.linalg.slogdet(agree)[1]
    assert score(nn.ReLU(), "nwot", batch=(x, y))["nwot"] == pytest.approx(expected, rel=1e-9)


def test_nwot_identical_samples_is_nan_not_a_number():
    x = torch.tensor([[1.0, -1.0, 2.0], [1.0, -1.0, 2.0], [-1.0, 1.0, 2.0]])
    res = score(nn.ReLU(), "nwot", batch=(x, torch.zeros(3, dtype=torch.long)), detailed=True)["nwot"]
    assert res.status == "nan" and math.isnan(res.value) and "singular" in res.reason


def test_swap_counts_distinct_unit_patterns():
    x, y = _codes_batch()
    model = nn.Sequential(nn.Unflatten(1, (6, 1, 1)), nn.ReLU())  # the ReLU sees a 4-D input
    c = (x > 0).numpy()
    expected = len({tuple(c[:, u]) for u in range(c.shape[1])})
    assert score(model, "swap", batch=(x, y))["swap"] == expected


@pytest.mark.parametrize("n", [52, 53, 64, 70])
def test_swap_packs_many_samples_exactly(n):
    gen = torch.Generator().manual_seed(5)
    x = torch.randn(n, 16, 4, 4, generator=gen)
    x[:, 1] = x[:, 0]  # duplicate units collapse
    x[-1, 2:4] = -x[-1, 2:4]  # codes differing only in the last sample (the highest bit) stay distinct
    x[:, 3] = x[:, 2]
    x[-1, 3] = -x[-1, 2]
    c = (x > 0).reshape(n, -1).numpy()
    expected = len({tuple(c[:, u]) for u in range(c.shape[1])})
    assert score(nn.ReLU(), "swap", batch=(x, torch.zeros(n, dtype=torch.long)))["swap"] == expected


class _Copy(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 1.0


def test_meco_min_eigenvalue_of_first_sample_channel_correlation():
    gen = torch.Generator().manual_seed(6)
    x = torch.randn(3, 4, 5, 5, generator=gen)
    corr = np.corrcoef(x[0].reshape(4, -1).double().numpy())
    expected = np.linalg.eigvalsh(corr)[0]
    got = score(_Copy(), "meco", batch=(x, torch.zeros(3, dtype=torch.long)))["meco"]
    assert got == pytest.approx(expected, rel=1e-6)


def test_meco_constant_channel_counts_as_zero_correlation():
    x = torch.randn(2, 3, 4, 4)
    x[0, 1] = 2.0  # constant channel: NaN correlations set to 0 as in the reference
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(x[0].reshape(3, -1).double().numpy())
    corr = np.nan_to_num(corr, nan=0.0)
    expected = np.linalg.eigvalsh(corr)[0]
    got = score(_Copy(), "meco", batch=(x, torch.zeros(2, dtype=torch.long)))["meco"]
    assert got == pytest.approx(expected, rel=1e-6)


def test_synflow_two_layer_mlp_with_batchnorm_removed():
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(3, 4, bias=False), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2, bias=False))
    w1 = model[0].weight.detach().double().abs().numpy()
    w2 = model[3].weight.detach().double().abs().numpy()
    r = np.ones(2) @ w2 @ w1 @ np.ones(3)  # R = 1ᵀ|W2||W1|1, BatchNorm off
    # Each layer's Σ |W ⊙ ∂R/∂W| equals R (R is linear in each layer), so the sum is 2R.
    got = score(model, "synflow", input_shape=(3,))["synflow"]
    assert got == pytest.approx(math.log(2 * r), rel=1e-12)
    raw = score(model, [create_proxy("synflow", log=False)], input_shape=(3,))["synflow"]
    assert raw == pytest.approx(2 * r, rel=1e-12)


def test_zen_single_conv_closed_form():
    # conv1x1 (no BN) then global pooling: pre-GAP map = W x, so Δ = mean_n Σ |W (γ ε_n)|.
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    seed, gamma = 3, 0.01
    gen = torch.Generator().manual_seed(_seed_for(seed, "zen"))
    w = torch.empty(4, 3, 1, 1)
    nn.init.normal_(w, 0.0, 1.0, generator=gen)
    x1 = torch.randn(5, 3, 6, 6, generator=gen)
    x2 = torch.randn(5, 3, 6, 6, generator=gen)
    f1 = nn.functional.conv2d(x1.double(), w.double())
    f2 = nn.functional.conv2d((x1 + gamma * x2).double(), w.double())
    expected = math.log(float((f1 - f2).abs().sum((1, 2, 3)).mean()))
    got = score(model, [create_proxy("zen", batch_size=5)], input_shape=(3, 6, 6), seed=seed)["zen"]
    assert got == pytest.approx(expected, rel=1e-4)


def test_zen_adds_log_bn_std_and_ignores_callers_weights():
    torch.manual_seed(8)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    x = torch.randn(6, 3, 8, 8)
    a = score(model, "zen", batch=(x,), seed=1)["zen"]
    with torch.no_grad():
        model[0].weight.mul_(5.0)
    b = score(model, "zen", batch=(x,), seed=1)["zen"]
    assert a == b  # Zen re-initialises: the caller's weights do not matter
    assert score(model, "zen", batch=(x,), seed=2)["zen"] != a


def test_zico_two_chunks_closed_form():
    model, x, y = _linear_batch(n=8)
    g = []
    for part in (slice(0, 4), slice(4, 8)):
        _, grad, *_ = _ce_grad(model, x[part], y[part])
        g.append(grad.reshape(-1))
    g = np.stack(g)
    std, mean_abs = g.std(0), np.abs(g).mean(0)
    nz = std != 0
    expected = math.log((mean_abs[nz] / std[nz]).sum())
    assert score(model, "zico", batch=(x, y))["zico"] == pytest.approx(expected, rel=1e-4)


def _conv_chain(scale: float) -> nn.Module:
    torch.manual_seed(9)
    model = nn.Sequential(nn.Conv2d(6, 6, 1, bias=False), nn.Conv2d(6, 6, 1, bias=False))
    q, _ = torch.linalg.qr(torch.randn(6, 6, dtype=torch.float64))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(6).reshape(6, 6, 1, 1))
        model[1].weight.copy_((scale * q).float().reshape(6, 6, 1, 1))
    return model


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_az_trainability_orthogonal_block(scale):
    # Block 2 is an orthogonal map Q times `scale`: E[g_in g_outᵀ] = scale·Qᵀ E[g gᵀ] ≈ scale·Qᵀ, so σ ≈ scale.
    model = _conv_chain(scale)
    x = torch.randn(64, 6, 8, 8)
    cfg = {"init": "none", "blocks": ("0", "1")}
    got = score(model, [create_proxy("az_trainability", **cfg)], batch=(x,), seed=0)["az_trainability"]
    # exact value with the probe's Rademacher draw
    gen = torch.Generator().manual_seed(_seed_for(0, "az"))
    g_out = (torch.bernoulli(torch.full((64, 6, 8, 8), 0.5), generator=gen) - 0.5) * 2
    m = model[1].weight.detach().double().reshape(6, 6)
    go = g_out.double().permute(0, 2, 3, 1).reshape(-1, 6)
    gi = go @ m  # g_in = Mᵀ g_out at every position
    sigma = float(torch.linalg.svdvals(gi.T @ go / go.shape[0]).max())
    assert got == pytest.approx(-sigma - 1 / (sigma + 1e-6) + 2, rel=1e-6, abs=1e-9)
    assert got == pytest.approx(-scale - 1 / scale + 2, abs=0.15)


def test_az_expressivity_and_progressivity_closed_form():
    model = _conv_chain(1.0)
    x = torch.randn(32, 6, 4, 4)
    cfg = {"init": "none", "blocks": ("0", "1"), "inputs": "data"}
    feats = [x.double(), nn.functional.conv2d(x.double(), model[1].weight.detach().double())]

    def entropy(f: torch.Tensor) -> float:
        flat = f.permute(0, 2, 3, 1).reshape(-1, f.shape[1])
        flat = flat - flat.mean(0)
        lam = np.clip(np.linalg.eigvalsh((flat.T @ flat / flat.shape[0]).numpy()), 0, None)
        p = lam / lam.sum()
        return float(-(p * np.log(p + 1e-8)).sum())

    e = [entropy(f) for f in feats]
    got = score(model, [create_proxy(n, **cfg) for n in ("az_expressivity", "az_progressivity")], batch=(x,))
    assert got["az_expressivity"] == pytest.approx(sum(e), rel=1e-5)
    assert got["az_progressivity"] == pytest.approx(e[1] - e[0], abs=1e-5)
    assert sum(e) <= 2 * math.log(6) + 1e-9  # isotropy entropy is at most log(channels) per block


def test_az_identity_block_is_nan_with_its_reason():
    # official code: −inf (ranked last); archrank never stores an inf as a number: status nan with the reason
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Identity(), nn.Conv2d(3, 3, 1))
    cfg = {"init": "none", "blocks": ("0", "1", "2")}
    res = score(model, [create_proxy("az_trainability", **cfg)], input_shape=(3, 5, 5), detailed=True)
    res = res["az_trainability"]
    assert res.status == "nan" and math.isnan(res.value) and "identity block" in res.reason
    live = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1), nn.Conv2d(3, 3, 1))
    assert score(live, [create_proxy("az_trainability", **cfg)], input_shape=(3, 5, 5))["az_trainability"] > -10


def test_az_zero_feature_makes_expressivity_nan_not_a_number():
    # a block whose output is all zeros (a disconnected NB201 cell): no spectrum to normalise, official NaN → −inf
    class Zero(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mul(0.0)

    model = nn.Sequential(nn.Conv2d(3, 4, 1), Zero())
    cfg = {"init": "none", "blocks": ("0", "1")}
    names = ("az_expressivity", "az_progressivity")
    got = score(model, [create_proxy(n, **cfg) for n in names], input_shape=(3, 6, 6), detailed=True)
    for name in names:
        assert got[name].status == "nan" and math.isnan(got[name].value) and "no variance" in got[name].reason


def test_az_defaults_to_gaussian_inputs_like_the_official_code():
    # The official NB201 code scores AZ-NAS on torch.randn inputs (trainloader=None): the batch's values must not
    # matter by default, only with inputs="data".
    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    names = ("az_expressivity", "az_progressivity", "az_trainability")
    a = score(model, list(names), batch=(torch.rand(8, 3, 6, 6),), seed=0)
    b = score(model, list(names), batch=(torch.rand(8, 3, 6, 6) * 5 + 2,), seed=0)
    shape_only = score(model, list(names), input_shape=(3, 6, 6), batch=None, seed=0)
    assert all(math.isfinite(v) for v in a.values())
    assert a == b  # data-free: same shape, same seed → same values
    assert not any(get_proxy_info(n).needs_data for n in names)
    # without a batch, the batch size defaults to 64 (the official code's): differs from the 8-sample batch
    assert shape_only != a
    explicit = [create_proxy(n, batch_size=8) for n in names]
    assert score(model, explicit, input_shape=(3, 6, 6), seed=0) == a
    data = [create_proxy(n, inputs="data") for n in names]
    c = score(model, data, batch=(torch.rand(8, 3, 6, 6),), seed=0)
    assert c != a
    res = score(model, data, batch=None, input_shape=(3, 6, 6), detailed=True)
    assert not any(r.ok for r in res.values())  # inputs="data" needs a batch


def test_l2_norm_params_flops():
    torch.manual_seed(10)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    )
    got = score(model, ["l2_norm", "params", "flops", "az_complexity"], input_shape=(3, 8, 8))
    assert got["l2_norm"] == pytest.approx(
        float(model[0].weight.detach().norm() + model[4].weight.detach().norm()), rel=1e-6
    )
    assert got["params"] == 3 * 4 * 9 + 4 + 4 * 2 + 2
    conv = 9 * 3 * 4 * 64 + 4 * 64  # kernel MACs + bias per position
    relu = 4 * 64
    pool = 4 * 9 * 9  # NASLib's adaptive-pool rule: C * (span_h + 1) * (span_w + 1)
    linear = 4 * 2
    assert got["flops"] == conv + relu + pool + linear
    assert got["az_complexity"] == conv + linear  # "macs": conv (with its bias rule) and linear only


def test_probe_products_are_shared_and_timed():
    model, x, y = _linear_batch()
    probe = Probe(model, (x, y))
    probe.plan({"weight_grads", "hessian", "jacobian"})
    probe.run_planned()
    assert list(probe.pass_seconds) == ["main"]
    g = probe.get("weight_grads")
    assert probe.get("weight_grads") is g and list(probe.pass_seconds) == ["main"]


def test_zen_running_bn_statistics_follow_the_official_code():
    torch.manual_seed(11)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
    seed, gamma, n = 4, 0.01, 6
    gen = torch.Generator().manual_seed(_seed_for(seed, "zen"))
    ref = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    with torch.no_grad():
        w = torch.empty(4, 3, 3, 3)
        nn.init.normal_(w, 0.0, 1.0, generator=gen)
        ref[0].weight.copy_(w)
        ref[0].bias.zero_()
    x1 = torch.randn(n, 3, 8, 8, generator=gen)
    x2 = torch.randn(n, 3, 8, 8, generator=gen)
    with torch.no_grad():
        f1, f2 = ref(x1), ref(x1 + gamma * x2)  # train mode: batch statistics, running_var updated twice
    expected = math.log(float((f1 - f2).abs().sum((1, 2, 3)).mean())) + 0.5 * math.log(float(ref[1].running_var.mean()))
    got = score(model, [create_proxy("zen", batch_size=n)], input_shape=(3, 8, 8), seed=seed)["zen"]
    assert got == pytest.approx(expected, rel=1e-5)
    batch_stat = score(model, [create_proxy("zen", batch_size=n, bn_stat="batch")], input_shape=(3, 8, 8), seed=seed)
    assert batch_stat["zen"] != got


@pytest.mark.parametrize("n", [3, 52, 53, 64, 65, 130])
def test_pattern_packing_is_injective_on_both_paths(n):
    from archrank.proxies.probe import _pack_columns

    gen = torch.Generator().manual_seed(n)
    codes = torch.rand(n, 300, generator=gen) > 0.5
    codes[:, 1] = codes[:, 0]
    codes[:, 2] = codes[:, 0]
    codes[-1, 2] = ~codes[-1, 0]  # differs only in the last sample
    expected = len({tuple(col) for col in codes.T.tolist()})
    for use_numpy in (True, False):
        keys = _pack_columns(codes, use_numpy=use_numpy)
        got = torch.unique(keys).numel() if keys.dim() == 1 else torch.unique(keys, dim=0).shape[0]
        assert got == expected, use_numpy


def test_epe_nas_many_classes_variant():
    # with more than 100 classes the reference divides s_c by the class size, skips singletons, and sums
    # |s_c - s_c'| over class pairs divided by the number of classes seen
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(9, 6, generator=gen)
    y = torch.tensor([0, 0, 0, 7, 7, 120, 120, 120, 5])
    k = 1e-5
    xs = x.double().numpy()
    s = {}
    for c in (0, 7, 120):
        rows = xs[y.numpy() == c]
        s[c] = np.log(np.abs(np.corrcoef(rows)) + k).sum() / len(rows)
    expected = sum(abs(a - b) for a in s.values() for b in s.values()) / len(s)
    got = score(_Square(), "epe_nas", batch=(x, y), num_classes=150)["epe_nas"]
    assert got == pytest.approx(expected, rel=1e-6)
