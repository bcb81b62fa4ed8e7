"""A disconnected network's synflow is exactly 0: a known, worst score, never NaN (issue 12).

Its log (the default report) is −inf, a number too: status ``ok``. Every other proxy still turns a non-finite
value into status ``nan`` with its reason.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from archrank.proxies import create_proxy, get_proxy_info, register_proxy, registry, score

EMPTY = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def _zero_linear() -> nn.Module:
    model = nn.Sequential(nn.Linear(3, 2, bias=False))
    with torch.no_grad():
        model[0].weight.zero_()
    return model


def test_zero_sum_is_zero_raw_and_minus_inf_in_log_mode():
    raw = score(_zero_linear(), [create_proxy("synflow", log=False)], input_shape=(3,), detailed=True)["synflow"]
    assert raw.ok and raw.value == 0.0 and raw.reason is None
    logged = score(_zero_linear(), "synflow", input_shape=(3,), detailed=True)["synflow"]
    assert logged.ok and logged.value == -math.inf and logged.reason is None


def test_disconnected_nb201_cell_ranks_below_every_connected_cell(nb201):
    torch.manual_seed(0)
    empty = nb201.build(nb201.from_str(EMPTY), num_classes=10, C=4, N=1)
    skip = "|skip_connect~0|+|skip_connect~0|skip_connect~1|+|skip_connect~0|skip_connect~1|skip_connect~2|"
    connected = nb201.build(nb201.from_str(skip), num_classes=10, C=4, N=1)
    dead = score(empty, "synflow", input_shape=(3, 16, 16), detailed=True)["synflow"]
    live = score(connected, "synflow", input_shape=(3, 16, 16), detailed=True)["synflow"]
    assert dead.ok and dead.value == -math.inf
    assert live.ok and math.isfinite(live.value) and live.value > dead.value


def test_only_proxies_that_declare_it_keep_an_infinite_value():
    assert get_proxy_info("synflow").infinite_values
    assert not get_proxy_info("zen").infinite_values

    @register_proxy("test_minus_inf", requires=(), citation="test")
    def minus_inf(probe) -> float:
        """Always −inf (a test proxy that did not declare infinite values)."""
        return -math.inf

    try:
        res = score(nn.Linear(3, 2), "test_minus_inf", input_shape=(3,), detailed=True)["test_minus_inf"]
        assert res.status == "nan" and math.isnan(res.value) and "non-finite" in res.reason
    finally:
        registry._REGISTRY.pop("test_minus_inf", None)


@pytest.mark.parametrize("log", [True, False])
def test_overflow_is_still_not_a_number(log):
    model = nn.Sequential(*[nn.Linear(4, 4, bias=False) for _ in range(10)])
    with torch.no_grad():
        for layer in model:
            layer.weight.fill_(1e38)  # (4e38)**10 overflows float64
    res = score(model, [create_proxy("synflow", log=log)], input_shape=(4,), detailed=True)["synflow"]
    assert not res.ok and math.isnan(res.value) and res.reason
