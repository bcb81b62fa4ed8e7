"""Ground truth from one short spec string, as ``archrank evaluate --truth SPEC`` takes it.

=========================================  ==============================================================
``auto`` (default)                         ``nb201-csv`` when the shared data is present, else ``analog``
``nb201-csv[:PATH]``                       the shared NB201 table (NATS-Bench accuracies), metric
                                           ``cifar10_test_acc`` by default
``csv:PATH:ARCHCOL[:METRIC]``              any CSV/Parquet table with an architecture column
``suite-zero:PATH[:DATASET]``              NAS-Bench-Suite-Zero JSON, metric ``val_accuracy``
``analog``                                 the ``analog-nasbench`` package's CIFAR-10 training of all 15625
                                           NB201 cells, metric ``baseline_accuracy``
``naslib:PATH[:DATASET]``                  NASLib NB201 pickle, metric ``val_acc`` (``eval_acc1es``, last epoch)
``nb201-api:PATH[:DATASET]``               official NAS-Bench-201 ``.pth`` / NATS-Bench file or folder,
                                           metric ``test_acc`` (200 epochs)
``store:SOURCE``                           ground truth saved in the results store under SOURCE
``benchmark[:NAME]``                       the space's own benchmark file (``space.truth_sources()``; the
                                           default of ``auto`` on every space but NB201)
=========================================  ==============================================================

Every :class:`Truth` carries a ``source`` sentence that reports and figures print, so a number is never
separated from the table it was measured against.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from archrank import config
from archrank.bench import loaders
from archrank.bench.tables import NB201_CIFAR10, load_nb201_cifar10, load_table
from archrank.spaces import SearchSpace

TRUTH_SPECS = ("auto", "nb201-csv", "csv", "suite-zero", "analog", "naslib", "nb201-api", "store", "benchmark")
_LABELS = {
    "cifar10_test_acc": "CIFAR-10 test accuracy (%)",
    "cifar10_valid_acc": "CIFAR-10 validation accuracy (%)",
    "val_accuracy": "CIFAR-10 validation accuracy (%)",
    "baseline_accuracy": "CIFAR-10 test accuracy (%)",
    "test_acc": "test accuracy (%)",
    "val_acc": "validation accuracy (%)",
}


@dataclass(frozen=True)
class Truth:
    """One ground-truth metric: values by arch_key, the source sentence, and an axis label."""

    values: pd.Series
    source: str
    label: str


def _pick(table: pd.DataFrame, metric: str, where: str) -> pd.Series:
    if metric not in table.columns:
        raise ValueError(f"{where} has no metric {metric!r} (available: {', '.join(map(str, table.columns))})")
    return table[metric].astype(float)


def _shared_csv_exists() -> bool:
    root = config.data_root()
    return root is not None and root.joinpath(*NB201_CIFAR10).is_file()


def load_truth(
    spec: str, space: SearchSpace, metric: str | None = None, store_path: str | Path | None = None
) -> Truth:
    """Resolve a truth spec (table in the module docstring) to a :class:`Truth` for ``space``."""
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "auto" and space.name != "nb201":
        kind = "benchmark"
    if kind == "auto":
        kind = "nb201-csv" if _shared_csv_exists() else "analog"
    if kind == "benchmark":
        from archrank.bench.truth_spaces import load_space_truth

        return load_space_truth(space, rest or None, metric)
    if kind == "nb201-csv":
        table = load_nb201_cifar10(space, rest or None)
        name = metric or "cifar10_test_acc"
        where = rest or "shared nb201/nb201_cifar10.csv"
        source = f"NAS-Bench-201 table ({where}; NATS-Bench 200-epoch training), {name}"
        return Truth(_pick(table, name, where), source, _LABELS.get(name, name))
    if kind == "csv":
        head, _, last = rest.rpartition(":")
        if Path(head).is_file():  # csv:PATH:ARCHCOL, metric from --metric
            path, arch_col, name = head, last, metric
        else:  # csv:PATH:ARCHCOL:METRIC
            path, _, arch_col = head.rpartition(":")
            name = last
            if metric and metric != name:
                raise ValueError(f"csv truth names the metric {name!r} and --metric says {metric!r}: give one")
        if not path or not arch_col:
            raise ValueError("csv truth needs csv:PATH:ARCHCOL[:METRIC]")
        if not name:
            raise ValueError("csv truth needs a metric: csv:PATH:ARCHCOL:METRIC or --metric")
        table = load_table(path, space, arch_column=arch_col, metrics=[name])
        return Truth(table[name].astype(float), f"table {path}, {name}", _LABELS.get(name, name))
    if kind == "suite-zero":
        path, _, dataset = rest.partition(":")
        data = loaders.load_suite_zero(path, space, dataset or "cifar10")
        name = metric or loaders.SUITE_ZERO_ACCURACY
        source = f"NAS-Bench-Suite-Zero {Path(path).name} ({dataset or 'cifar10'}), {name}"
        return Truth(_pick(data.truth, name, path), source, _LABELS.get(name, name))
    if kind == "analog":
        table = loaders.load_analog_nasbench(space, rest or None)
        name = metric or "baseline_accuracy"
        source = (f"analog-nasbench {loaders.ANALOG_VERSION} (PyPI; its own CIFAR-10 training of all 15625 NB201 "
                  f"cells), {name}")
        return Truth(_pick(table, name, "analog-nasbench"), source, _LABELS.get(name, name))
    if kind == "naslib":
        path, _, dataset = rest.partition(":")
        table = loaders.load_naslib_nb201(path, space, dataset or "cifar10-valid")
        name = metric or "val_acc"
        return Truth(_pick(table, name, path), f"NASLib pickle {Path(path).name}, {name}", _LABELS.get(name, name))
    if kind == "nb201-api":
        path, _, dataset = rest.partition(":")
        table = loaders.load_nb201_api(path, space, dataset or "cifar10")
        name = metric or "test_acc"
        source = f"official benchmark file {Path(path).name} ({dataset or 'cifar10'}, 200 epochs), {name}"
        return Truth(_pick(table, name, path), source, _LABELS.get(name, name))
    if kind == "store":
        from archrank.store import DEFAULT_PATH, Store

        with Store(store_path or DEFAULT_PATH, create=False) as store:  # reading truth never makes a results file
            table = store.ground_truth(rest, space.name)
        if table.empty:
            raise ValueError(f"the store has no ground truth {rest!r} for space {space.name}")
        name = metric or str(table.columns[0])
        return Truth(_pick(table, name, f"store truth {rest!r}"), f"store ground truth {rest!r}, {name}",
                     _LABELS.get(name, name))
    raise ValueError(f"unknown truth spec {spec!r}; use one of: {', '.join(TRUTH_SPECS)} (see --help)")
