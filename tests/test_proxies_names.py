"""One wildcard expansion of proxy names: ``expand_proxy_names`` (issue 12)."""

from __future__ import annotations

import re

import pytest

from archrank.proxies import UnknownProxyError, expand_proxy_names, list_proxies


def test_names_and_wildcards_in_order_without_repeats():
    assert expand_proxy_names(["synflow", "az_*", "az_complexity"]) == ["synflow", *list_proxies("az_*")]
    assert expand_proxy_names("nwot, grad*") == ["nwot", "grad_norm"]


@pytest.mark.parametrize("patterns", [[], "", ",", [" ", ""]])
def test_no_pattern_is_one_clear_error(patterns):
    with pytest.raises(ValueError, match="no proxy names given"):
        expand_proxy_names(patterns)


@pytest.mark.parametrize("pattern", ["zzz*", "nope"])
def test_pattern_matching_nothing_is_a_value_error_naming_it(pattern):
    with pytest.raises(ValueError, match=f"no proxy matches {re.escape(repr(pattern))}") as info:
        expand_proxy_names(["synflow", pattern])
    assert isinstance(info.value, KeyError) and isinstance(info.value, UnknownProxyError)
    assert str(info.value).startswith("no proxy matches")  # one plain line, not a quoted KeyError
