"""Scores tables: the long CSV (or Parquet) that :meth:`Store.export` writes and :meth:`Store.put_frame` reads back.

A store is a local file and a machine can be lost with it; a scores table committed beside a report rebuilds the
store anywhere (``archrank export scores.csv.gz`` there, ``archrank merge scores.csv.gz`` here). The table carries
every column of a measurement's key, its value and status, when it was measured, and what its configuration hash
and input hash stand for (``config``, ``data``, ``data_spec``), so that :meth:`Store.score_table`'s filters and its
rule for rescored configurations work on the rebuilt store as on the original. Run records are not carried (a run
is a history, not a result): rebuilt rows belong to no run.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from archrank.store.core import AUTO_DATA, STATUSES, ScoreRow
from archrank.store.merge import MERGE_INSERT

if TYPE_CHECKING:
    from archrank.store.core import Store

REQUIRED_COLUMNS = ("space", "arch_key", "proxy", "config_hash", "seed", "batch_hash", "device", "score", "status")
NUMBER_COLUMNS = frozenset({"seed", "score", "seconds", "created_at", "config_created_at"})
"""The columns of a scores table that hold numbers; every other column is text."""


def read_table(path: str | Path, numbers: Iterable[str] = NUMBER_COLUMNS) -> pd.DataFrame:
    """A table file (CSV, ``.csv.gz`` or Parquet) as written, for :func:`put_frame` and ``archrank merge``.

    A CSV is read as text with no guessing, so keys and hashes that look like numbers (``02012100``,
    ``1e50000000000000``) and words such as ``nan`` or ``NA`` come back as written; only the columns ``numbers``
    are parsed as numbers, an empty cell of any column being missing (NaN)."""
    path = Path(path)
    if path.name.lower().endswith((".parquet", ".pq")):
        return pd.read_parquet(path)  # Parquet keeps the types it was written with
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    for column in set(numbers) & set(frame.columns):
        try:
            frame[column] = pd.to_numeric(frame[column])
        except ValueError as exc:
            raise ValueError(f"column {column}: {exc}") from None
    return frame


def scores_frame(store: Store, space: str | None = None) -> pd.DataFrame:
    """Every measurement of ``space`` (all spaces when None), long, with the ``config`` and ``data_spec`` JSON
    its hashes stand for and the configuration's ``config_created_at``."""
    frame = store.scores(space=space)
    configs = dict(store._db.execute("SELECT config_hash, config FROM configs").fetchall())
    specs = dict(store._db.execute("SELECT input_hash, spec FROM inputs").fetchall())
    frame["config"] = frame["config_hash"].map(configs)
    frame["data_spec"] = frame["batch_hash"].map(specs)
    return frame.drop(columns=["run_id"])


def put_frame(store: Store, frame: pd.DataFrame) -> tuple[int, int]:
    """Store every row of a scores table (the layout :func:`scores_frame` writes) in one transaction and return
    (added, already here). Every row is checked before any is stored; keys follow the merge rule of store files
    (:data:`archrank.store.merge.MERGE_CONFLICT`: a key already stored keeps its result, a stored failure takes a
    result that is not a failure); a missing score stays missing and 0 stays 0."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"not a scores table: it lacks the column(s) {', '.join(missing)}")
    rows, configs, inputs = [], {}, {}
    for number, record in enumerate(frame.to_dict("records"), start=2):  # line 1 of a CSV is its header
        try:
            rows.append(_score_row(record))
            if _present(record.get("config")):
                configs[record["config_hash"]] = (record["proxy"], _json(record, "config"),
                                                  _number(record.get("config_created_at")))
            if _present(record.get("data")) and str(record["data"]).lower() != AUTO_DATA:  # auto: kind unknown
                inputs[record["batch_hash"]] = (record["data"], _json(record, "data_spec") or {})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"row {number}: {exc}") from None
    now = time.time()
    with store.transaction() as db:
        for config_hash, (proxy, config, created_at) in configs.items():
            store.put_config(config_hash, proxy, config, created_at=created_at)
        for input_hash, (kind, spec) in inputs.items():
            store.put_input(input_hash, kind, spec)
        added = db.executemany(MERGE_INSERT, [row.values(now) for row in rows]).rowcount  # the merge rule
    return added, len(rows) - added


def _score_row(record: Mapping[str, Any]) -> ScoreRow:
    status = str(record["status"])
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
    return ScoreRow(
        space=str(record["space"]), arch_key=str(record["arch_key"]), proxy=str(record["proxy"]),
        config_hash=str(record["config_hash"]), seed=int(record["seed"]), batch_hash=str(record["batch_hash"]),
        device=str(record["device"]), score=_number(record["score"]), seconds=_number(record.get("seconds")),
        status=status, error=str(record["error"]) if _present(record.get("error")) else None,
        extra=_json(record, "extra"), created_at=_number(record.get("created_at")),
    )


def _present(value: Any) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float | None:
    """A stored number, or None where the table holds none (an empty CSV cell reads as NaN)."""
    return float(value) if _present(value) else None


def _json(record: Mapping[str, Any], column: str) -> dict[str, Any] | None:
    """The JSON object in ``column`` of ``record`` (None where the cell is empty); anything else is a ValueError
    naming the column."""
    value = record.get(column)
    if not _present(value):
        return None
    try:
        parsed = json.loads(value) if isinstance(value, str) else value
    except json.JSONDecodeError as exc:
        raise ValueError(f"{column} is not JSON ({exc}): {value!r}") from None
    if not isinstance(parsed, Mapping):
        raise ValueError(f"{column} must be a JSON object, got {value!r}")
    return dict(parsed)
