"""Eproxy configuration: a frozen, JSON-serialisable description of the proxy task (Li et al., arXiv 2210.09459).

An :class:`EproxyConfig` fixes everything that defines an Eproxy score besides the architecture and the seed: the
branches (which backbone stage, which synthetic signal families, head/barrier kernels and widths, the target's
level), the few-shot training (steps, SGD learning rate, momentum, weight decay), the initialisation schemes, the
MACs coefficient α, and whether the inputs are a real batch or synthetic. Discrete Proxy Search
(:mod:`archrank.eproxy.dps`) searches over these fields; its result is saved as JSON (:func:`save_config`) and used
as ``create_proxy("eproxy", config="path.json")`` or, once copied into :mod:`archrank.eproxy.presets`, by name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

__all__ = [
    "DEFAULT_BRANCHES",
    "INIT_SCHEMES",
    "INPUT_KINDS",
    "KERNEL_SIZES",
    "RESIZE_MODES",
    "SIGNAL_FAMILIES",
    "BranchConfig",
    "EproxyConfig",
    "load_config",
    "load_config_meta",
    "save_config",
]

SIGNAL_FAMILIES: tuple[str, ...] = ("dot", "grid", "wave_l", "wave_m", "wave_h", "net")
"""Synthetic target families (see :mod:`archrank.eproxy.targets`)."""
KERNEL_SIZES: tuple[int, ...] = (1, 3, 7)
"""Head and barrier kernel sizes of the paper's search space (its indices 0, 1, 2)."""
INIT_SCHEMES: tuple[str, ...] = ("default", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal")
"""``default`` keeps PyTorch's initialisation; the others re-initialise every conv/linear weight (biases zero)."""
INPUT_KINDS: tuple[str, ...] = ("batch", "synthetic")
"""``batch``: the caller's data batch; ``synthetic``: seeded Gaussian inputs, so no data is needed at all."""
RESIZE_MODES: tuple[str, ...] = ("nearest", "avg", "bilinear")
"""How a stage's feature map is brought to ``size``×``size`` (the reference code uses nearest interpolation)."""


@dataclass(frozen=True)
class BranchConfig:
    """One Eproxy branch: stage feature → resize → trainable head (conv → ReLU → BN) → frozen barrier conv.

    ``stage`` indexes the backbone's stage features Python-style (``-1`` = deepest). ``signals`` are the synthetic
    families summed into the branch's target, scaled by ``level``. ``head_channels`` is the head conv's output width,
    ``target_channels`` the barrier's (and the target's) channel count.
    """

    stage: int = -1
    signals: tuple[str, ...] = ("dot",)
    head_kernel: int = 3
    barrier_kernel: int = 3
    head_channels: int = 512
    target_channels: int = 64
    level: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "signals", tuple(self.signals))
        unknown = [s for s in self.signals if s not in SIGNAL_FAMILIES]
        if unknown:
            raise ValueError(f"unknown signal families {unknown}; known: {', '.join(SIGNAL_FAMILIES)}")
        if not self.signals:
            raise ValueError("a branch needs at least one signal family")
        for name in ("head_kernel", "barrier_kernel"):
            k = getattr(self, name)
            if not isinstance(k, int) or k < 1 or k % 2 == 0:
                raise ValueError(f"{name} must be a positive odd integer, got {k!r}")
        for name in ("head_channels", "target_channels"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if not isinstance(self.stage, int):
            raise ValueError(f"stage must be an integer index, got {self.stage!r}")


DEFAULT_BRANCHES: tuple[BranchConfig, ...] = (
    BranchConfig(stage=-1),
    BranchConfig(stage=-2),
    BranchConfig(stage=-3),
)
"""The default branches: per-input dots regressed from the deepest, the middle and the first stage."""


@dataclass(frozen=True)
class EproxyConfig:
    """The full Eproxy setting.

    Defaults: the reference NB201 setting of the authors' public code (head 3×3 conv to 512 channels → ReLU → BN,
    3×3 barrier to 64 target channels, level 1, SGD lr 1.2, momentum 0.9, weight decay 4e-5 on conv weights,
    10 steps on 16 inputs, features at 8×8 by nearest resizing, branch weights 1, 1/2, 1/4), except the signals,
    the branches and α: the reference's ``net`` signal is a pre-computed file we do not have, so the defaults
    were picked among 15 variants on 40 pilot NB201 architectures that every benchmark excludes (see
    docs/results/eproxy): three branches (deepest, middle and first stage), each regressing per-input dots, and
    α = 0.5 (the reference uses 0.1 with its own signals; DPS searches α in [−0.5, 0.5]).

    Score: ``L · (1 − α · MACs / macs_ref)`` with ``L = Σ_i branch_decay**i · MSE_i`` the branch-weighted loss of the
    last of ``steps`` iterations (the reference records the loss of each iteration's forward pass, so the score is
    the loss after ``steps − 1`` SGD updates). MACs are the model's multiply-accumulates for one input, in millions;
    ``macs_ref`` normalises them (default 220.1: the largest NB201 cell at 32×32); α = 0 skips counting.
    """

    branches: tuple[BranchConfig, ...] = field(default_factory=lambda: DEFAULT_BRANCHES)
    steps: int = 10
    batch_size: int = 16
    size: int = 8
    lr: float = 1.2
    momentum: float = 0.9
    weight_decay: float = 4e-5
    alpha: float = 0.5
    macs_ref: float = 220.1
    init_backbone: str = "default"
    init_barrier: str = "default"
    inputs: str = "batch"
    resize: str = "nearest"
    branch_decay: float = 0.5
    target_seed: int = 0

    def __post_init__(self) -> None:
        branches = tuple(b if isinstance(b, BranchConfig) else BranchConfig(**_branch_kwargs(b)) for b in self.branches)
        object.__setattr__(self, "branches", branches)
        if not branches:
            raise ValueError("an Eproxy config needs at least one branch")
        if self.steps < 1 or self.size < 1:
            raise ValueError(f"steps and size must be >= 1 (got {self.steps}, {self.size})")
        if self.batch_size < 2:  # with one input every feature map looks input-independent: every score NaN
            raise ValueError(f"batch_size must be >= 2 (the proxy compares the inputs of a batch), got "
                             f"{self.batch_size}")
        for name, choices in (
            ("init_backbone", INIT_SCHEMES),
            ("init_barrier", INIT_SCHEMES),
            ("inputs", INPUT_KINDS),
            ("resize", RESIZE_MODES),
        ):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}")
        if self.macs_ref <= 0:
            raise ValueError(f"macs_ref must be positive, got {self.macs_ref}")

    # --- serialisation --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (lists for tuples)."""
        data = asdict(self)
        data["branches"] = [{**b, "signals": list(b["signals"])} for b in data["branches"]]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: EproxyConfig | None = None) -> EproxyConfig:
        """Config from a (possibly partial) dict; missing keys come from ``base`` (default: the default config).
        Unknown keys raise ``KeyError`` naming them."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KeyError(f"unknown Eproxy config keys {unknown}; known: {', '.join(sorted(known))}")
        values = dict(data)
        if "branches" in values:
            values["branches"] = tuple(
                b if isinstance(b, BranchConfig) else BranchConfig(**_branch_kwargs(b)) for b in values["branches"]
            )
        return replace(base or cls(), **values)

    def to_json(self) -> str:
        """Canonical JSON text (sorted keys): equal configs give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    @property
    def key(self) -> str:
        """Stable 16-hex-digit identity of the config (sha256 of :meth:`to_json`)."""
        return hashlib.sha256(self.to_json().encode()).hexdigest()[:16]


