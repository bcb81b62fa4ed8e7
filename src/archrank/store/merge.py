"""Merging one results file into another: results made elsewhere (a GPU machine, another cluster node, a colleague's
run, a backup) join the local store under the store's own rules.

- measurements: a key already here keeps its result (the store's "first result is kept" rule), except that a
  ``failed`` row here is replaced by the other file's attempt; values are copied as stored, so a missing value
  stays missing and a 0 stays 0; each row keeps its ``created_at`` (when it was measured);
- runs get new ids here and their trials and measurements follow them; a run already here (a named run of the
  same ``kind`` and ``name``; an unnamed one started at the same instant by the same process, i.e. merged
  before) is not duplicated: its measurements join, its trials are left out (one run has one history), and the
  report counts it;
- configs, inputs and ground truth are added where missing; claims (short work leases) are never copied.

Everything is one transaction: a merge killed at any instant leaves the store as it was or fully merged, and a
second merge of the same file adds nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from archrank.store.file import StoreError

if TYPE_CHECKING:
    from archrank.store.core import Store

_RUN_COLUMNS = ("kind", "name", "space", "config", "status", "started_at", "ended_at", "command", "archrank_version",
                "torch_version", "python_version", "device", "host", "extra")
_COPIED = {"configs": "config_hash, method, config, created_at", "inputs": "input_hash, kind, spec",
           "ground_truth": "source, space, arch_key, metric, value"}
_KEY = "space, arch_key, method, config_hash, seed, input_hash, device"
_MEASUREMENT_COLUMNS = f"{_KEY}, value, seconds, status, reason, extra, run_id, created_at"
# The merge rule for one measurement: a key already here keeps its result, except that a failure here takes the
# incoming attempt when that attempt is not a failure too. Shared by store files and scores tables.
MERGE_CONFLICT = (
    f" ON CONFLICT ({_KEY}) DO UPDATE SET value=excluded.value, seconds=excluded.seconds,"
    " status=excluded.status, reason=excluded.reason, extra=excluded.extra, run_id=excluded.run_id,"
    " created_at=excluded.created_at WHERE measurements.status = 'failed' AND excluded.status != 'failed'"
)
MERGE_INSERT = (f"INSERT INTO measurements ({_MEASUREMENT_COLUMNS}) VALUES ({', '.join('?' * 14)})"
                + MERGE_CONFLICT)


@dataclass(frozen=True)
class MergeReport:
    """What a merge changed: rows added, rows of the other file already here (ours kept), failures replaced."""

    source: str
    measurements_added: int
    failures_replaced: int
    measurements_already_here: int
    runs_added: int
    runs_already_here: int
    trials_added: int
    ground_truth_added: int

    def summary(self) -> str:
        """One line for the command line."""
        return (
            f"merged {self.source}: {self.measurements_added} new measurements, {self.failures_replaced} failures "
            f"replaced, {self.measurements_already_here} already here (kept); {self.runs_added} runs added "
            f"({self.trials_added} trials), {self.runs_already_here} runs already here; "
            f"{self.ground_truth_added} ground-truth values added"
        )


def merge_store(store: Store, other: str | Path) -> MergeReport:
    """Merge the results file ``other`` into ``store`` (see the module doc); ``other`` is read, never changed,
    except that an older archrank file is migrated to the current schema on opening, as every command does."""
    from archrank.store.core import Store

    path = Path(other)
    if not path.is_file():
        raise StoreError(f"no results file at {path}")
    if store.path != ":memory:" and os.path.exists(store.path) and os.path.samefile(path, store.path):
        raise StoreError(f"cannot merge {path} into itself")
    with Store(path, create=False):  # refuses a file that is not an archrank store; migrates an old one
        pass
    db = store._db
    db.execute("ATTACH DATABASE ? AS other", (str(path),))
    try:
        with store.transaction():
            run_map, runs_added, runs_here, trials_added = _merge_runs(store)
            db.execute("CREATE TEMP TABLE IF NOT EXISTS merge_run_map (old INTEGER PRIMARY KEY, new INTEGER)")
            db.execute("DELETE FROM temp.merge_run_map")
            db.executemany("INSERT INTO temp.merge_run_map (old, new) VALUES (?, ?)", run_map.items())
            copied = {  # columns named: a migrated file may hold them in another order
                table: db.execute(f"INSERT OR IGNORE INTO main.{table} ({cols}) SELECT {cols} FROM other.{table}")
                .rowcount
                for table, cols in _COPIED.items()
            }
            before = db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
            offered = db.execute("SELECT COUNT(*) FROM other.measurements").fetchone()[0]
            changed = db.execute(
                f"INSERT INTO measurements ({_MEASUREMENT_COLUMNS})"
                f" SELECT m.space, m.arch_key, m.method, m.config_hash, m.seed, m.input_hash, m.device, m.value,"
                f" m.seconds, m.status, m.reason, m.extra, r.new, m.created_at"
                " FROM other.measurements m LEFT JOIN temp.merge_run_map r ON r.old = m.run_id WHERE true"
                + MERGE_CONFLICT
            ).rowcount
            added = db.execute("SELECT COUNT(*) FROM measurements").fetchone()[0] - before
            db.execute("DROP TABLE temp.merge_run_map")
    finally:
        db.execute("DETACH DATABASE other")
    return MergeReport(
        source=str(path), measurements_added=added, failures_replaced=changed - added,
        measurements_already_here=offered - changed, runs_added=runs_added, runs_already_here=runs_here,
        trials_added=trials_added, ground_truth_added=copied["ground_truth"],
    )


def _merge_runs(store: Store) -> tuple[dict[int, int], int, int, int]:
    """Copy the attached file's runs (new ids) and their trials; ``({old id: new id}, added, already here,
    trials added)``. A run that is already here (same kind and name, or for an unnamed run the same kind, start
    instant and process) maps to ours and brings no trials."""
    db = store._db
    columns = ", ".join(_RUN_COLUMNS)
    run_map: dict[int, int] = {}
    added = here = trials = 0
    for old_id, *values in db.execute(f"SELECT run_id, {columns} FROM other.runs ORDER BY run_id").fetchall():
        record = dict(zip(_RUN_COLUMNS, values, strict=True))
        if record["name"] is not None:
            row = db.execute("SELECT run_id FROM main.runs WHERE kind=? AND name=?",
                             (record["kind"], record["name"])).fetchone()
        else:  # an unnamed run is the same run when it started at the same instant in the same process
            row = db.execute("SELECT run_id FROM main.runs WHERE kind=? AND started_at=? AND host IS ?",
                             (record["kind"], record["started_at"], record["host"])).fetchone()
        if row is not None:
            run_map[old_id] = int(row[0])
            here += 1
            continue
        cursor = db.execute(
            f"INSERT INTO main.runs ({columns}) VALUES ({', '.join('?' * len(_RUN_COLUMNS))})", values
        )
        new_id = int(cursor.lastrowid or 0)
        run_map[old_id] = new_id
        added += 1
        trials += db.execute(
            "INSERT INTO main.trials (run_id, step, payload, value, created_at)"
            " SELECT ?, step, payload, value, created_at FROM other.trials WHERE run_id=?",
            (new_id, old_id),
        ).rowcount
    return run_map, added, here, trials
