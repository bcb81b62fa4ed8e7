"""Passes of the probe, each in its own module and registered there with its products and BatchNorm mode.

Every module of this package is imported here, so that a new pass is one new file. See :mod:`.base` for the
contract of a pass.
"""

from __future__ import annotations

import importlib
import pkgutil

from archrank.proxies.passes.base import Needs, PassSpec, list_passes, pass_of, products, register_pass

__all__ = ["Needs", "PassSpec", "list_passes", "pass_of", "products", "register_pass"]

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base":
        importlib.import_module(f"{__name__}.{_module}")
