"""Named Eproxy configurations and :func:`resolve_config`, which turns any config spec into an EproxyConfig.

Presets are immutable module constants (no registry to mutate). ``"default"`` is the reference NB201 setting with
a real batch; ``"default-synthetic"`` the same with seeded Gaussian inputs (no data needed). DPS results are saved
as JSON files and can be given by path, or copied here under a name once validated.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from archrank.eproxy.config import EproxyConfig, load_config

__all__ = ["PRESETS", "list_presets", "resolve_config"]

_DEFAULT = EproxyConfig()

PRESETS: Mapping[str, EproxyConfig] = MappingProxyType(
    {
        "default": _DEFAULT,
        "default-synthetic": EproxyConfig(inputs="synthetic"),
    }
)


def list_presets() -> list[str]:
    """Names accepted by :func:`resolve_config`."""
    return list(PRESETS)


def resolve_config(spec: Any = None) -> EproxyConfig:
    """An :class:`EproxyConfig` from ``None`` (the default), a config, a preset name, a JSON file path, or a
    (partial) dict merged over the default (e.g. ``{"inputs": "synthetic"}``)."""
    if spec is None:
        return _DEFAULT
    if isinstance(spec, EproxyConfig):
        return spec
    if isinstance(spec, Mapping):
        return EproxyConfig.from_dict(spec)
    if isinstance(spec, (str, Path)):
        text = str(spec)
        if text in PRESETS:
            return PRESETS[text]
        path = Path(text).expanduser()
        if path.suffix == ".json" or path.is_file():
            if not path.is_file():
                raise FileNotFoundError(f"Eproxy config file not found: {path}")
            return load_config(path)
        raise KeyError(f"unknown Eproxy config {text!r}: not a preset ({', '.join(PRESETS)}) nor a .json file")
    raise TypeError(f"an Eproxy config is a name, a path, a dict or an EproxyConfig, got {type(spec).__name__}")
