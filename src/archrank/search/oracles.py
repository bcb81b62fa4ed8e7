"""Oracles: what "training an architecture" means to a search.

An oracle answers ``query(arch) -> OracleResult(valid, test, cost_s)``: the validation accuracy the search
optimises, the test accuracy only reported, and the seconds that training cost.

- :class:`TableOracle` looks the three up in a benchmark table (e.g. NAS-Bench-201's CIFAR-10 CSV: validation
  accuracy to search, test accuracy to report, the 200-epoch training time as the cost of a query). Its other
  numeric columns (``params_M``, ``flops_M``...) are available to proxy scorers through :attr:`TableOracle.frame`.
- :class:`TrainingOracle` wraps any callable ``arch -> (valid, test[, seconds])``, e.g. a reduced trainer; when
  the callable returns no cost, the wall-clock time of the call is the cost. :func:`econas_oracle` builds one
  from the project's reduced trainer (:mod:`archrank.econas`).
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from archrank.spaces.base import Arch, SearchSpace


class OracleResult(NamedTuple):
    """One trained architecture: validation accuracy (searched), test accuracy (reported), cost in seconds."""

    valid: float
    test: float
    cost_s: float


class Oracle(ABC):
    """Anything that can "train" an architecture and report its accuracies and cost."""

    @abstractmethod
    def query(self, arch: Arch) -> OracleResult:
        """Train (or look up) ``arch``."""

    def bind(self, space: SearchSpace) -> Oracle:
        """Attach the search space (used by oracles keyed by architecture strings); returns ``self``."""
        return self


class TableOracle(Oracle):
    """A benchmark table as an oracle: one row per architecture, columns for valid, test and cost.

    ``frame`` is indexed by architecture key. With a ``space`` the index holds ``space.key`` of each row (the
    raw references are parsed with ``space.parse``, so indices or tuples work too); without one the raw
    strings are kept and the oracle is keyed on ``str(arch)`` until :meth:`bind` attaches a space (``search.run``
    does so). ``cost=None`` charges ``unit_cost`` seconds per query.
    """

    def __init__(
        self,
        frame: pd.DataFrame,
        valid: str,
        test: str,
        cost: str | None = None,
        space: SearchSpace | None = None,
        unit_cost: float = 1.0,
        source: str = "table",
    ) -> None:
        missing = [c for c in (valid, test, cost) if c is not None and c not in frame.columns]
        if missing:
            raise ValueError(f"{source}: missing column(s) {', '.join(missing)} (have: {', '.join(frame.columns)})")
        if frame.index.has_duplicates:
            raise ValueError(f"{source}: architecture {frame.index[frame.index.duplicated()][0]} appears twice")
        self.valid, self.test, self.cost = valid, test, cost
        self.unit_cost = float(unit_cost)
        self.source = source
        self.space: SearchSpace | None = None
        self._raw = frame
        self.frame = frame
        if space is not None:
            self.bind(space)

    # --- construction --------------------------------------------------------------------------------
    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        valid: str = "cifar10_valid_acc",
        test: str = "cifar10_test_acc",
        cost: str | None = "cifar10valid_train_time_200ep_s",
        arch_column: str | None = "arch_str",
        space: SearchSpace | None = None,
        unit_cost: float = 1.0,
        source: str = "frame",
    ) -> TableOracle:
        """Oracle from a DataFrame; ``arch_column=None`` uses the frame's index as architecture references."""
        if arch_column is not None:
            if arch_column not in frame.columns:
                raise ValueError(f"{source}: no architecture column {arch_column!r} (have: {', '.join(frame.columns)})")
            frame = frame.set_index(arch_column)
        frame = frame.copy()
        frame.index = pd.Index([str(k) for k in frame.index], name="arch_key")
        return cls(frame, valid, test, cost, space=space, unit_cost=unit_cost, source=source)

    @classmethod
    def from_csv(
        cls,
        path: str | Path,
        valid: str = "cifar10_valid_acc",
        test: str = "cifar10_test_acc",
        cost: str | None = "cifar10valid_train_time_200ep_s",
        arch_column: str = "arch_str",
        space: SearchSpace | None = None,
        unit_cost: float = 1.0,
    ) -> TableOracle:
        """Oracle from a CSV (or Parquet) file with one row per architecture."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"oracle table not found: {path}")
        try:
            frame = pd.read_parquet(path) if path.suffix.lower() in (".parquet", ".pq") else pd.read_csv(path)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise ValueError(f"cannot read oracle table {path}: {exc}") from exc
        return cls.from_frame(frame, valid, test, cost, arch_column, space=space, unit_cost=unit_cost,
                              source=str(path))

    @classmethod
    def nb201_cifar10(cls, space: SearchSpace, path: str | Path | None = None) -> TableOracle:
        """The shared NAS-Bench-201 CIFAR-10 table (cifar10-valid accuracy searched, test reported)."""
        from archrank.bench.tables import NB201_CIFAR10, load_nb201_cifar10
        from archrank.config import data_file

        source = str(path if path is not None else data_file(*NB201_CIFAR10))
        frame = load_nb201_cifar10(space, source)
        oracle = cls(frame, "cifar10_valid_acc", "cifar10_test_acc", "cifar10valid_train_time_200ep_s",
                     source=source)
        oracle.space = space
        return oracle

    # --- keys ----------------------------------------------------------------------------------------
    def bind(self, space: SearchSpace) -> TableOracle:
        """Re-key the table by ``space.key`` (parsing each row's reference); idempotent for the same space."""
        if self.space is space:
            return self
        keys = []
        for row, ref in enumerate(self._raw.index):
            try:
                keys.append(space.key(space.parse(ref)))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{self.source}: row {row + 1}: {exc}") from exc
        frame = self._raw.copy()
        frame.index = pd.Index(keys, name="arch_key")
        if frame.index.has_duplicates:
            raise ValueError(f"{self.source}: architecture {frame.index[frame.index.duplicated()][0]} appears twice")
        self.frame, self.space = frame, space
        return self

    def key_of(self, arch: Arch) -> str:
        return self.space.key(arch) if self.space is not None else str(arch)

    # --- queries -------------------------------------------------------------------------------------
    def query(self, arch: Arch) -> OracleResult:
        key = self.key_of(arch)
        try:
            row = self.frame.loc[key]
        except KeyError:
            raise KeyError(f"{self.source}: architecture {key} is not in the table") from None
        cost = float(row[self.cost]) if self.cost is not None else self.unit_cost
        return OracleResult(float(row[self.valid]), float(row[self.test]), cost)

    def __len__(self) -> int:
        return len(self.frame)

    def __contains__(self, arch: Arch) -> bool:
        return self.key_of(arch) in self.frame.index

    def top_threshold(self, fraction: float = 0.001, metric: str = "test") -> float:
        """Test (or valid) accuracy of the ``ceil(fraction * N)``-th best row: the bar of the top ``fraction``."""
        column = {"test": self.test, "valid": self.valid}.get(metric, metric)
        values = np.sort(self.frame[column].to_numpy(dtype=float))[::-1]
        k = max(1, math.ceil(fraction * len(values)))
        return float(values[k - 1])


class TrainingOracle(Oracle):
    """An oracle backed by any callable ``arch -> (valid, test)`` or ``arch -> (valid, test, seconds)``.

    This is how a real trainer (e.g. a reduced EcoNAS-style schedule) plugs into a search. When the callable
    does not report seconds, or ``measure=True``, the wall-clock time of the call is the cost.
    """

    def __init__(self, train: Callable[[Arch], Any], measure: bool = False, name: str = "training") -> None:
        if not callable(train):
            raise TypeError(f"TrainingOracle needs a callable, got {type(train).__name__}")
        self.train = train
        self.measure = measure
        self.name = name

    def query(self, arch: Arch) -> OracleResult:
        start = time.perf_counter()
        out = self.train(arch)
        took = time.perf_counter() - start
        if not isinstance(out, (tuple, list)) or len(out) not in (2, 3):
            raise TypeError(f"{self.name}: the training callable must return (valid, test[, seconds]), got {out!r}")
        values = tuple(out)
        valid, test = float(values[0]), float(values[1])
        cost = took if self.measure or len(values) == 2 else float(values[2])
        return OracleResult(valid, test, cost)


CallableOracle = TrainingOracle


def econas_oracle(
    space: SearchSpace,
    setting: str = "c4r4s0e10",
    data: Any = ("cifar10", None),
    seed: int = 0,
    device: str = "cpu",
    report: TableOracle | None = None,
    **train_kwargs: Any,
) -> TrainingOracle:
    """Real training as an oracle: the reduced (EcoNAS-style) trainer of :mod:`archrank.econas`.

    Each query trains the architecture from scratch under ``setting`` and uses the accuracy it reports (measured
    on the dataset's held-out split) as the *searched* value; the cost is the training's wall-clock seconds. With
    a ``report`` table (e.g. the NB201 benchmark) the reported test accuracy is the table's, so a search driven by
    real reduced training is judged on the benchmark's full-training accuracy; otherwise it is the same value.
    The data are prepared once, on the first query.
    """
    from archrank import econas  # lazy: only training oracles need the trainer

    parsed = econas.parse_setting(setting)
    prepared: dict[str, Any] = {}
    if report is not None:
        report.bind(space)

    def train(arch: Arch) -> OracleResult:
        if "data" not in prepared:
            prepared["data"] = econas.prepare(econas.load_data(data), parsed, seed)
        result = econas.train(space, arch, parsed, data=prepared["data"], seed=seed, device=device, **train_kwargs)
        test = report.query(arch).test if report is not None else float(result.accuracy)
        return OracleResult(float(result.accuracy), test, float(result.seconds))

    return TrainingOracle(train, name=f"econas {setting}")
