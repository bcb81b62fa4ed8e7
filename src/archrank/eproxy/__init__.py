"""Eproxy and Discrete Proxy Search (Li et al., "Extensible Proxy for Efficient NAS", arXiv 2210.09459).

Eproxy scores an architecture by how well it regresses fixed synthetic signals in ~10 SGD steps through trainable
heads and frozen random *barrier* convolutions; Discrete Proxy Search (DPS) tunes its configuration to a search
space from ~20 labelled architectures. Importing this package registers the ``eproxy`` proxy::

    import archrank.eproxy
    from archrank.proxies import score, create_proxy
    score(model, ["eproxy"], batch=(x, y))
    score(model, [create_proxy("eproxy", config="default-synthetic")])     # no data at all
    eproxy_score(model, "default", (x, y), seed=0)                       # EproxyResult with loss curve and cost
"""

from __future__ import annotations

from archrank.eproxy import proxy as _proxy  # noqa: F401  (registers "eproxy")
from archrank.eproxy.config import SIGNAL_FAMILIES, BranchConfig, EproxyConfig, load_config, save_config
from archrank.eproxy.features import make_extractor
from archrank.eproxy.head import EproxyHead
from archrank.eproxy.presets import PRESETS, list_presets, resolve_config
from archrank.eproxy.targets import make_signal, make_targets
from archrank.eproxy.train import EproxyResult, EproxyRun, eproxy_score, run_eproxy

__all__ = [
    "PRESETS",
    "SIGNAL_FAMILIES",
    "BranchConfig",
    "EproxyConfig",
    "EproxyHead",
    "EproxyResult",
    "EproxyRun",
    "eproxy_score",
    "list_presets",
    "load_config",
    "make_extractor",
    "make_signal",
    "make_targets",
    "resolve_config",
    "run_eproxy",
    "save_config",
]
