"""Search spaces, found by name through a small registry (``get_space("nb201")``)."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from functools import partial

from archrank.spaces.base import (
    Arch,
    CapabilityError,
    InvalidArchitectureError,
    SearchSpace,
    TruthSource,
    as_rng,
)
from archrank.spaces.factory import FactorySpace
from archrank.spaces.macro import MacroSpace
from archrank.spaces.nb101 import NB101Arch, NB101Space
from archrank.spaces.nb201 import NB201Arch, NB201Space
from archrank.spaces.nb301 import NB301Arch, NB301Space
from archrank.spaces.nds import NDS_SPACES, NDSCellArch, NDSCellSpace, NDSStageArch, NDSStageSpace, nds_space
from archrank.spaces.tnb101 import TNB101MicroSpace
from archrank.spaces.tnb101_macro import TNB101MacroSpace

_SPACE_FACTORIES: dict[str, Callable[[], SearchSpace]] = {}


def register_space(name: str, factory: Callable[[], SearchSpace]) -> None:
    """Make ``get_space(name)`` return ``factory()``; names are unique."""
    if name in _SPACE_FACTORIES:
        raise ValueError(f"search space {name!r} is already registered")
    _SPACE_FACTORIES[name] = factory


def list_spaces(pattern: str = "*") -> list[str]:
    """Registered space names matching a shell-style wildcard."""
    return sorted(n for n in _SPACE_FACTORIES if fnmatch.fnmatch(n, pattern))


def get_space(name: str) -> SearchSpace:
    """A new instance of the named search space; ``KeyError`` listing the known names otherwise."""
    try:
        factory = _SPACE_FACTORIES[name]
    except KeyError:
        raise KeyError(f"unknown search space {name!r}; known: {', '.join(list_spaces())}") from None
    return factory()


register_space("nb201", NB201Space)
register_space("nb101", NB101Space)
register_space("nb301", NB301Space)
register_space("macro", MacroSpace)
register_space("tnb101-micro", TNB101MicroSpace)
for _nds_name in NDS_SPACES:
    register_space(_nds_name, partial(nds_space, _nds_name))
register_space("tnb101-macro", TNB101MacroSpace)

__all__ = [
    "Arch",
    "CapabilityError",
    "FactorySpace",
    "InvalidArchitectureError",
    "MacroSpace",
    "NB101Arch",
    "NB101Space",
    "NB201Arch",
    "NB201Space",
    "NB301Arch",
    "NB301Space",
    "NDSCellArch",
    "NDSCellSpace",
    "NDSStageArch",
    "NDSStageSpace",
    "SearchSpace",
    "TNB101MacroSpace",
    "TNB101MicroSpace",
    "TruthSource",
    "as_rng",
    "get_space",
    "list_spaces",
    "register_space",
]
