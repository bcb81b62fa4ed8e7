"""Oracles: what "training an architecture" means to a search.

An oracle answers ``query(arch, fidelity=None) -> OracleResult(valid, test, cost_s)``: the validation accuracy
the search optimises, the test accuracy only reported, and the seconds that training cost.

Fidelities: an oracle may train at several fidelities (e.g. 12 and 200 epochs), named in
:attr:`Oracle.fidelities` from the cheapest to the most faithful. ``fidelity`` is an index into that tuple or a
name; ``None`` means the most faithful one (the last). A single-fidelity oracle has ``fidelities == ("full",)``.
The reported test accuracy is always the most faithful one available, whatever fidelity was searched: a search
is judged on what its pick is really worth. Multi-fidelity policies (EcoNAS's hierarchy,
:class:`~archrank.search.samplers.hierarchical.HierarchicalEvolution`) choose the fidelity of each query.

- :class:`TableOracle` looks the three up in a benchmark table (e.g. NAS-Bench-201's CIFAR-10 CSV: validation
  accuracy to search, test accuracy to report, the 200-epoch training time as the cost of a query). Its other
  numeric columns (``params_M``, ``flops_M``...) are available to proxy scorers through :attr:`TableOracle.frame`.
  With ``fidelities`` it maps each fidelity to its own (valid column, cost column or seconds factor).
- :class:`TrainingOracle` wraps any callable ``arch -> (valid, test[, seconds])`` (or one per fidelity), e.g. a
  reduced trainer; when the callable returns no cost, the wall-clock time of the call is the cost.
  :func:`econas_oracle` builds one from the project's reduced trainer (:mod:`archrank.econas`).
"""

from __future__ import annotations

import math
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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


SINGLE_FIDELITY: tuple[str, ...] = ("full",)
NB201_VALID, NB201_TEST, NB201_COST = "cifar10_valid_acc", "cifar10_test_acc", "cifar10valid_train_time_200ep_s"
NB201_VALID_12EP = "cifar10_valid_acc_12ep"
NB201_CIFAR10_12EP = ("nb201", "nb201_cifar10_12epoch.csv")


class Oracle(ABC):
    """Anything that can "train" an architecture and report its accuracies and cost, at one of its
    :attr:`fidelities` (cheapest first; ``None`` = the last, most faithful one)."""

    fidelities: tuple[str, ...] = SINGLE_FIDELITY

    @abstractmethod
    def query(self, arch: Arch, fidelity: int | str | None = None) -> OracleResult:
        """Train (or look up) ``arch`` at ``fidelity``."""

    def bind(self, space: SearchSpace) -> Oracle:
        """Attach the search space (used by oracles keyed by architecture strings); returns ``self``."""
        return self

    def level(self, fidelity: int | str | None) -> int:
        """Index of ``fidelity`` in :attr:`fidelities` (``None`` -> the last); one clear error when unknown."""
        return fidelity_level(self.fidelities, fidelity)

    def describe(self) -> dict[str, Any]:
        """What defines the oracle's answers (recorded with a search run; a resume must match it)."""
        return {"type": type(self).__name__, "fidelities": list(self.fidelities)}


def fidelity_level(fidelities: tuple[str, ...], fidelity: int | str | None) -> int:
    """Index of ``fidelity`` (an index, a name or ``None`` for the last) in ``fidelities``."""
    if fidelity is None:
        return len(fidelities) - 1
    if isinstance(fidelity, str):
        if fidelity not in fidelities:
            raise ValueError(f"unknown fidelity {fidelity!r}; this oracle has {', '.join(fidelities)}")
        return fidelities.index(fidelity)
    level = int(fidelity)
    if not -len(fidelities) <= level < len(fidelities):
        raise ValueError(f"fidelity {level} is out of range: the oracle has {', '.join(fidelities)}")
    return level % len(fidelities)


@dataclass(frozen=True)
class Fidelity:
    """One fidelity of a :class:`TableOracle`: the column searched at it and what a query costs there.

    The cost is ``cost_scale`` times the value of ``cost`` (a column of seconds), or ``cost_scale`` seconds
    when ``cost`` is ``None``. Example: NB201's 12-epoch accuracy costs 12/200 of the 200-epoch training time,
    ``Fidelity("12ep", "cifar10_valid_acc_12ep", "cifar10valid_train_time_200ep_s", 12 / 200)``.
    """

    name: str
    valid: str
    cost: str | None = None
    cost_scale: float = 1.0


