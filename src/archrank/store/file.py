"""Opening an archrank SQLite file: the one way the project connects to its results file.

WAL mode lets readers run beside one writer, and writers wait for each other (``timeout``), so several processes
may share a file. Statements autocommit; :meth:`SQLiteFile.transaction` groups several into one atomic write.
A file that is not SQLite, or an SQLite file of another program, is refused with one line *before* anything is
written to it: a foreign file is left untouched. :func:`replaced_whole` writes any other file (an export, a
statistics cache) whole or not at all.
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from archrank.store.schema import KNOWN_TABLES, SCHEMA_VERSION, create_or_migrate

_File = TypeVar("_File", bound="SQLiteFile")


class StoreError(ValueError):
    """A results file that cannot be used (missing, corrupt, foreign, newer); the message is one line."""


@contextmanager
def replaced_whole(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` to write to; on success it replaces ``path`` in one rename, on an
    exception it is removed. A killed or failed write never leaves a truncated file, and two processes writing the
    same file leave one of their versions whole. The temporary name ends with ``path``'s name, so writers that
    infer the format from the suffix (pandas' ``compression="infer"``) see the same one."""
    path = Path(path)
    tmp = path.with_name(f".{os.getpid()}-{uuid.uuid4().hex[:8]}-{path.name}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_file(path: str, create: bool) -> None:
    """Refuse, with one line, a path that is not (or cannot become) an archrank results file."""
    file = Path(path).expanduser()
    if file.is_dir():
        raise StoreError(f"store {path} is a directory, not a file")
    if not file.exists():
        if not create:
            raise StoreError(f"no store at {path}")
        if not file.resolve().parent.is_dir():
            raise StoreError(f"store folder does not exist: {file.resolve().parent}")
        return
    size = file.stat().st_size
    if size == 0:
        return
    # Only SQLite reads the file: closing a file this process opened another way would drop the locks of its open
    # connections to it (POSIX locks are per process), and another process could then delete the write-ahead log
    # they still write to, so their later commits would reach no other process (and a kill -9 would lose them).
    try:
        probe = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True, timeout=60.0)
        try:
            tables = {n for (n,) in probe.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            version = probe.execute("PRAGMA user_version").fetchone()[0]
        finally:
            probe.close()
    except sqlite3.DatabaseError as exc:
        if "file is not a database" in str(exc):
            raise StoreError(f"{path} is not an archrank store: not an SQLite file (corrupt or another "
                             "format)") from None
        raise StoreError(f"{path} is not a usable archrank store: {exc}") from None
    ours = tables & KNOWN_TABLES
    if tables - {"sqlite_sequence"} and not ours:
        raise StoreError(f"{path} is an SQLite file of another program (tables: {', '.join(sorted(tables))});"
                         " archrank leaves it untouched")
    if version > SCHEMA_VERSION:
        raise StoreError(f"{path} was written by a newer archrank (schema {version} > {SCHEMA_VERSION}); upgrade")


class SQLiteFile:
    """An open archrank results file at the current schema (migrated on open; ``":memory:"`` for a throw-away one).

    ``create=False`` refuses a missing file instead of creating an empty one (readers such as ``evaluate``).
    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, path: str | Path, timeout: float = 60.0, *, create: bool = True) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            check_file(self.path, create)
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from None
        try:
            self._db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            if self._db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                self._set_wal(timeout)
            self._db.execute("PRAGMA synchronous=NORMAL")
            with self.transaction() as db:
                create_or_migrate(db)
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(f"{self.path} is not a usable archrank store: {exc}") from None

    def _set_wal(self, timeout: float) -> None:
        """Switch to WAL; another process switching at the same instant may hold the lock briefly: retry."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self._db.close()

    def __enter__(self: _File) -> _File:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """All statements inside are written together or not at all (``BEGIN IMMEDIATE`` … ``COMMIT``).

        Nested use joins the outer transaction, so a helper that writes atomically can be called inside a
        larger atomic write.
        """
        if self._db.in_transaction:
            yield self._db
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            if self._db.in_transaction:  # some errors (a trigger's RAISE(ROLLBACK), a full disk) rolled back already
                self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
