"""EcoNAS's view of the one results store (:mod:`archrank.store`): reduced trainings, no tables of their own.

A training is a ``measurements`` row of method ``econas``: config hash = the EcoNAS setting string (plus the
recipe tag when the recipe is not the default, e.g. ``c4r4s0e10``), input hash = the data key, value = test
accuracy in %, and everything else about the training (CPU seconds, epochs, iterations, final train loss and
accuracy, params, resolution, sample counts, threads, widths, recipe) in ``extra``. The first result of a key is
kept and each training is committed on its own, so a run killed at any instant loses at most the training in
progress and a restart skips everything already stored.
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from archrank.econas.trainer import TrainResult
from archrank.store import ScoreRow
from archrank.store.view import StoreView

T = TypeVar("T")

METHOD = "econas"
_EXTRA = ("cpu_seconds", "epochs", "iterations", "final_train_loss", "final_train_accuracy", "num_params",
          "resolution", "train_samples", "test_samples", "threads", "width", "recipe", "stack")
_OPTIONAL = {"created_at", "width", "recipe", "stack"}  # columns a trainings table may lack (older report files)
_COLUMNS = ("space", "arch_key", "setting", "seed", "data", "device", "accuracy", "seconds", *_EXTRA, "created_at")
NUMBER_COLUMNS = frozenset(_COLUMNS) - {"space", "arch_key", "setting", "data", "device", "width", "recipe"}
"""The columns of a trainings table that hold numbers; the others are text (see ``store.table.read_table``)."""


class TrainingStore(StoreView):
    """Reduced-training results in a results store (a path or an open :class:`~archrank.store.Store`)."""

    def put(self, result: TrainResult) -> bool:
        """Store one result; ``False`` (and nothing changed) when its key is already there."""
        return self.store.put_scores([_score_row(result)]) > 0

    def put_failure(self, key: tuple[str, str, str, int, str], device: str, reason: str, seconds: float | None = None
                    ) -> bool:
        """Record that the training of ``key`` — (space, arch key, setting with its recipe tag, seed, data), as
        :attr:`TrainResult.key` — failed with ``reason`` (e.g. ``"RuntimeError: out of memory"``). A failure is not
        done: the next run trains the key again and its result replaces the failure. ``False`` when the key already
        holds a result."""
        space, arch_key, setting, seed, data = key
        row = ScoreRow(space=space, arch_key=arch_key, proxy=METHOD, config_hash=setting, seed=seed, batch_hash=data,
                       device=device, score=None, seconds=seconds, status="failed", error=reason)
        return self.store.put_scores([row]) > 0

    def failures(self, space: str | None = None, settings: Sequence[str] | None = None, data: str | None = None
                 ) -> pd.DataFrame:
        """The trainings recorded as failed and not trained since: ``space``, ``arch_key``, ``setting``, ``seed``,
        ``data``, ``device`` and ``error`` (the reason), optionally filtered like :meth:`results`."""
        where, params = _filters(space, settings, data)
        rows = self.store._db.execute(
            "SELECT space, arch_key, config_hash, seed, input_hash, device, reason FROM measurements"
            f" WHERE {where} AND status = 'failed' ORDER BY space, config_hash, arch_key, seed", params
        ).fetchall()
        return pd.DataFrame(rows, columns=["space", "arch_key", "setting", "seed", "data", "device", "error"])

    def get(
        self, space: str, arch_key: str, setting: str, seed: int, data: str, device: str | None = None
    ) -> TrainResult | None:
        """The stored result of one key (``setting`` includes the recipe tag), or ``None``; with ``device``, only a
        training made on a device of its type (as :meth:`done`: a GPU training, mixed precision, does not stand in
        for a CPU one in a merged store). Of several, the one made first."""
        frame = self.results(space=space, settings=[setting], data=data, device=device)
        frame = frame[(frame["arch_key"] == arch_key) & (frame["seed"] == seed)]
        if frame.empty:
            return None
        return result_from_row(frame.iloc[0])

    def put_frame(self, frame: pd.DataFrame) -> tuple[int, int]:
        """Store every training of ``frame`` — a table in the layout :meth:`results` returns, e.g. the trainings CSV
        an EcoNAS report writes — and return (added, already here). The inverse of :meth:`results`, so committed
        trainings can rebuild a store on a new machine; a key already stored is kept (the store's first-result
        rule), and a NaN accuracy stays NaN. ``created_at`` (when the training was made) is carried over, as the scores
        table's is, so a rebuilt store still says when each training ran; where the column is absent or empty, the
        time of the merge stands in. ``width``, ``recipe`` and ``stack`` may be absent (older tables: no width or
        stack recorded; the recipe is read from the setting's tag)."""
        missing = sorted(set(_COLUMNS) - _OPTIONAL - set(frame.columns))
        if missing:
            raise ValueError(f"not a trainings table: it lacks the column(s) {', '.join(missing)}")
        rows = [_score_row(result_from_row(row), _optional(row.get("created_at"), float))
                for _, row in frame.iterrows()]  # a bad row fails before any is stored
        added = self.store.put_scores(rows)  # one transaction for the whole table
        return added, len(rows) - added

    def done(self, space: str, setting: str, seed: int, data: str, device: str | None = None) -> set[str]:
        """Architecture keys already trained under (space, setting, seed, data), on a device of the type of
        ``device`` when given (``cuda`` matches ``cuda:1``): a GPU training (mixed precision) does not stand in for
        a CPU one in a merged store."""
        sql = ("SELECT arch_key FROM measurements WHERE space=? AND method=? AND config_hash=? AND seed=?"
               " AND input_hash=? AND status != 'failed'")
        clause, params = _device_type_clause(device)
        return {key for (key,) in self.store._db.execute(sql + clause, [space, METHOD, setting, seed, data, *params])}

    def score_table(self, space: str, settings: Sequence[str] | None = None, data: str | None = None) -> pd.DataFrame:
        """Wide table like the store's ``score_table``: one row per arch key, one column ``econas_<setting>``
        per setting holding the test accuracy (mean over seeds; higher is better), ready to be joined with
        zero-cost scores and passed to :func:`archrank.bench.evaluate.evaluate`."""
        frame = self.results(space=space, settings=settings, data=data)
        if frame.empty:
            return pd.DataFrame()
        wide = frame.pivot_table(index="arch_key", columns="setting", values="accuracy", aggfunc="mean")
        wide.columns = [f"econas_{c}" for c in wide.columns]
        wide.columns.name = "proxy"
        return wide

    def results(
        self, space: str | None = None, settings: Sequence[str] | None = None, data: str | None = None,
        device: str | None = None,
    ) -> pd.DataFrame:
        """Stored trainings as a DataFrame (one column per training field), optionally filtered (``device``: every
        device of its type, as in :meth:`done`)."""
        where, params = _filters(space, settings, data)
        clause, device_params = _device_type_clause(device)
        rows = self.store._db.execute(
            "SELECT space, arch_key, config_hash, seed, input_hash, device, value, seconds, extra, created_at"
            f" FROM measurements WHERE {where} AND status != 'failed'{clause}"
            " ORDER BY space, config_hash, arch_key, seed, created_at",
            [*params, *device_params],
        ).fetchall()
        records = []
        for space_, key, setting, seed, data_, device, value, seconds, extra, created in rows:
            more = json.loads(extra) if extra else {}
            if isinstance(more.get("extra"), dict):  # migrated from a version-1 file
                more = {**more, **more.pop("extra")}
            records.append({
                "space": space_, "arch_key": key, "setting": setting, "seed": seed, "data": data_, "device": device,
                "accuracy": math.nan if value is None else value, "seconds": seconds,
                **{k: more.get(k) for k in _EXTRA}, "created_at": created,
            })
        frame = pd.DataFrame.from_records(records, columns=_COLUMNS)
        frame["stack"] = frame["stack"].astype("Int64")  # whole numbers, <NA> where not recorded
        return frame


def _score_row(result: TrainResult, created_at: float | None = None) -> ScoreRow:
    """The store row of one training (accuracy as the score; a NaN accuracy is stored as status ``nan``), made at
    ``created_at`` (default: when it is written)."""
    space, arch_key, setting, seed, data = result.key
    ok = math.isfinite(result.accuracy)
    record = asdict(result)
    return ScoreRow(
        space=space, arch_key=arch_key, proxy=METHOD, config_hash=setting, seed=seed, batch_hash=data,
        device=result.device, score=float(result.accuracy) if ok else None, seconds=result.seconds,
        status="ok" if ok else "nan", error=None if ok else "the training's test accuracy is not a number",
        extra={k: record[k] for k in _EXTRA}, created_at=created_at,
    )


def save_trainings(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write a :meth:`TrainingStore.results` table to ``path`` as CSV (``width`` as JSON), the file
    ``archrank merge`` and :meth:`TrainingStore.put_frame` read back."""
    path = Path(path)
    frame.assign(width=frame["width"].map(lambda w: json.dumps(w if isinstance(w, Mapping) else {}))).to_csv(
        path, index=False
    )
    return path


def result_from_row(row: Mapping[str, Any]) -> TrainResult:
    """The :class:`TrainResult` of one row of :meth:`TrainingStore.results` (or of a trainings CSV made from it,
    where ``width`` is text: JSON, or the Python literal pandas writes for a dict)."""
    name, _, tag = str(row["setting"]).partition("|")
    width = row.get("width")
    if isinstance(width, str):
        try:
            width = json.loads(width)
        except json.JSONDecodeError:
            width = ast.literal_eval(width)
    elif not isinstance(width, Mapping):
        width = {}  # missing (NaN or None): no width recorded
    return TrainResult(
        space=str(row["space"]), arch_key=str(row["arch_key"]), setting=name, seed=int(row["seed"]),
        data=str(row["data"]), device=str(row["device"]), accuracy=float(row["accuracy"]),
        seconds=float(row["seconds"]), cpu_seconds=float(row["cpu_seconds"]), epochs=int(row["epochs"]),
        iterations=int(row["iterations"]), final_train_loss=float(row["final_train_loss"]),
        final_train_accuracy=float(row["final_train_accuracy"]), num_params=int(row["num_params"]),
        width={str(k): int(v) for k, v in width.items()}, resolution=int(row["resolution"]),
        train_samples=int(row["train_samples"]), test_samples=int(row["test_samples"]), threads=int(row["threads"]),
        recipe="|" + tag if tag else "",
        stack=_optional(row.get("stack"), int),
    )


def _optional(value: Any, cast: Callable[[Any], T]) -> T | None:
    """A field that older rows lack, read with ``cast``: None (or NaN, how a CSV reads an empty cell) stays None."""
    if value is None or pd.isna(value):
        return None
    return cast(value)


def _filters(space: str | None, settings: Sequence[str] | None, data: str | None) -> tuple[str, list[Any]]:
    """SQL condition (and its parameters) for EcoNAS rows of ``space``, ``settings`` and ``data`` (None: any)."""
    where, params = ["method=?"], [METHOD]
    for column, value in (("space", space), ("input_hash", data)):
        if value is not None:
            where.append(f"{column}=?")
            params.append(value)
    if settings:
        where.append(f"config_hash IN ({', '.join('?' * len(settings))})")
        params.extend(settings)
    return " AND ".join(where), params


def _device_type_clause(device: str | None) -> tuple[str, list[str]]:
    """SQL condition (and its parameters) for every device of ``device``'s type (``cuda`` matches ``cuda:1``)."""
    if device is None:
        return "", []
    kind = device.partition(":")[0]
    return " AND (device=? OR device LIKE ?)", [kind, f"{kind}:%"]
