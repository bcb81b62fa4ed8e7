"""Ground truth of the NDS spaces: the pycls ImageNet records in ``$ARCHRANK_DATA/nds``.

Each record is ``{"net": ..., "optim": ..., "params", "flops", "test_ep_top1": [top-1 error % after each
epoch], "min_test_top1", ...}``. :func:`read_nds` turns one file into a table indexed by the space's
``arch_key`` with ``accuracy`` (= 100 - the final epoch's top-1 error, the number NDS reports), ``error``,
the per-epoch errors ``test_top1_ep1`` .. ``test_top1_ep<E>`` (to rank an epoch-e error against the final
one), ``min_test_top1``, the record's ``params`` / ``flops`` and its training settings (``base_lr``, ``wd``,
``max_ep``: the ``*_lr-wd`` files sample them per record, so they are part of what the accuracy measures).
Structure-only files (no ``test_ep_top1``) give the same table without the accuracy columns.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from archrank import config
from archrank.bench.loaders import GroundTruthError, arch_key
from archrank.spaces.base import SearchSpace, TruthSource
from archrank.spaces.nds import load_nds_records


def load_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of one NDS JSON file (a list, or NDS's ``{"top": [...], "mid": [...]}`` form)."""
    try:
        return load_nds_records(path)
    except ValueError as exc:
        raise GroundTruthError(str(exc)) from exc


def nds_files(space: SearchSpace) -> list[tuple[str, ...]]:
    """The data files (paths relative to the data root) that hold the architectures of an NDS space."""
    family = getattr(space, "family", None)
    if family is None:
        raise ValueError(f"search space {space.name} is not an NDS space")
    return list(family.files)


def iter_space_records(space: SearchSpace, root: Path | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(file, record)`` for every record of every file of an NDS space (files absent are skipped)."""
    root = root if root is not None else config.data_root()
    if root is None:
        return
    for parts in nds_files(space):
        path = root.joinpath(*parts)
        if path.is_file():
            for record in load_records(path):
                yield "/".join(parts), record


def record_at(path: str | Path, index: int) -> dict[str, Any]:
    """Record ``index`` of an NDS file; ``ValueError`` with the file's size when out of range."""
    records = load_records(path)
    if not -len(records) <= index < len(records):
        raise ValueError(f"{path} has {len(records)} records; index {index} is out of range")
    return records[index]


def _row(record: dict[str, Any]) -> dict[str, float]:
    row: dict[str, float] = {}
    errors = [math.nan if value is None else float(value) for value in record.get("test_ep_top1") or []]
    if errors:  # an epoch recorded as null stays unknown (NaN), never a number
        row["accuracy"] = 100.0 - errors[-1]
        row["error"] = errors[-1]
        for epoch, value in enumerate(errors, start=1):
            row[f"test_top1_ep{epoch}"] = value
    for name in ("min_test_top1", "params", "flops"):
        if record.get(name) is not None:
            row[name] = float(record[name])
    optim = record.get("optim") or {}
    for name in ("base_lr", "wd", "max_ep"):
        if optim.get(name) is not None:
            row[name] = float(optim[name])
    return row


def read_nds(path: Path, space: SearchSpace, source: TruthSource) -> pd.DataFrame:
    """One NDS file as a table indexed by ``arch_key`` (columns in the module docstring)."""
    rows: dict[str, dict[str, float]] = {}
    for record in load_records(path):
        key = arch_key(space, record["net"], path)
        if key in rows:
            raise GroundTruthError(f"{path}: architecture {key} appears more than once")
        rows[key] = _row(record)
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "arch_key"
    return frame


def epoch_curve(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch top-1 errors of a :func:`read_nds` table, columns renamed to epoch numbers 1..E."""
    columns = sorted((c for c in frame.columns if c.startswith("test_top1_ep")), key=lambda c: int(c[12:]))
    return frame[columns].rename(columns=lambda c: int(c[12:]))
