"""A search space over a user's own model factory: categorical choices in, an ``nn.Module`` out.

``FactorySpace("mynet", {"depth": [2, 4, 6], "width": [16, 32], "act": ["relu", "gelu"]}, build_fn)`` is a
space of every combination of the options; ``build_fn(depth=4, width=32, act="gelu", num_classes=10)`` must
return the model. An architecture is the tuple of chosen option *values* in decision order; its string is
``"depth=4,width=32,act=gelu"`` (options are matched by their ``str``, so they must print distinctly). An
optional ``constraint(choices) -> bool`` removes combinations (sampling redraws, mutation skips them). Register
it to use it everywhere by name — ``register_space("mynet", lambda: FactorySpace(...))`` — and point
``truth_csv`` at a table of your own trained results (one row per architecture: a column with the
architecture string, a column with the metric) to evaluate proxies against it with ``--truth benchmark``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from torch import nn

from archrank.spaces.base import InvalidArchitectureError, SearchSpace, TruthSource

FactoryArch = tuple[Any, ...]


class FactorySpace(SearchSpace):
    """Every combination of named categorical options, built by ``build_fn(**choices, num_classes=...)``."""

    def __init__(
        self,
        name: str,
        decisions: Mapping[str, Sequence[Any]],
        build_fn: Callable[..., nn.Module],
        *,
        input_shape: tuple[int, int, int] = (3, 32, 32),
        num_classes: int = 10,
        constraint: Callable[[dict[str, Any]], bool] | None = None,
        truth_csv: str | Path | None = None,
        truth_arch_column: str = "arch",
        truth_metric: str = "accuracy",
        truth_description: str | None = None,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("a factory space needs a non-empty name")
        if not decisions:
            raise ValueError(f"factory space {name!r} needs at least one decision")
        self.name = name
        self.options: dict[str, tuple[Any, ...]] = {}
        for key, values in decisions.items():
            options = tuple(values)
            if not options:
                raise ValueError(f"factory space {name!r}: decision {key!r} has no options")
            labels = [str(v) for v in options]
            if len(set(labels)) != len(labels):
                raise ValueError(f"factory space {name!r}: options of {key!r} must print distinctly, got {labels}")
            if any("," in label or "=" in label for label in [key, *labels]):
                raise ValueError(f"factory space {name!r}: names and options may not contain ',' or '='")
            self.options[str(key)] = options
        self.build_fn = build_fn
        self.input_shape = tuple(input_shape)  # type: ignore[assignment]
        self.num_classes = int(num_classes)
        self.constraint = constraint
        self._truth = None if truth_csv is None else TruthSource(
            "csv", (str(Path(truth_csv).expanduser().resolve()),), "archrank.bench.truth_spaces:read_factory_csv",
            truth_metric, truth_description or f"user results {Path(truth_csv).name}, {truth_metric}",
            truth_metric, (("arch_column", truth_arch_column),))

    # decisions
    def decisions(self) -> tuple[int, ...]:
        return tuple(len(v) for v in self.options.values())

    def from_decisions(self, choices: Sequence[int]) -> FactoryArch:
        if len(choices) != len(self.options):
            raise ValueError(f"{self.name} needs {len(self.options)} decisions, got {len(choices)}")
        values = []
        for (key, options), c in zip(self.options.items(), choices, strict=True):
            if not 0 <= int(c) < len(options):
                raise ValueError(f"{self.name}: option {c} of {key!r} is not in 0..{len(options) - 1}")
            values.append(options[int(c)])
        arch = tuple(values)
        if self.constraint is not None and not self.constraint(self.choices(arch)):
            raise InvalidArchitectureError(f"{self.to_str(arch)} violates the constraint of space {self.name}")
        return arch

    def to_decisions(self, arch: FactoryArch) -> tuple[int, ...]:
        out = []
        for (key, options), value in zip(self.options.items(), self._check(arch), strict=True):
            labels = [str(o) for o in options]
            if str(value) not in labels:
                raise ValueError(f"{self.name}: {value!r} is not an option of {key!r} ({', '.join(labels)})")
            out.append(labels.index(str(value)))
        return tuple(out)

    def choices(self, arch: FactoryArch) -> dict[str, Any]:
        """The architecture as ``{decision name: chosen value}`` (what ``build_fn`` receives)."""
        return dict(zip(self.options, self._check(arch), strict=True))

    # names
    def to_str(self, arch: FactoryArch) -> str:
        return ",".join(f"{k}={v}" for k, v in self.choices(arch).items())

    def from_str(self, text: str) -> FactoryArch:
        if not isinstance(text, str):
            raise ValueError(f"{self.name} architecture must be a str, got {type(text).__name__}")
        given: dict[str, str] = {}
        for part in text.strip().split(","):
            key, sep, value = part.partition("=")
            if not sep:
                raise ValueError(f"malformed {self.name} architecture {text!r}: expected 'name=value,...'")
            given[key.strip()] = value.strip()
        if set(given) != set(self.options):
            raise ValueError(f"{self.name} architecture {text!r} must set exactly: {', '.join(self.options)}")
        choices = []
        for key, options in self.options.items():
            labels = [str(o) for o in options]
            if given[key] not in labels:
                raise ValueError(f"{self.name}: {given[key]!r} is not an option of {key!r} ({', '.join(labels)})")
            choices.append(labels.index(given[key]))
        return self.from_decisions(choices)

    def parse(self, ref: Any) -> FactoryArch:
        """An architecture from its string, a ``{name: value}`` mapping or a tuple of values."""
        if isinstance(ref, str):
            return self.from_str(ref)
        if isinstance(ref, Mapping):
            return self.from_str(",".join(f"{k}={v}" for k, v in ref.items()))
        return self.from_decisions(self.to_decisions(tuple(ref)))

    def canonical(self, arch: FactoryArch) -> str:
        return self.to_str(arch)

    def describe(self, arch: FactoryArch) -> list[tuple[str, Any]]:
        return [*super().describe(arch), *self.choices(arch).items()]

    def build(self, arch: FactoryArch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """``build_fn(**choices, num_classes=..., **kwargs)``."""
        classes = self.num_classes if num_classes is None else num_classes
        model = self.build_fn(**self.choices(arch), num_classes=classes, **kwargs)
        if not isinstance(model, nn.Module):
            raise TypeError(f"build_fn of space {self.name} returned {type(model).__name__}, not an nn.Module")
        return model

    def truth_sources(self) -> tuple[TruthSource, ...]:
        return () if self._truth is None else (self._truth,)

    def _check(self, arch: Any) -> FactoryArch:
        if not isinstance(arch, tuple) or len(arch) != len(self.options):
            raise TypeError(f"a {self.name} architecture is a tuple of {len(self.options)} values: "
                            "use space.parse() first")
        return arch
