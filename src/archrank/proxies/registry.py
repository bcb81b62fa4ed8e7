"""A timm-style registry of zero-cost proxies.

A proxy is a small function ``fn(probe, **config) -> float`` that reduces what a :class:`~archrank.proxies.probe.Probe`
computed (weight gradients, activation codes, an input Jacobian, ...) to one number. It is registered once with
:func:`register_proxy`, which records what the proxy needs from the probe (``requires``) and its metadata::

    from archrank.proxies import register_proxy

    @register_proxy("grad_abs", requires=("weight_grads",), citation="my paper")
    def grad_abs(probe, *, power: float = 1.0) -> float:
        '''Sum of |dL/dW|**power over conv/linear weights.'''
        return sum(float(g.abs().pow(power).sum()) for g in probe.get("weight_grads").values())

Every registered value is oriented so that **higher means predicted better**; a proxy whose defining quantity is
lower-is-better returns its negative and says so with ``negated=True``. Keyword-only parameters of ``fn`` with
defaults are the proxy's configuration (:func:`create_proxy` validates and binds them).
"""

from __future__ import annotations

import fnmatch
import hashlib
import inspect
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from archrank.proxies import passes

__all__ = [
    "MAIN_COMPONENTS",
    "PASSES",
    "ConfiguredProxy",
    "ProxyFn",
    "ProxyInfo",
    "ScoreNaN",
    "UnknownProxyError",
    "create_proxy",
    "expand_proxy_names",
    "get_proxy_info",
    "list_proxies",
    "proxy_config_hash",
    "register_proxy",
]

ProxyFn = Callable[..., float]

# Products of the shared "main" pass (one train-mode forward on the batch plus the backward passes that the
# requested proxies need) and of the passes that truly differ; see archrank.proxies.passes.
MAIN_COMPONENTS: frozenset[str] = passes.products(["main"])
SEPARATE_PASSES: frozenset[str] = passes.products() - MAIN_COMPONENTS
PASSES: frozenset[str] = passes.products()


class ScoreNaN(ArithmeticError):
    """Raised by a proxy whose value is undefined (NaN/inf) for a stated reason; recorded as status ``nan``."""


@dataclass(frozen=True)
class ProxyInfo:
    """Metadata of one registered proxy.

    ``higher_is_better`` is always true for registered values (they are oriented); ``negated`` says the value is
    the negative of the quantity as its paper defines it. ``requires`` names the probe products the proxy reads.
    ``infinite_values`` says that ±inf is a genuine value of the proxy (e.g. −inf = log 0, the worst score), kept
    with status ``ok``; for every other proxy a non-finite value is status ``nan``.
    """

    name: str
    fn: ProxyFn = field(repr=False, compare=False)
    requires: tuple[str, ...]
    higher_is_better: bool = True
    negated: bool = False
    needs_data: bool = False
    needs_labels: bool = False
    needs_gradients: bool = False
    needs_input_gradients: bool = False
    needs_hessian: bool = False
    needs_double: bool = False
    bn_mode: str = "n/a"
    citation: str = ""
    version: int = 1
    defaults: Mapping[str, Any] = field(default_factory=dict, compare=False)
    infinite_values: bool = False

    @property
    def description(self) -> str:
        """First paragraph of the proxy function's docstring."""
        doc = inspect.getdoc(self.fn) or ""
        return doc.split("\n\n", 1)[0].replace("\n", " ")


@dataclass(frozen=True)
class ConfiguredProxy:
    """A proxy bound to a configuration (from :func:`create_proxy`); pass it to ``score`` like a name."""

    info: ProxyInfo
    config: Mapping[str, Any]

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def config_hash(self) -> str:
        return proxy_config_hash(self.info.name, dict(self.config))

    def __call__(self, probe: Any) -> float:
        return self.info.fn(probe, **self.config)


_REGISTRY: dict[str, ProxyInfo] = {}


def _config_defaults(fn: ProxyFn) -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    params = list(inspect.signature(fn).parameters.values())
    for param in params[1:]:
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            continue
        if param.default is inspect.Parameter.empty:
            raise TypeError(f"proxy {fn.__name__}: config parameter {param.name!r} needs a default value")
        defaults[param.name] = param.default
    return defaults


