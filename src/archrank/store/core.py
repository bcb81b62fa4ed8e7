"""The results store: every method's measurements, every run and its trials, in one SQLite file.

Writes are idempotent: writing the same measurement key twice keeps the first result, except that a ``failed``
row is replaced by a later attempt. Every multi-statement write is one transaction, so a process killed at any
instant (even ``kill -9``) leaves only complete writes behind, and a restart does the rest. See
:mod:`archrank.store.schema` for the tables.
"""

from __future__ import annotations

import gzip
import json
import math
import os
import platform
import socket
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from archrank.store.file import SQLiteFile, StoreError, replaced_whole
from archrank.store.merge import MergeReport, merge_store

DEFAULT_PATH = "archrank.db"
SCORE_KEY = ("space", "arch_key", "proxy", "config_hash", "seed", "batch_hash", "device")
STATUSES = ("ok", "nan", "failed")
RUN_KINDS = ("score", "search", "dps", "evolve", "train", "consistency", "eproxy", "econas-search")
RUN_STATUSES = ("running", "done", "failed", "interrupted", "unknown")
AUTO_DATA = "auto"
"""``--data auto``: CIFAR-10 or synthetic data depending on the machine, so no data kind of its own."""

# Stored column -> name in the frames :meth:`Store.scores` returns (the public, proxy-flavoured names).
_PUBLIC = {"method": "proxy", "input_hash": "batch_hash", "value": "score", "reason": "error"}


@dataclass(frozen=True)
class ScoreRow:
    """One measurement of one subject (usually an architecture) by one method under one (config, seed, input,
    device). ``proxy`` is the method name and ``batch_hash`` the input's hash (the names of the proxy store)."""

    space: str
    arch_key: str
    proxy: str
    config_hash: str
    seed: int
    batch_hash: str
    device: str
    score: float | None
    seconds: float | None
    status: str
    error: str | None = None
    run_id: int | None = None
    extra: Mapping[str, Any] | None = field(default=None, compare=False)
    created_at: float | None = field(default=None, compare=False)  # when measured; None: when written

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"score status must be one of {STATUSES}, got {self.status!r}")
        if self.status == "ok" and (self.score is None or math.isnan(self.score)):
            raise ValueError(f"status 'ok' needs a score that is a number, got {self.score!r} for {self.proxy}")
        if self.status != "ok" and self.score is not None and not math.isnan(self.score):
            raise ValueError(f"status {self.status!r} has no score, got {self.score!r} for {self.proxy}")

    def values(self, now: float) -> tuple[Any, ...]:
        extra = None if self.extra is None else json.dumps(dict(self.extra), sort_keys=True, default=_json_default)
        score = None if self.score is None or math.isnan(self.score) else float(self.score)
        return (self.space, self.arch_key, self.proxy, self.config_hash, int(self.seed), self.batch_hash,
                self.device, score, self.seconds, self.status, self.error, extra, self.run_id,
                now if self.created_at is None else float(self.created_at))


Measurement = ScoreRow

_INSERT = (
    "INSERT INTO measurements (space, arch_key, method, config_hash, seed, input_hash, device, value, seconds,"
    " status, reason, extra, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (space, arch_key, method, config_hash, seed, input_hash, device) DO UPDATE SET"
    " value=excluded.value, seconds=excluded.seconds, status=excluded.status, reason=excluded.reason,"
    " extra=excluded.extra, run_id=excluded.run_id, created_at=excluded.created_at"
    " WHERE measurements.status = 'failed'"
)


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return str(value)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default)


