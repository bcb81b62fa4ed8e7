"""archrank: rank neural architectures without training them, measure how well the ranking holds, search with it.

Public entry points (see README.md):

- ``archrank.get_space(name)`` / ``archrank.list_spaces()`` — search spaces (NB201, NB101, NB301, the NDS families,
  NAS-Bench-Macro, TransNAS-Bench-101, your own through ``register_space``);
- ``archrank.data.load_batch(...)`` — fixed, seeded data batches identified by a content hash;
- ``archrank.score(model, proxies, batch=(x, y), seed=0)`` / ``archrank.list_proxies()`` — zero-cost proxies;
- ``archrank.aggregate(scores)`` / ``archrank.ENSEMBLE_PROXIES`` — the default label-free ensemble;
- ``archrank.bench.evaluate_space(store, space=..., truth=...)`` — how well every proxy ranks a space;
- ``archrank.search``, ``archrank.econas``, ``archrank.eznas``, ``archrank.eproxy`` — search and the seed methods;
- ``archrank.store.Store`` — the SQLite results store; ``archrank.cli`` — the ``archrank`` command.
"""

from __future__ import annotations

# eznas (and eproxy) register their proxies ("eznas", "eproxy") into the proxy registry on import.
from archrank import bench, data, eproxy, eznas, proxies
from archrank._version import __version__
from archrank.bench import ENSEMBLE_PROXIES, aggregate
from archrank.proxies import create_proxy, list_proxies, register_proxy, score, score_detailed
from archrank.spaces import SearchSpace, get_space, list_spaces, register_space

__all__ = [
    "ENSEMBLE_PROXIES",
    "SearchSpace",
    "__version__",
    "aggregate",
    "bench",
    "create_proxy",
    "data",
    "eproxy",
    "eznas",
    "get_space",
    "list_proxies",
    "list_spaces",
    "proxies",
    "register_proxy",
    "register_space",
    "score",
    "score_detailed",
]