def register_proxy(
    name: str | None = None,
    *,
    requires: Iterable[str] = (),
    negated: bool = False,
    needs_data: bool | None = None,
    needs_labels: bool | None = None,
    needs_gradients: bool | None = None,
    needs_input_gradients: bool | None = None,
    needs_hessian: bool | None = None,
    needs_double: bool | None = None,
    bn_mode: str | None = None,
    citation: str = "",
    version: int = 1,
    infinite_values: bool = False,
    overwrite: bool = False,
) -> Callable[[ProxyFn], ProxyFn]:
    """Decorator registering ``fn(probe, *, **config) -> float`` under ``name`` (default: the function name).

    The ``needs_*`` flags default to what ``requires`` implies; pass them explicitly for a proxy that computes its
    own passes. ``infinite_values=True`` keeps ±inf as a value (status ``ok``) instead of status ``nan``.
    Registering an existing name raises ``KeyError`` unless ``overwrite=True``.
    """
    reqs = tuple(dict.fromkeys(requires))
    unknown = [r for r in reqs if r not in passes.products()]
    if unknown:
        raise ValueError(f"unknown probe product(s) {unknown}; known: {', '.join(sorted(passes.products()))}")
    specs = [passes.pass_of(r) for r in reqs]
    needs = passes.Needs()
    for spec, product in zip(specs, reqs, strict=True):
        needs = needs | spec.products[product]
    modes = list(dict.fromkeys(spec.bn_mode for spec in specs))
    implied_bn = "train" if "train" in modes else (modes[0] if modes else "n/a")

    def pick(flag: bool | None, implied: bool) -> bool:
        return implied if flag is None else bool(flag)

    def decorate(fn: ProxyFn) -> ProxyFn:
        proxy_name = name or fn.__name__
        if proxy_name in _REGISTRY and not overwrite:
            raise KeyError(f"proxy {proxy_name!r} is already registered (pass overwrite=True to replace it)")
        _REGISTRY[proxy_name] = ProxyInfo(
            name=proxy_name,
            fn=fn,
            requires=reqs,
            negated=negated,
            needs_data=pick(needs_data, needs.data),
            needs_labels=pick(needs_labels, needs.labels),
            needs_gradients=pick(needs_gradients, needs.gradients),
            needs_input_gradients=pick(needs_input_gradients, needs.input_gradients),
            needs_hessian=pick(needs_hessian, needs.hessian),
            needs_double=pick(needs_double, needs.double),
            bn_mode=bn_mode or implied_bn,
            citation=citation,
            version=version,
            defaults=_config_defaults(fn),
            infinite_values=bool(infinite_values),
        )
        return fn

    return decorate


def list_proxies(pattern: str = "*") -> list[str]:
    """Registered proxy names matching the shell-style ``pattern`` (e.g. ``"grad*"``), in registration order."""
    return [n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern)]


class UnknownProxyError(KeyError, ValueError):
    """A proxy name or wildcard that matches no registered proxy: a ``ValueError`` (bad input) that is also a
    ``KeyError`` (a failed look-up), printed as its plain message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def expand_proxy_names(patterns: str | Iterable[str]) -> list[str]:
    """Registered proxy names from names and shell-style wildcards (``"grad*"``), in the given order, without repeats.

    A string is split at commas (``"synflow,grad*"``); blanks around names are ignored. The one expansion of proxy
    names used by the engine, the CLI and the runner. Raises :class:`UnknownProxyError` (a ``ValueError``) naming
    the known proxies for a pattern that matches nothing, and ``ValueError`` when no pattern is given at all (an
    empty list, ``""`` or ``","``).
    """
    items = patterns.split(",") if isinstance(patterns, str) else list(patterns)
    cleaned = [str(p).strip() for p in items]
    cleaned = [p for p in cleaned if p]
    if not cleaned:
        raise ValueError("no proxy names given (expected names or wildcards such as 'synflow,grad*')")
    names: list[str] = []
    for pattern in cleaned:
        matched = [n for n in _REGISTRY if fnmatch.fnmatchcase(n, pattern)]
        if not matched:
            raise UnknownProxyError(f"no proxy matches {pattern!r}; known: {', '.join(_REGISTRY)}")
        names.extend(n for n in matched if n not in names)
    return names


def get_proxy_info(name: str) -> ProxyInfo:
    """Metadata of a registered proxy; ``KeyError`` naming the known proxies otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown proxy {name!r}; known: {', '.join(_REGISTRY)}") from None


def create_proxy(name: str, **config: Any) -> ConfiguredProxy:
    """Bind ``config`` to proxy ``name`` (unknown keys raise ``TypeError``); defaults fill the rest."""
    info = get_proxy_info(name)
    unknown = sorted(set(config) - set(info.defaults))
    if unknown:
        known = ", ".join(info.defaults) or "none"
        raise TypeError(f"proxy {name!r} has no config option(s) {unknown}; options: {known}")
    return ConfiguredProxy(info, {**info.defaults, **config})


def _canonical(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return repr(value)


def proxy_config_hash(name: str, config: Mapping[str, Any] | None = None) -> str:
    """Stable 16-hex-digit hash of a proxy's name, implementation version and full config (defaults filled in).

    ``proxy_config_hash("fisher", {})`` equals ``proxy_config_hash("fisher", {"weighting": "fan_in"})`` because the
    default is filled in; any change of a proxy's ``version`` changes every hash of that proxy.
    """
    config = dict(config or {})
    try:
        info: ProxyInfo | None = get_proxy_info(name)
    except KeyError:
        info = None
    full = {**(info.defaults if info else {}), **config}
    payload = {"name": name, "version": info.version if info else 0, "config": _canonical(full)}
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
