"""Ground-truth tables: a generic CSV/Parquet loader and the shared NAS-Bench-201 CIFAR-10 table.

A table maps architecture keys (the space's ``key()``, e.g. NB201 arch strings) to metric columns.
Problems with the file (missing, truncated, wrong columns, keys the space cannot parse) raise one clear error.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from archrank.config import data_file
from archrank.spaces import SearchSpace

NB201_CIFAR10 = ("nb201", "nb201_cifar10.csv")
NB201_NUM_ARCHS = 15625


def read_keyed_table(path: Path, key_column: str | None) -> pd.DataFrame:
    """A CSV or Parquet file as a frame, the ``key_column`` (architecture references) read as text, verbatim.

    pandas would parse ``"01012111"`` (a NAS-Bench-Macro key) as the number 1012111 and ``"None"`` as missing; the
    other columns keep pandas' usual parsing (numbers, and ``NaN``/``NA``/empty cells as missing).
    """
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    frame = pd.read_csv(path)
    if key_column is not None and key_column in frame.columns:
        text = pd.read_csv(path, usecols=[key_column], dtype=str, keep_default_na=False)[key_column]
        frame[key_column] = text.to_numpy()
    return frame


def load_table(
    path: str | Path,
    space: SearchSpace,
    arch_column: str,
    metrics: Sequence[str] | None = None,
    expected_rows: int | None = None,
) -> pd.DataFrame:
    """Read a CSV/Parquet table; index it by the space's architecture key; keep ``metrics`` (default all)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ground-truth file not found: {path}")
    try:
        frame = read_keyed_table(path, arch_column)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ValueError(f"cannot read ground-truth file {path}: {exc}") from exc
    if arch_column not in frame.columns:
        raise ValueError(f"{path}: no architecture column {arch_column!r} (columns: {', '.join(frame.columns)})")
    wanted = list(metrics) if metrics is not None else [c for c in frame.columns if c != arch_column]
    missing = [m for m in wanted if m not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing metric column(s) {', '.join(missing)}")
    if expected_rows is not None and len(frame) != expected_rows:
        raise ValueError(f"{path}: expected {expected_rows} rows, found {len(frame)} (truncated or wrong file?)")
    keys = []
    for row, ref in enumerate(frame[arch_column]):
        try:
            keys.append(space.key(space.parse(ref)))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: row {row + 2}: {exc}") from exc
    table = frame[wanted].copy()
    table.index = pd.Index(keys, name="arch_key")
    if table.index.has_duplicates:
        dup = table.index[table.index.duplicated()][0]
        raise ValueError(f"{path}: architecture {dup} appears more than once")
    return table


def load_nb201_cifar10(space: SearchSpace, path: str | Path | None = None) -> pd.DataFrame:
    """The shared NB201 CIFAR-10 table (all 15625 cells): test/valid accuracy, train time, params, FLOPs."""
    return load_table(
        path if path is not None else data_file(*NB201_CIFAR10),
        space,
        arch_column="arch_str",
        expected_rows=NB201_NUM_ARCHS,
    )
