"""Ground truth that a search space declares for itself (``space.truth_sources()``), read from the shared data.

Each :class:`~archrank.spaces.base.TruthSource` names a file under the data root, the reader that turns it
into a table indexed by ``arch_key`` and the metric used as accuracy. ``archrank evaluate --truth benchmark``
(or ``--truth auto`` on any space but NB201) takes the space's first source, ``--truth benchmark:NAME`` another
one (e.g. a TransNAS-Bench-101 task). The readers here cover the Suite-Zero JSON files, NAS-Bench-Macro's JSON
and TransNAS-Bench-101's per-task CSV; a space may point its source at a reader of its own module.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from archrank import config
from archrank.bench import loaders
from archrank.bench.truth import Truth
from archrank.spaces import SearchSpace
from archrank.spaces.base import TruthSource

Reader = Callable[[Path, SearchSpace, TruthSource], pd.DataFrame]


def source_for(space: SearchSpace, name: str | None = None) -> TruthSource:
    """The space's truth source called ``name`` (default: its first); ``ValueError`` listing them otherwise."""
    sources = space.truth_sources()
    if not sources:
        raise ValueError(f"search space {space.name} declares no benchmark ground truth: use --truth csv:PATH:...")
    if not name:
        return sources[0]
    for source in sources:
        if source.name == name:
            return source
    raise ValueError(f"search space {space.name} has no ground truth {name!r} "
                     f"(available: {', '.join(s.name for s in sources)})")


def source_path(source: TruthSource) -> Path | None:
    """Where the source's file is (its ``path``, else the first of its ``fallbacks``; under the data root unless
    absolute) — a file that lacks the source's ``marker`` does not count — or ``None`` when there is none."""
    for path in _candidates(source):
        if path is not None and path.is_file() and _has_marker(path, source.marker):
            return path
    return None


def source_status(source: TruthSource) -> str:
    """``"present"``, ``"missing"``, or ``"no accuracy in file"`` when a file is there without the source's
    ``marker`` (e.g. a structure-only copy of a benchmark file)."""
    if source_path(source) is not None:
        return "present"
    return "no accuracy in file" if any(p is not None and p.is_file() for p in _candidates(source)) else "missing"


def _candidates(source: TruthSource) -> list[Path | None]:
    """Every place the source's file may be, in order (``None`` for a relative one when there is no data root)."""
    root = config.data_root()
    return [Path(*parts) if Path(*parts).is_absolute() else (root.joinpath(*parts) if root is not None else None)
            for parts in (source.path, *source.fallbacks)]


def _has_marker(path: Path, marker: str | None) -> bool:
    return marker is None or marker.encode() in path.read_bytes()


def _where(source: TruthSource) -> str:
    """The source's places as the error message names them."""
    places = [parts[0] if Path(*parts).is_absolute() else f"$ARCHRANK_DATA/{'/'.join(parts)}"
              for parts in (source.path, *source.fallbacks)]
    found = [str(p) for p in _candidates(source) if p is not None and p.is_file()]
    holds = f" ({', '.join(found)} holds no {source.marker})" if found and source.marker else ""
    return " or ".join(places) + holds


def available_sources(space: SearchSpace) -> list[TruthSource]:
    """The space's truth sources whose file is present."""
    return [s for s in space.truth_sources() if source_path(s) is not None]


def _reader(source: TruthSource) -> Reader:
    module_name, _, attribute = source.reader.partition(":")
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"truth source {source.name!r}: cannot load reader {source.reader!r}: {exc}") from None


def read_source(space: SearchSpace, source: TruthSource, path: str | Path | None = None) -> pd.DataFrame:
    """The whole table of ``source`` (indexed by ``arch_key``), from ``path`` or the shared data."""
    file = Path(path) if path is not None else source_path(source)
    if file is None:
        raise FileNotFoundError(f"ground truth {source.name!r} of {space.name} needs {_where(source)}")
    return _reader(source)(file, space, source)


def load_space_truth(
    space: SearchSpace, name: str | None = None, metric: str | None = None, path: str | Path | None = None
) -> Truth:
    """A :class:`Truth` from the space's own benchmark files (see the module docstring)."""
    source = source_for(space, name)
    table = read_source(space, source, path)
    column = metric or source.metric
    if column not in table.columns:
        raise ValueError(f"ground truth {source.name!r} has no metric {column!r} "
                         f"(available: {', '.join(map(str, table.columns))})")
    label = source.label if column == source.metric else column
    description = source.description if column == source.metric else f"{source.description}; column {column}"
    return Truth(table[column].astype(float), description, label)


# --- readers -------------------------------------------------------------------------------------------------


def read_nb201_csv(path: Path, space: SearchSpace, source: TruthSource) -> pd.DataFrame:
    """The shared NB201 CIFAR-10 table."""
    from archrank.bench.tables import load_nb201_cifar10

    return load_nb201_cifar10(space, path)


def read_suite_zero(path: Path, space: SearchSpace, source: TruthSource) -> pd.DataFrame:
    """A Suite-Zero JSON file: accuracy plus every reference score (option ``dataset``: the dataset or task)."""
    data = loaders.load_suite_zero(path, space, source.option("dataset", "cifar10"))
    scores = data.scores.rename(columns=lambda c: f"{c}_score" if c in data.truth.columns else c)
    return data.truth.join(scores)


def read_macro(path: Path, space: SearchSpace, source: TruthSource) -> pd.DataFrame:
    """NAS-Bench-Macro's JSON: ``mean_acc``, ``std``, the three seeds' ``test_acc_<i>``, ``params``, ``flops``."""
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise loaders.GroundTruthError(f"{path}: not valid JSON (truncated?): {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise loaders.GroundTruthError(f"{path}: expected an object of architectures")
    rows: dict[str, dict[str, float]] = {}
    for ref, entry in data.items():
        if not isinstance(entry, dict) or "mean_acc" not in entry:
            raise loaders.GroundTruthError(f"{path}: entry {ref!r} has no mean_acc")
        key = loaders.arch_key(space, ref, path)
        row = {name: float(entry[name]) for name in ("mean_acc", "std", "params", "flops") if name in entry}
        for seed, value in enumerate(entry.get("test_acc", [])):
            row[f"test_acc_{seed}"] = float(value)
        rows[key] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "arch_key"
    return frame


def read_tnb101_csv(path: Path, space: SearchSpace, source: TruthSource) -> pd.DataFrame:
    """TransNAS-Bench-101's ``arch, task, val_metric`` table, rows of one task (option ``task``)."""
    task = source.option("task")
    table = pd.read_csv(path)
    missing = {"arch", "task", "val_metric"} - set(table.columns)
    if missing:
        raise loaders.GroundTruthError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    rows = table[table["task"] == task]
    if rows.empty:
        raise loaders.GroundTruthError(f"{path}: no rows for task {task!r} "
                                       f"(tasks: {', '.join(sorted(table['task'].unique()))})")
    keys = [loaders.arch_key(space, ref, path) for ref in rows["arch"]]
    frame = pd.DataFrame({"val_metric": rows["val_metric"].astype(float).to_numpy()}, index=pd.Index(keys))
    frame.index.name = "arch_key"
    if frame.index.has_duplicates:
        raise loaders.GroundTruthError(f"{path}: task {task!r} lists an architecture more than once")
    return frame


def read_factory_csv(path: Path, space: SearchSpace, source: TruthSource) -> pd.DataFrame:
    """A user's own results table (CSV or Parquet): the architecture column (option ``arch_column``) and
    every other column as a metric."""
    from archrank.bench.tables import load_table

    return load_table(path, space, arch_column=source.option("arch_column", "arch"))