class Store(SQLiteFile):
    """The results store on one SQLite file (``":memory:"`` for a throw-away store); see the module doc.

    ``create=False`` refuses a missing file (for commands that only read).
    """

    def __init__(self, path: str | Path = DEFAULT_PATH, timeout: float = 60.0, *, create: bool = True) -> None:
        super().__init__(path, timeout, create=create)

    # --- runs ----------------------------------------------------------------------------------------
    def start_run(
        self,
        device: str | None = None,
        command: str | None = None,
        extra: dict[str, Any] | None = None,
        *,
        kind: str = "score",
        name: str | None = None,
        space: str | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> int:
        """Record a new run and its environment; returns its id. A named run (``kind``, ``name``) is unique:
        use :meth:`resume_run` to find or start one."""
        import torch

        from archrank._version import __version__

        if kind not in RUN_KINDS:
            raise ValueError(f"run kind must be one of {RUN_KINDS}, got {kind!r}")
        cur = self._db.execute(
            "INSERT INTO runs (kind, name, space, config, status, started_at, command, archrank_version,"
            " torch_version, python_version, device, host, extra) VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, ?,"
            " ?, ?, ?)",
            (kind, name, space, None if config is None else _dumps(config), time.time(),
             command if command is not None else " ".join(sys.argv), __version__, torch.__version__,
             platform.python_version(), device, f"{socket.gethostname()}:{os.getpid()}", _dumps(extra or {})),
        )
        return int(cur.lastrowid or 0)

    def resume_run(
        self, kind: str, name: str, config: Mapping[str, Any], *, space: str | None = None, device: str | None = None
    ) -> tuple[int, bool]:
        """The id of the named run, started now unless it exists; ``(run_id, resumed)``.

        A run recorded under the same name with another configuration is refused with one line, so a rerun
        under an old name never replays results made for other settings.
        """
        blob = _dumps(config)
        with self.transaction() as db:
            row = db.execute("SELECT run_id, config FROM runs WHERE kind=? AND name=?", (kind, name)).fetchone()
            if row is None:
                return self.start_run(device, kind=kind, name=name, space=space, config=config), False
            old = json.loads(row[1]) if row[1] else {}
            if _dumps(old) != blob:  # compared as JSON values: key order and spacing of the stored text do not count
                mine = json.loads(blob)
                changed = sorted(k for k in set(old) | set(mine) if _dumps(old.get(k)) != _dumps(mine.get(k)))
                raise StoreError(
                    f"{kind} run {name!r} exists in {self.path} with other settings ({', '.join(changed)});"
                    " use another run name"
                )
            db.execute("UPDATE runs SET status='running', ended_at=NULL WHERE run_id=?", (row[0],))
            return int(row[0]), True

    def finish_run(self, run_id: int, status: str = "done", extra: Mapping[str, Any] | None = None) -> None:
        """Mark a run ended (``done``, ``failed`` or ``interrupted``), merging ``extra`` into its record."""
        if status not in RUN_STATUSES:
            raise ValueError(f"run status must be one of {RUN_STATUSES}, got {status!r}")
        with self.transaction() as db:
            if extra:
                row = db.execute("SELECT extra FROM runs WHERE run_id=?", (run_id,)).fetchone()
                merged = {**(json.loads(row[0]) if row and row[0] else {}), **extra}
                db.execute("UPDATE runs SET extra=? WHERE run_id=?", (_dumps(merged), run_id))
            db.execute("UPDATE runs SET status=?, ended_at=? WHERE run_id=?", (status, time.time(), run_id))

    def run(self, run_id: int) -> dict[str, Any]:
        """One run's record (``config`` and ``extra`` decoded)."""
        frame = pd.read_sql_query("SELECT * FROM runs WHERE run_id=?", self._db, params=(run_id,))
        if frame.empty:
            raise KeyError(f"no run {run_id} in {self.path}")
        record = frame.iloc[0].to_dict()
        for column in ("config", "extra"):
            record[column] = json.loads(record[column]) if record[column] else {}
        return record

    def find_run(self, kind: str, name: str) -> int | None:
        row = self._db.execute("SELECT run_id FROM runs WHERE kind=? AND name=?", (kind, name)).fetchone()
        return None if row is None else int(row[0])

    def runs(self, kind: str | None = None) -> pd.DataFrame:
        """Every run (of one ``kind``), with how many measurements and trials each wrote."""
        where, params = _filters(kind=kind)
        sql = (
            "SELECT r.run_id, r.kind, r.name, r.space, r.status, r.started_at, r.ended_at, r.device, r.command,"
            " r.archrank_version, r.torch_version, r.python_version, r.host, r.config, r.extra,"
            " (SELECT COUNT(*) FROM measurements m WHERE m.run_id = r.run_id) AS measurements,"
            " (SELECT COUNT(*) FROM trials t WHERE t.run_id = r.run_id) AS trials FROM runs r"
        )
        if where:
            sql += " WHERE " + " AND ".join(f"r.{w}" for w in where)
        return pd.read_sql_query(sql + " ORDER BY r.run_id", self._db, params=params)

    # --- trials --------------------------------------------------------------------------------------
    def put_trial(
        self,
        run_id: int,
        step: int,
        payload: Mapping[str, Any],
        value: float | None = None,
        identity: Sequence[str] | None = None,
    ) -> bool:
        """Record step ``step`` of an iterative run; ``False`` when that step is already recorded.

        Two processes running the same deterministic run write the same steps: the second write is a no-op.
        When the recorded step differs in a payload key of ``identity`` (default: every key), two runs diverged
        under one name: refused with one line. Measured times belong outside ``identity``.
        """
        blob = _dumps(payload)
        stored = None if value is None or not math.isfinite(value) else float(value)
        keys = list(payload) if identity is None else list(identity)
        with self.transaction() as db:
            row = db.execute("SELECT payload FROM trials WHERE run_id=? AND step=?", (run_id, step)).fetchone()
            if row is not None:
                old = json.loads(row[0])
                mine = json.loads(blob)
                if any(_dumps(old.get(k)) != _dumps(mine.get(k)) for k in keys):  # NaN equals NaN here
                    raise StoreError(f"run {run_id} step {step} is already recorded with another result")
                return False
            db.execute("INSERT INTO trials (run_id, step, payload, value, created_at) VALUES (?, ?, ?, ?, ?)",
                       (run_id, step, blob, stored, time.time()))
        return True

    def trials(self, run_id: int) -> list[dict[str, Any]]:
        """The recorded steps of a run in order: each payload plus ``step`` and ``value`` (NaN when missing)."""
        rows = self._db.execute(
            "SELECT step, payload, value FROM trials WHERE run_id=? ORDER BY step", (run_id,)
        ).fetchall()
        return [{**json.loads(p), "step": int(s), "value": math.nan if v is None else float(v)} for s, p, v in rows]

    # --- configurations and inputs -------------------------------------------------------------------
    def put_config(self, config_hash: str, proxy: str, config: Mapping[str, Any], *,
                   created_at: float | None = None) -> None:
        """Record the configuration behind ``config_hash`` (of method ``proxy``); the first record is kept.
        ``created_at`` (default: now) orders rescored configurations (see :meth:`score_table`)."""
        self._db.execute(
            "INSERT OR IGNORE INTO configs (config_hash, method, config, created_at) VALUES (?, ?, ?, ?)",
            (config_hash, proxy, _dumps(dict(config)), time.time() if created_at is None else float(created_at)),
        )

    def get_config(self, config_hash: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT config FROM configs WHERE config_hash=?", (config_hash,)).fetchone()
        return None if row is None else json.loads(row[0])

    def put_input(self, input_hash: str, kind: str, spec: Mapping[str, Any] | None = None) -> None:
        """Record what an input hash is: its data ``kind`` (as given to ``--data``: ``cifar10``, ``synthetic``,
        ...) and spec (batch size, seed, ...), so :meth:`score_table` can filter by data kind. The first record is
        kept, except an ``auto`` placeholder (written by older versions), which a resolved kind replaces;
        ``auto`` itself names no data set and is refused."""
        if kind.lower() == AUTO_DATA:
            raise ValueError(f"input {input_hash}: data kind 'auto' names no data set; record the kind it resolved to")
        self._db.execute(
            "INSERT INTO inputs (input_hash, kind, spec) VALUES (?, ?, ?) ON CONFLICT (input_hash) DO UPDATE SET"
            " kind=excluded.kind, spec=excluded.spec WHERE inputs.kind = ?",
            (input_hash, kind.lower(), _dumps(dict(spec or {})), AUTO_DATA),
        )

    # --- measurements --------------------------------------------------------------------------------
    def put_scores(self, rows: Iterable[ScoreRow]) -> int:
        """Write rows in one transaction (all or nothing); returns how many were new or replaced a failure."""
        now = time.time()
        written = 0
        with self.transaction() as db:
            for row in rows:
                written += db.execute(_INSERT, row.values(now)).rowcount
        return written

    put_measurements = put_scores

    def done(
        self, space: str, proxies: Mapping[str, str], seed: int, batch_hash: str, device: str,
        arch_keys: Sequence[str] | None = None,
    ) -> set[tuple[str, str]]:
        """(arch_key, proxy) pairs already finished (status ok or nan) for ``proxies`` = {name: config_hash}, among
        ``arch_keys`` when given (looked up by key, so asking about a few is cheap in a large store)."""
        sql = ("SELECT arch_key FROM measurements WHERE space=? AND method=? AND config_hash=? AND seed=?"
               " AND input_hash=? AND device=? AND status != 'failed'")
        out: set[tuple[str, str]] = set()
        for proxy, config_hash in proxies.items():
            params = [space, proxy, config_hash, seed, batch_hash, device]
            if arch_keys is None:
                out.update((key, proxy) for (key,) in self._db.execute(sql, params))
                continue
            for start in range(0, len(arch_keys), 500):  # SQLite limits the parameters of one statement
                keys = list(arch_keys[start:start + 500])
                cur = self._db.execute(f"{sql} AND arch_key IN ({', '.join('?' * len(keys))})", [*params, *keys])
                out.update((key, proxy) for (key,) in cur)
        return out

    def scores(
        self,
        space: str | None = None,
        proxies: Sequence[str] | None = None,
        status: str | None = None,
    ) -> pd.DataFrame:
        """One row per stored measurement: ``arch_key``, ``proxy``, ``score`` (NaN wherever the value is missing),
        ``status``, ``error``, ``seconds``, ``config_hash``, ``seed``, ``batch_hash``, ``data`` (the input's data
        kind, when known), ``device``, ``run_id``, ``created_at``, ``extra``."""
        where, params = _filters(space=space, status=status)
        where = [f"m.{w}" for w in where]
        if proxies:
            where.append(f"m.method IN ({', '.join('?' * len(proxies))})")
            params.extend(proxies)
        sql = (
            "SELECT m.*, i.kind AS data, c.created_at AS config_created_at FROM measurements m"
            " LEFT JOIN inputs i ON i.input_hash = m.input_hash"
            " LEFT JOIN configs c ON c.config_hash = m.config_hash"
            + (" WHERE " + " AND ".join(where) if where else "")
        )
        frame = pd.read_sql_query(sql + " ORDER BY m.space, m.arch_key, m.method", self._db, params=params)
        frame = frame.rename(columns=_PUBLIC)
        frame["score"] = frame["score"].astype(float)
        return frame

    def score_table(
        self,
        space: str,
        proxies: Sequence[str] | None = None,
        *,
        seed: int | None = None,
        data: str | None = None,
        batch: str | None = None,
        device: str | None = None,
        config: str | Mapping[str, str] | None = None,
        latest: bool = False,
    ) -> pd.DataFrame:
        """Wide table: one row per architecture key, one column per proxy (ok and nan results; failures left out).

        Rows are picked by ``seed``, ``data`` (data kind as given to ``--data``), ``batch`` (input hash),
        ``device`` and ``config`` (a config hash, or {proxy: hash}). When the rows of one proxy still come
        from several seeds, data sets, batches, devices or configurations, this refuses with one line naming
        the filter to add, unless ``latest=True`` (then the newest row of each architecture wins, NaN included).
        A configuration that differs from another only by the proxy's implementation version is superseded by
        the newer one (a rescore), not mixed with it.
        """
        frame = self.scores(space=space, proxies=proxies)
        frame = frame[frame["status"] != "failed"]
        frame = _select(frame, seed=seed, data=data, batch=batch, device=device, config=config)
        if frame.empty:
            return pd.DataFrame()
        frame = self._drop_superseded(frame)
        if not latest:
            _refuse_mixing(frame)
        # The newest row of each (arch, proxy) wins, NaN included (a pivot's "last" would skip a NaN).
        frame = frame.sort_values("created_at", kind="stable").drop_duplicates(["arch_key", "proxy"], keep="last")
        table = frame.pivot(index="arch_key", columns="proxy", values="score")
        table.columns.name = "proxy"
        return table

    def _drop_superseded(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Keep only the newest configuration among configurations of a proxy that differ by version alone."""
        keep = []
        for _proxy, rows in frame.groupby("proxy", sort=False):
            hashes = list(dict.fromkeys(rows["config_hash"]))
            if len(hashes) > 1:
                configs = {h: self.get_config(h) for h in hashes}
                stripped = {h: _without_version(c) for h, c in configs.items()}
                if None not in stripped.values() and len({_dumps(s) for s in stripped.values()}) == 1:
                    order = rows.groupby("config_hash")["config_created_at"].max().fillna(0) + rows.groupby(
                        "config_hash")["created_at"].max() * 1e-12
                    rows = rows[rows["config_hash"] == order.idxmax()]
            keep.append(rows)
        return pd.concat(keep) if keep else frame

    def count(self, space: str | None = None) -> dict[str, int]:
        """Number of measurements per status."""
        where, params = _filters(space=space)
        sql = "SELECT status, COUNT(*) FROM measurements" + (" WHERE " + " AND ".join(where) if where else "")
        counts = dict.fromkeys(STATUSES, 0)
        counts.update({status: n for status, n in self._db.execute(sql + " GROUP BY status", params)})
        return counts

    # --- claims: sharing work between concurrent processes ------------------------------------------
    def claim(
        self, space: str, fingerprint: str, arch_keys: Sequence[str], owner: str, ttl_s: float = 600.0
    ) -> list[str]:
        """Claim ``arch_keys`` of one piece of work (``fingerprint``: e.g. the proxies, seed, batch and device)
        for ``owner``; returns the keys now held by ``owner``, in order. A key claimed by another live owner is
        skipped; an expired claim is taken over, and so is, at once, the claim of a process on this host that no
        longer runs (owners named ``host:pid:...``, as :func:`claim_owner` makes them). Claims are leases, not
        results: call :meth:`release` when the results are stored."""
        now = time.time()
        with self.transaction() as db:
            db.execute("DELETE FROM claims WHERE expires_at < ?", (now,))
            dead = [o for (o,) in db.execute("SELECT DISTINCT owner FROM claims WHERE space=? AND fingerprint=?",
                                             (space, fingerprint)) if o != owner and _owner_is_dead(o)]
            db.executemany("DELETE FROM claims WHERE owner=?", [(o,) for o in dead])
            for key in arch_keys:
                db.execute(
                    "INSERT INTO claims (space, fingerprint, arch_key, owner, expires_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (space, fingerprint, arch_key) DO UPDATE SET expires_at=excluded.expires_at"
                    " WHERE claims.owner = excluded.owner",
                    (space, fingerprint, key, owner, now + ttl_s),
                )
            held = {
                k for (k,) in db.execute(
                    "SELECT arch_key FROM claims WHERE space=? AND fingerprint=? AND owner=?",
                    (space, fingerprint, owner),
                )
            }
        return [k for k in arch_keys if k in held]

    def renew_claims(self, space: str, fingerprint: str, owner: str, ttl_s: float) -> None:
        """Extend every claim ``owner`` holds on one piece of work by ``ttl_s`` seconds from now (released claims
        stay released: nothing is claimed anew)."""
        self._db.execute("UPDATE claims SET expires_at=? WHERE space=? AND fingerprint=? AND owner=?",
                         (time.time() + ttl_s, space, fingerprint, owner))

    def release(self, space: str, fingerprint: str, arch_keys: Sequence[str] | None, owner: str) -> None:
        """Drop ``owner``'s claims on ``arch_keys`` (all of them when ``None``)."""
        with self.transaction() as db:
            if arch_keys is None:
                db.execute("DELETE FROM claims WHERE space=? AND fingerprint=? AND owner=?",
                           (space, fingerprint, owner))
            else:
                db.executemany("DELETE FROM claims WHERE space=? AND fingerprint=? AND arch_key=? AND owner=?",
                               [(space, fingerprint, k, owner) for k in arch_keys])

    # --- ground truth --------------------------------------------------------------------------------
    def put_ground_truth(self, source: str, space: str, table: pd.DataFrame) -> int:
        """Store a ground-truth table indexed by arch_key with one column per metric."""
        rows = [
            (source, space, str(key), metric, None if pd.isna(value) else float(value))
            for key, record in table.iterrows()
            for metric, value in record.items()
        ]
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO ground_truth (source, space, arch_key, metric, value) VALUES (?, ?, ?, ?, ?)",
                rows,
            )
        return len(rows)

    def ground_truth(self, source: str, space: str) -> pd.DataFrame:
        """Wide ground-truth table: one row per arch_key, one column per metric."""
        frame = pd.read_sql_query(
            "SELECT arch_key, metric, value FROM ground_truth WHERE source=? AND space=?",
            self._db,
            params=(source, space),
        )
        if frame.empty:
            return pd.DataFrame()
        return frame.pivot(index="arch_key", columns="metric", values="value")

    # --- export --------------------------------------------------------------------------------------
    def merge(self, other: str | Path) -> MergeReport:
        """Merge the results file ``other`` (from another machine or run) into this store in one transaction:
        new results are added, results already here are kept, a failure here is replaced by the other file's
        attempt, runs and their trials come along under new ids. See :mod:`archrank.store.merge`."""
        return merge_store(self, other)

    def export(self, path: str | Path, space: str | None = None, wide: bool = False, **filters: Any) -> Path:
        """Write scores to CSV (``.csv``, or ``.csv.gz`` compressed) or Parquet, chosen by the file name. The long
        table (default) is a scores table :meth:`put_frame` reads back (see :mod:`archrank.store.table`); ``wide``
        pivots to one column per proxy (through :meth:`score_table`), for reading. Both keep only the rows that
        ``filters`` (those of :meth:`score_table`) pick; ``latest`` needs ``wide``. Nothing to write is refused.
        A ``.csv.gz`` carries no timestamp: exporting the same scores twice writes the same bytes. The file is replaced
        whole (:func:`~archrank.store.file.replaced_whole`): an interrupted export keeps the previous table."""
        from archrank.store.table import scores_frame

        path = Path(path)
        kind = _table_kind(path)
        if kind is None:
            raise ValueError(f"cannot export to {path.name}: use a .csv, .csv.gz or .parquet file name")
        if not path.resolve().parent.is_dir():
            raise ValueError(f"cannot export to {path}: folder {path.resolve().parent} does not exist")
        if wide:
            if space is None:
                spaces = self.spaces()
                if len(spaces) != 1:
                    raise ValueError(f"a wide export needs --space (the store holds {', '.join(spaces) or 'none'})")
                space = spaces[0]
            frame = self.score_table(space, **filters).reset_index()
        else:
            if filters.pop("latest", False):
                raise ValueError("latest picks one result per architecture: use it with a wide export (--wide)")
            frame = _select(scores_frame(self, space), **filters)
        if frame.empty:
            where = f" of space {space}" if space else ""
            chosen = any(v is not None for k, v in filters.items() if k != "latest")
            raise ValueError(f"nothing to export: the store holds no scores{where}"
                             + (" matching the filters" if chosen else ""))
        with replaced_whole(path) as tmp:
            if kind == "parquet":
                frame.to_parquet(tmp, index=False)
            elif path.name.lower().endswith(".gz"):
                _write_gzip(frame, tmp, name=path)
            else:
                frame.to_csv(tmp, index=False)
        return path

    def put_frame(self, frame: pd.DataFrame) -> tuple[int, int]:
        """Store a scores table (what :meth:`export` writes, long) and return (added, already here): the inverse of
        :meth:`export`, so a committed table rebuilds a store on a new machine. One transaction; every row is
        checked first; keys already stored keep their result; NaN stays NaN."""
        from archrank.store.table import put_frame

        return put_frame(self, frame)

    def spaces(self) -> list[str]:
        """Spaces that have measurements."""
        return [s for (s,) in self._db.execute("SELECT DISTINCT space FROM measurements ORDER BY space")]


def claim_owner() -> str:
    """A claim owner name for this process: ``host:pid:random`` (so a dead local owner is recognised)."""
    import uuid

    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _owner_is_dead(owner: str) -> bool:
    """Whether ``owner`` names a process of this host that no longer runs (unknown formats: assumed alive)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _write_gzip(frame: pd.DataFrame, path: Path, name: Path) -> None:
    """Write ``frame`` as gzipped CSV into ``path`` with the header of a file called ``name`` and no timestamp:
    the same scores give the same bytes wherever they are written, so a committed table re-exported unchanged
    shows no change in git."""
    with open(path, "wb") as raw, gzip.GzipFile(str(name), "wb", fileobj=raw, mtime=0) as packed:
        frame.to_csv(packed, index=False)


def _table_kind(path: Path) -> str | None:
    """``csv`` or ``parquet`` for a table file name this store writes and reads, None for anything else."""
    name = path.name.lower()
    if name.endswith((".csv", ".csv.gz")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    return None


def _filters(**conditions: Any) -> tuple[list[str], list[Any]]:
    where = [f"{column}=?" for column, value in conditions.items() if value is not None]
    params = [value for value in conditions.values() if value is not None]
    return where, params


def _without_version(config: dict[str, Any] | None) -> dict[str, Any] | None:
    if config is None:
        return None
    return {k: v for k, v in config.items() if k not in ("version", "implementation_version")}


def _select(frame: pd.DataFrame, *, seed: int | None = None, data: str | None = None, batch: str | None = None,
            device: str | None = None, config: str | Mapping[str, str] | None = None) -> pd.DataFrame:
    """The rows of a :meth:`Store.scores` frame that the filters of :meth:`Store.score_table` pick."""
    if seed is not None:
        frame = frame[frame["seed"] == int(seed)]
    if data is not None:
        kind = data.partition(":")[0].lower()
        if kind == AUTO_DATA:
            raise StoreError("data=auto names no data set (it is cifar10 or synthetic depending on the machine): "
                             "filter by the data set, e.g. data='cifar10'")
        frame = frame[frame["data"] == kind]
    if batch is not None:
        frame = frame[frame["batch_hash"] == batch]
    if device is not None:
        frame = frame[frame["device"] == device]
    if isinstance(config, str):
        frame = frame[frame["config_hash"] == config]
    elif config is not None:
        wanted = frame["proxy"].map(dict(config))
        frame = frame[wanted.isna() | (frame["config_hash"] == wanted)]
    return frame


# (column, filter name, what the values are called, the commands' option or None) in the order a user would add
# the filters. The commands that read scores have no option for a configuration: only --latest picks one there.
_MIXABLE = (("seed", "seed", "seeds", "--seed"), ("data", "data", "data sets", "--data"),
            ("batch_hash", "batch", "batches", "--batch"), ("device", "device", "devices", "--device"),
            ("config_hash", "config", "configurations", None))


def _refuse_mixing(frame: pd.DataFrame) -> None:
    for proxy, rows in frame.groupby("proxy", sort=True):
        for column, name, plural, option in _MIXABLE:
            values = rows[column].astype(str).unique()
            if len(values) > 1:
                how = f"{name}=... ({option})" if option else f"{name}=... (in Python)"
                raise StoreError(
                    f"scores of {proxy} come from {len(values)} {plural} ({', '.join(sorted(values)[:4])}): "
                    f"choose one with {how}, or ask for latest=True (--latest)"
                )
