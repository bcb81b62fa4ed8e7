"""A feature's view of the one results store: feature-shaped methods over the shared tables, no tables of its own.

EcoNAS trainings, EZNAS programs, Eproxy scores and search trajectories each read and write the store through
a small view class built on this one, so they share one schema, one notion of a run and one transaction
discipline. A view opened on a path owns (and closes) its store; a view opened on a :class:`Store` borrows it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from archrank.store.core import Store

_View = TypeVar("_View", bound="StoreView")


class StoreView:
    """Base of the feature views: ``store`` is the underlying :class:`Store` (a path opens one)."""

    def __init__(self, store: Store | str | Path, timeout: float = 60.0) -> None:
        self._own = not isinstance(store, Store)
        self.store = Store(store, timeout) if self._own else store  # type: ignore[arg-type]
        self.path = self.store.path

    def close(self) -> None:
        if self._own:
            self.store.close()

    def __enter__(self: _View) -> _View:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