def _branch_kwargs(data: Any) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise TypeError(f"a branch is a BranchConfig or a dict, got {type(data).__name__}")
    known = {f.name for f in fields(BranchConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise KeyError(f"unknown branch keys {unknown}; known: {', '.join(sorted(known))}")
    out = dict(data)
    if "signals" in out:
        out["signals"] = tuple(out["signals"])
    return out


def save_config(
    config: EproxyConfig, path: str | Path, *, name: str = "", meta: Mapping[str, Any] | None = None
) -> Path:
    """Write ``config`` as JSON (``{"name", "config", "meta"}``) to ``path``; returns the path."""
    path = Path(path)
    payload = {"name": name, "config": config.to_dict(), "meta": dict(meta or {})}
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def load_config_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` dict saved with a config (e.g. DPS's fitness and ``labelled`` architectures); ``{}`` if none."""
    data = json.loads(Path(path).read_text())
    meta = data.get("meta") if isinstance(data, Mapping) else None
    return dict(meta) if isinstance(meta, Mapping) else {}


def load_config(path: str | Path) -> EproxyConfig:
    """Read a config saved by :func:`save_config` (or a bare config dict) from JSON."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, Mapping) and "config" in data and isinstance(data["config"], Mapping):
        data = data["config"]
    return EproxyConfig.from_dict(data)
