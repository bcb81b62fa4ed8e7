"""Zero-cost proxies: score an untrained network from one minibatch (issue 3).

Public API::

    from archrank.proxies import score, list_proxies, create_proxy
    score(model, ["synflow", "nwot"], batch=(x, y), seed=0)          # {name: float}, higher is better
    score(model, "grad*", batch=(x, y), detailed=True)                 # {name: ProxyResult}
    score(model, [create_proxy("fisher", weighting="none")], batch=(x, y))

A :class:`Probe` deep-copies the model once and runs each pass the requested proxies declare once (one forward +
backward for all loss-gradient proxies together); proxies are small reductions over its cache. Register your own
proxy with :func:`register_proxy` (see :mod:`archrank.proxies.registry`).
"""

from __future__ import annotations

from archrank.proxies import activation, aznas, datafree, gradient, jacobian  # noqa: F401  (registers proxies)
from archrank.proxies.cost import count_flops, count_params
from archrank.proxies.engine import (
    DEFAULT_PROXIES,
    SUITE_ZERO_PROXIES,
    ProxyResult,
    proxy_metadata_table,
    resolve_proxies,
    score,
    score_detailed,
)
from archrank.proxies.probe import Probe
from archrank.proxies.registry import (
    ConfiguredProxy,
    ProxyInfo,
    ScoreNaN,
    UnknownProxyError,
    create_proxy,
    expand_proxy_names,
    get_proxy_info,
    list_proxies,
    proxy_config_hash,
    register_proxy,
)

__all__ = [
    "DEFAULT_PROXIES",
    "SUITE_ZERO_PROXIES",
    "ConfiguredProxy",
    "Probe",
    "ProxyInfo",
    "ProxyResult",
    "ScoreNaN",
    "UnknownProxyError",
    "count_flops",
    "count_params",
    "create_proxy",
    "expand_proxy_names",
    "get_proxy_info",
    "list_proxies",
    "proxy_config_hash",
    "proxy_metadata_table",
    "register_proxy",
    "resolve_proxies",
    "score",
    "score_detailed",
]