class TableOracle(Oracle):
    """A benchmark table as an oracle: one row per architecture, columns for valid, test and cost.

    ``frame`` is indexed by architecture key. With a ``space`` the index holds ``space.key`` of each row (the
    raw references are parsed with ``space.parse``, so indices or tuples work too); without one the raw
    strings are kept and the oracle is keyed on ``str(arch)`` until :meth:`bind` attaches a space (``search.run``
    does so). ``cost=None`` charges ``unit_cost`` seconds per query. ``fidelities`` (cheapest first) replace
    ``valid``/``cost``/``unit_cost`` with one :class:`Fidelity` each; ``test`` is reported at every fidelity.
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
        fidelities: Sequence[Fidelity] | None = None,
    ) -> None:
        levels = tuple(fidelities) if fidelities else (Fidelity("full", valid, cost, 1.0 if cost else unit_cost),)
        if len({f.name for f in levels}) != len(levels):
            raise ValueError(f"{source}: fidelity names must be distinct, got {[f.name for f in levels]}")
        needed = [test, *(c for f in levels for c in (f.valid, f.cost))]
        missing = list(dict.fromkeys(c for c in needed if c is not None and c not in frame.columns))
        if missing:
            raise ValueError(f"{source}: missing column(s) {', '.join(missing)} (have: {', '.join(frame.columns)})")
        for column in dict.fromkeys(c for c in needed if c is not None):
            if not pd.api.types.is_numeric_dtype(frame[column]):
                bad = frame[column][pd.to_numeric(frame[column], errors="coerce").isna() & frame[column].notna()]
                raise ValueError(f"{source}: column {column!r} is not numeric (e.g. {bad.iloc[0]!r} at row "
                                 f"{frame.index.get_loc(bad.index[0]) + 1})")
        for column in dict.fromkeys(f.cost for f in levels if f.cost is not None):
            missing_cost = np.flatnonzero(frame[column].isna().to_numpy())  # a NaN cost would stop max_cost for ever
            if len(missing_cost):
                first = missing_cost[0]
                raise ValueError(f"{source}: cost column {column!r} has {len(missing_cost)} NaN value(s) (e.g. row "
                                 f"{first + 1}, {frame.index[first]}); a search's cost needs them all")
        if frame.index.has_duplicates:
            raise ValueError(f"{source}: architecture {frame.index[frame.index.duplicated()][0]} appears twice")
        self.levels = levels
        self.fidelities = tuple(f.name for f in levels)
        self.valid, self.test, self.cost = levels[-1].valid, test, levels[-1].cost
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
        from archrank.bench.tables import read_keyed_table

        try:
            frame = read_keyed_table(path, arch_column)
        except (ValueError, OSError, pd.errors.ParserError) as exc:
            raise ValueError(f"cannot read oracle table {path}: {exc}") from exc
        return cls.from_frame(frame, valid, test, cost, arch_column, space=space, unit_cost=unit_cost,
                              source=str(path))

    @classmethod
    def nb201_cifar10(
        cls,
        space: SearchSpace,
        path: str | Path | None = None,
        valid: str = NB201_VALID,
        test: str = NB201_TEST,
        cost: str | None = NB201_COST,
        unit_cost: float = 1.0,
    ) -> TableOracle:
        """The shared NAS-Bench-201 CIFAR-10 table (cifar10-valid accuracy searched, test reported by default;
        any of its numeric columns may be chosen instead, and ``cost=None`` charges ``unit_cost`` per query)."""
        from archrank.bench.tables import NB201_CIFAR10, load_nb201_cifar10
        from archrank.config import data_file

        source = str(path if path is not None else data_file(*NB201_CIFAR10))
        frame = load_nb201_cifar10(space, source)
        oracle = cls(frame, valid, test, cost, unit_cost=unit_cost, source=source)
        oracle.space = space
        return oracle

    @classmethod
    def nb201_fidelities(
        cls, space: SearchSpace, path: str | Path | None = None, path_12ep: str | Path | None = None
    ) -> TableOracle:
        """NAS-Bench-201 CIFAR-10 at two real fidelities for every cell, cheapest first:

        - ``"12ep"``: the benchmark's 12-epoch training (validation accuracy of ``nb201_cifar10_12epoch.csv``),
          costing 12/200 of the cell's 200-epoch training time (the same cost per epoch);
        - ``"200ep"``: the 200-epoch training (cifar10-valid accuracy), at its full time.

        The 200-epoch test accuracy is reported at both. Every cell must be in both tables.
        """
        from archrank.bench.tables import NB201_CIFAR10, NB201_NUM_ARCHS, load_nb201_cifar10, load_table
        from archrank.config import data_file

        source = str(path if path is not None else data_file(*NB201_CIFAR10))
        source_12 = str(path_12ep if path_12ep is not None else data_file(*NB201_CIFAR10_12EP))
        frame = load_nb201_cifar10(space, source)
        short = load_table(source_12, space, arch_column="arch_str", metrics=[NB201_VALID_12EP],
                           expected_rows=NB201_NUM_ARCHS)
        missing = frame.index.difference(short.index)
        if len(missing):
            raise ValueError(f"{source_12}: {len(missing)} cells of {source} are missing (e.g. {missing[0]})")
        frame = frame.join(short[[NB201_VALID_12EP]])
        fidelities = (Fidelity("12ep", NB201_VALID_12EP, NB201_COST, 12 / 200), Fidelity("200ep", NB201_VALID,
                                                                                       NB201_COST, 1.0))
        oracle = cls(frame, NB201_VALID, NB201_TEST, NB201_COST, source=f"{source} + {source_12}",
                     fidelities=fidelities)
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
    def query(self, arch: Arch, fidelity: int | str | None = None) -> OracleResult:
        level = self.levels[self.level(fidelity)]
        key = self.key_of(arch)
        try:
            row = self.frame.loc[key]
        except KeyError:
            raise KeyError(f"{self.source}: architecture {key} is not in the table") from None
        cost = level.cost_scale * (float(row[level.cost]) if level.cost is not None else 1.0)
        return OracleResult(float(row[level.valid]), float(row[self.test]), cost)

    def describe(self) -> dict[str, Any]:
        return {
            "type": type(self).__name__, "source": self.source, "test": self.test,
            "fidelities": [{"name": f.name, "valid": f.valid, "cost": f.cost, "cost_scale": f.cost_scale}
                           for f in self.levels],
        }

    def __len__(self) -> int:
        return len(self.frame)

    def __contains__(self, arch: Arch) -> bool:
        return self.key_of(arch) in self.frame.index

    def top_threshold(self, fraction: float = 0.001, metric: str = "test") -> float:
        """Test (or valid) accuracy of the ``ceil(fraction * N)``-th best row: the bar of the top ``fraction``.
        ``N`` counts the rows with a number: NaN (no result) is left out, it would sort first. NaN when the column
        has no number at all."""
        column = {"test": self.test, "valid": self.valid}.get(metric, metric)
        values = self.frame[column].to_numpy(dtype=float)
        values = np.sort(values[~np.isnan(values)])[::-1]
        if not len(values):
            return math.nan
        k = max(1, math.ceil(fraction * len(values)))
        return float(values[k - 1])


class TrainingOracle(Oracle):
    """An oracle backed by any callable ``arch -> (valid, test)`` or ``arch -> (valid, test, seconds)``, or by
    a mapping fidelity name -> such a callable (cheapest first) for a multi-fidelity oracle.

    This is how a real trainer (e.g. a reduced EcoNAS-style schedule) plugs into a search. When the callable
    does not report seconds, or ``measure=True``, the wall-clock time of the call is the cost.
    """

    def __init__(
        self,
        train: Callable[[Arch], Any] | Mapping[str, Callable[[Arch], Any]],
        measure: bool = False,
        name: str = "training",
    ) -> None:
        trainers = dict(train) if isinstance(train, Mapping) else {SINGLE_FIDELITY[0]: train}
        if not trainers:
            raise ValueError(f"{name}: a multi-fidelity TrainingOracle needs at least one fidelity")
        for fn in trainers.values():
            if not callable(fn):
                raise TypeError(f"TrainingOracle needs a callable, got {type(fn).__name__}")
        self.trainers = trainers
        self.fidelities = tuple(trainers)
        self.train = trainers[self.fidelities[-1]]
        self.measure = measure
        self.name = name

    def query(self, arch: Arch, fidelity: int | str | None = None) -> OracleResult:
        train = self.trainers[self.fidelities[self.level(fidelity)]]
        start = time.perf_counter()
        out = train(arch)
        took = time.perf_counter() - start
        if not isinstance(out, (tuple, list)) or len(out) not in (2, 3):
            raise TypeError(f"{self.name}: the training callable must return (valid, test[, seconds]), got {out!r}")
        values = tuple(out)
        valid, test = float(values[0]), float(values[1])
        cost = took if self.measure or len(values) == 2 else float(values[2])
        return OracleResult(valid, test, cost)

    def describe(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "name": self.name, "fidelities": list(self.fidelities)}


CallableOracle = TrainingOracle


def econas_oracle(
    space: SearchSpace,
    setting: str | Sequence[str] = "c4r4s0e10",
    data: Any = ("cifar10", None),
    seed: int = 0,
    device: str = "cpu",
    report: TableOracle | None = None,
    store: Any = None,
    cost: str = "wall",
    holdout: float | None = 0.1,
    **scorer_kwargs: Any,
) -> TrainingOracle:
    """Real training as an oracle: the reduced (EcoNAS-style) trainer of :mod:`archrank.econas`.

    Each query trains the architecture from scratch under ``setting`` (one setting, or several: one fidelity
    each, cheapest first, named by the setting) and uses the accuracy it reports as the *searched* value; the
    cost is the training's wall-clock seconds. That accuracy is measured on a seeded, class-balanced ``holdout``
    fraction of the *training* images, which the training then does not use
    (:func:`archrank.econas.data.validation_split`), so the search never selects on the test images;
    ``holdout=None`` trains on every training image and measures on the test split (searched and reported value
    are then the same test accuracy: for studies that do not select). With a ``store`` (a path or an open results
    store) trainings are cached there and reused across seeds and runs, still charged their recorded seconds.
    With a ``report`` table (e.g. the NB201 benchmark) the reported test accuracy is the table's, so a search
    driven by real reduced training is judged on the benchmark's full-training accuracy (NaN for a cell the table
    lacks); without one it is NaN under a hold-out (the test split is never measured: judge the pick yourself),
    else the reduced training's test accuracy. The data are prepared once per setting, on the first query.
    ``cost="cpu"`` charges each training's process CPU seconds
    instead of its wall seconds: on a shared machine wall time grows with the load of other jobs, so CPU time
    is the fairer budget for comparing searches there.
    ``scorer_kwargs`` go to :class:`~archrank.econas.scorer.ReducedTrainingScorer`.
    """
    from archrank.econas.data import load_data, validation_split  # lazy: only training oracles need the trainer
    from archrank.econas.scorer import ReducedTrainingScorer
    from archrank.econas.store import TrainingStore

    if cost not in ("wall", "cpu"):
        raise ValueError(f"training cost must be 'wall' or 'cpu', got {cost!r}")
    data = load_data(data) if holdout is None else validation_split(load_data(data), holdout)
    settings = [setting] if isinstance(setting, str) else list(setting)
    if report is not None:
        report.bind(space)
    views: dict[int, TrainingStore] = {}

    def view() -> TrainingStore | None:
        """The store view of this process, opened on its first training (a path is opened per process, so a
        forked search worker never shares the parent's SQLite connection)."""
        if store is None:
            return None
        if os.getpid() not in views:
            views[os.getpid()] = TrainingStore(store)
        return views[os.getpid()]

    def trainer(spec: str) -> Callable[[Arch], OracleResult]:
        scorer = ReducedTrainingScorer(spec, data, seed=seed, device=device, store=None, **scorer_kwargs)

        def train(arch: Arch) -> OracleResult:
            scorer.store = view()
            result = scorer.result(space, arch)
            test = float(result.accuracy) if holdout is None else math.nan  # the test split, or not measured
            if report is not None:  # the benchmark's accuracy; NaN for a cell the table lacks (never made up)
                test = report.query(arch).test if arch in report else math.nan
            seconds = result.cpu_seconds if cost == "cpu" else result.seconds
            return OracleResult(float(result.accuracy), test, float(seconds))

        return train

    trainers = {str(spec): trainer(spec) for spec in settings}
    return TrainingOracle(trainers, name=f"econas {','.join(trainers)}")
