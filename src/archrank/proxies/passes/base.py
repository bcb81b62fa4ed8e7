"""The pass registry: what the probe can compute, which products each pass yields, and what it needs.

A *pass* is one computation on the probe's private model (e.g. one train-mode forward + backward on the batch,
or a float64 forward on an all-ones input); it yields named *products* (weight gradients, ReLU codes, ...) that
proxies declare in ``register_proxy(requires=...)``. A pass registers itself in its own module::

    @register_pass("synflow", bn_mode="off", needs=Needs(gradients=True, double=True))
    def synflow_pass(probe, wanted):
        ...
        return {"synflow": per_layer}

``compute(probe, wanted, **options)`` receives the products to compute (a pass with several products computes
only those requested, all in one run) and returns ``{product: value}``; a value that is an exception marks that
product alone as failed. Keyword-only parameters of ``compute`` are the pass's options (proxies pass them to
``probe.get(product, **options)``; one run per distinct options). The registry derives each proxy's metadata
(needs data / labels / gradients / ..., BatchNorm mode) from the products it requires.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Needs", "PassFn", "PassSpec", "list_passes", "pass_of", "products", "register_pass"]

PassFn = Callable[..., Mapping[str, Any]]
BN_MODES = ("train", "eval", "off", "n/a")


@dataclass(frozen=True)
class Needs:
    """What computing one product requires: a data batch, labels, gradients, input gradients, a Hessian product,
    double precision."""

    data: bool = False
    labels: bool = False
    gradients: bool = False
    input_gradients: bool = False
    hessian: bool = False
    double: bool = False

    def __or__(self, other: Needs) -> Needs:
        return Needs(**{k: getattr(self, k) or getattr(other, k) for k in self.__dataclass_fields__})


@dataclass(frozen=True)
class PassSpec:
    """One registered pass: its ``name`` (also the timing label and the seed tag of its random draws), the
    ``products`` it yields with their needs, the BatchNorm mode it runs in, and its option names."""

    name: str
    compute: PassFn = field(repr=False)
    products: Mapping[str, Needs]
    bn_mode: str
    options: tuple[str, ...] = ()


_PASSES: dict[str, PassSpec] = {}
_PRODUCTS: dict[str, str] = {}


def register_pass(
    name: str,
    *,
    bn_mode: str,
    needs: Needs | None = None,
    products: Mapping[str, Needs] | None = None,
) -> Callable[[PassFn], PassFn]:
    """Decorator registering ``compute(probe, wanted, **options)`` as pass ``name``.

    ``products`` maps each product name to its :class:`Needs`; a pass with a single product of its own name
    passes ``needs`` instead. ``bn_mode`` says how BatchNorm runs in it: ``"train"`` (batch statistics),
    ``"eval"``, ``"off"`` (removed) or ``"n/a"``. A product name may belong to one pass only.
    """
    if bn_mode not in BN_MODES:
        raise ValueError(f"bn_mode must be one of {', '.join(BN_MODES)}, got {bn_mode!r}")
    if products is None:
        products = {name: needs or Needs()}
    elif needs is not None:
        raise ValueError("give either needs (a one-product pass) or products, not both")

    def decorate(fn: PassFn) -> PassFn:
        if name in _PASSES:
            raise KeyError(f"pass {name!r} is already registered")
        taken = [p for p in products if p in _PRODUCTS]
        if taken:
            raise KeyError(f"product(s) {taken} already belong to pass {_PRODUCTS[taken[0]]!r}")
        params = list(inspect.signature(fn).parameters.values())[2:]
        options = tuple(p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY)
        _PASSES[name] = PassSpec(name, fn, dict(products), bn_mode, options)
        for product in products:
            _PRODUCTS[product] = name
        return fn

    return decorate


def pass_of(product: str) -> PassSpec:
    """The pass that yields ``product``; ``KeyError`` naming the known products otherwise."""
    try:
        return _PASSES[_PRODUCTS[product]]
    except KeyError:
        raise KeyError(f"unknown probe product {product!r}; known: {', '.join(sorted(_PRODUCTS))}") from None


def products(passes: Iterable[str] | None = None) -> frozenset[str]:
    """Every registered product (or those of the named passes)."""
    if passes is None:
        return frozenset(_PRODUCTS)
    names = set(passes)
    return frozenset(p for p, owner in _PRODUCTS.items() if owner in names)


def list_passes() -> list[PassSpec]:
    """Registered passes, in registration order."""
    return list(_PASSES.values())
