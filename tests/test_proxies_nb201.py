"""Proxies on NAS-Bench-201 networks: every proxy runs, cost proxies are exact, NB201-specific conventions."""

from __future__ import annotations

import math

import pytest
import torch

from archrank.proxies import Probe, create_proxy, list_proxies, score

BEST = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
EMPTY = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _tiny(nb201, arch_str: str, seed: int = 0):
    torch.manual_seed(seed)
    return nb201.build(nb201.from_str(arch_str), num_classes=10, C=4, N=1)


def _batch(n: int = 10):
    gen = torch.Generator().manual_seed(0)
    return torch.randn(n, 3, 16, 16, generator=gen), torch.arange(n) % 10


def test_every_proxy_scores_a_small_nb201_network(nb201):
    # 16 inputs: Eproxy (registered by archrank.eproxy) trains on a batch of at least 16, as in its paper
    results = score(_tiny(nb201, BEST), list_proxies(), batch=_batch(16), seed=0, detailed=True)
    bad = {k: r.reason for k, r in results.items() if not r.ok}
    assert not bad
    assert all(math.isfinite(r.value) for r in results.values())


def test_disconnected_cell_is_reported_not_hidden(nb201):
    results = score(_tiny(nb201, EMPTY), ["synflow", "grad_norm", "params", "nwot"], batch=_batch(), detailed=True)
    # synflow's sum is exactly 0: a known, worst score (log 0 = −inf), not NaN (tests/test_proxies_synflow_zero.py)
    assert results["synflow"].ok and results["synflow"].value == -math.inf
    assert results["params"].ok
    # NASLib turns such cases into 0 or -1e8; here every value is either a real score or NaN with a reason
    for res in results.values():
        assert (res.ok and not math.isnan(res.value)) or (math.isnan(res.value) and res.reason)


def test_az_blocks_are_stem_cells_and_residual_blocks(nb201):
    model = _tiny(nb201, BEST)
    probe = Probe(model, _batch())
    blocks = probe.get("az", init="kaiming_normal_fan_in", blocks=())["blocks"]
    # stem, cell, residual block, cell, residual block, cell (N=1): the official extract_cell_features
    assert blocks == ["stem", "stages.0.0", "stages.1.0", "stages.1.1", "stages.2.0", "stages.2.1"]


def test_az_degenerate_cells_are_nan_and_rank_last_under_the_worst_policy(nb201):
    # The official code gives −inf to a disconnected cell (expressivity/progressivity NaN) and to an identity cell
    # (trainability), ranking them last. Here they are status nan with a reason, and aggregation with
    # nan_policy="worst" ranks them below an ordinary cell, as AZ-NAS does.
    from archrank.bench import aggregate

    identity = "|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|"
    names = ["az_expressivity", "az_progressivity", "az_trainability", "az_complexity"]
    results = [score(_tiny(nb201, a), names, input_shape=(3, 16, 16), detailed=True) for a in (BEST, EMPTY, identity)]
    best, empty, ident = results
    assert all(r.ok for r in best.values())
    assert empty["az_expressivity"].status == "nan" and empty["az_progressivity"].status == "nan"
    assert ident["az_trainability"].status == "nan" and "identity" in ident["az_trainability"].reason
    combined = aggregate({n: [r[n].value for r in results] for n in names}, nan_policy="worst")
    assert combined[0] > combined[1] and combined[0] > combined[2]


def test_zen_uses_the_pre_gap_feature_map(nb201):
    model = _tiny(nb201, BEST)
    default = score(model, "zen", batch=_batch(), seed=2)["zen"]
    named = score(model, [create_proxy("zen", feature_module="global_pooling")], batch=_batch(), seed=2)["zen"]
    assert default == named


def test_synflow_orders_wider_cells_higher(nb201):
    # synflow counts parameter-weighted paths: adding 3x3 convs on every edge must increase it
    torch.manual_seed(0)
    skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    a = score(_tiny(nb201, skip), "synflow", input_shape=(3, 16, 16))["synflow"]
    b = score(_tiny(nb201, BEST), "synflow", input_shape=(3, 16, 16))["synflow"]
    assert b > a


@pytest.mark.parametrize("index", [0, 1, 4242, 15624])
def test_params_and_flops_equal_the_benchmark_table(nb201, nb201_csv, index):
    torch.manual_seed(0)
    model = nb201.build(nb201.from_index(index), num_classes=10)
    got = score(model, ["params", "flops"], input_shape=(3, 32, 32))
    row = nb201_csv.iloc[index]
    assert round(got["params"] / 1e6, 6) == pytest.approx(row["params_M"], abs=1e-9)
    assert round(got["flops"] / 1e6, 6) == pytest.approx(row["flops_M"], abs=1e-9)


def test_fused_matches_one_at_a_time_on_nb201(nb201):
    # the fused main pass runs GraSP's double backward in the contiguous layout, single proxies run
    # channels-last: equal up to float rounding
    model = _tiny(nb201, BEST)
    names = ["grad_norm", "snip", "grasp", "fisher", "jacov", "plain", "nwot", "epe_nas", "swap", "meco"]
    fused = score(model, names, batch=_batch(), seed=0)
    for name in names:
        alone = score(model, [name], batch=_batch(), seed=0)[name]
        assert alone == pytest.approx(fused[name], rel=1e-4, abs=1e-6), name
