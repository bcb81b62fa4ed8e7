"""archrank: rank neural architectures without training them, measure how well the ranking holds, search with it.

Public entry points (see README.md):

- ``archrank.get_space(name)`` / ``archrank.list_spaces()`` — search spaces (``"nb201"``);
- ``archrank.data.load_batch(...)`` — fixed, seeded data batches identified by a content hash;
- ``archrank.score(model, proxies, batch=(x, y), seed=0)`` / ``archrank.list_proxies()`` — zero-cost proxies;
- ``archrank.store.Store`` — the SQLite results store.
"""

from __future__ import annotations

from archrank import bench, data
from archrank.bench import ENSEMBLE_PROXIES, aggregate
from archrank.spaces import SearchSpace, get_space, list_spaces, register_space

__version__ = "0.1.0"

__all__ = [
    "ENSEMBLE_PROXIES",
    "SearchSpace",
    "__version__",
    "aggregate",
    "bench",
    "data",
    "get_space",
    "list_spaces",
    "register_space",
]
