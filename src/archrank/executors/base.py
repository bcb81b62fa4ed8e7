"""The executor contract: run a function over chunks of work items in parallel, one outcome per chunk.

An :class:`Executor` runs ``fn(shared, items)`` for chunks of ``items`` and yields each chunk's outcome on the
driver as soon as it finishes (in completion order). ``shared`` is the payload every task reads (a batch, a
search space, proxy definitions): each implementation sends it to its workers once, never once per task.

Failure semantics, the same for every implementation:
- a task that raises, or whose worker process dies, is retried up to ``retries`` more times;
- a chunk of several items that still fails is split and each item retried alone, so one poisonous item does
  not take its neighbours down with it;
- an item that still fails comes back as a :class:`TaskOutcome` with ``error`` set (one line saying why), and
  the map goes on with the rest.

Only the driver sees outcomes, so only the driver writes results (SQLite has one writer).
"""

from __future__ import annotations

import itertools
import math
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")
_Exec = TypeVar("_Exec", bound="Executor")

TaskFn = Callable[[Any, list[Any]], Any]
"""``fn(shared, items) -> value``; a module-level function (it is pickled by reference to reach workers)."""

Admit = Callable[[list[Any]], list[Any]]
"""Called on each chunk just before it is submitted; returns the items to run now (e.g. those this process
could claim). Items it leaves out are not run by this map."""

MAX_CHUNK = 16
"""Largest automatic chunk: bigger chunks save per-task overhead but balance load worse and lose more on a
failure."""

CHUNKS_PER_SLOT = 4
"""Automatic chunking aims at this many chunks per parallel slot, so slots finish at about the same time."""


@dataclass(frozen=True)
class TaskOutcome(Generic[Item]):
    """One finished chunk: ``value`` is what ``fn`` returned, or ``error`` (one line) says why it failed for good."""

    items: tuple[Item, ...]
    value: Any = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Finished:
    """What a :class:`Session` reports about one submitted task (after its own retries)."""

    handle: Hashable
    value: Any = None
    error: str | None = None


class Session(ABC):
    """One map in progress: ``fn`` and ``shared`` already delivered to the workers. Implementations retry a
    failed task ``retries`` times themselves and report only final results."""

    @property
    @abstractmethod
    def capacity(self) -> int:
        """How many tasks run at once."""

    @property
    def window(self) -> int:
        """How many tasks to keep submitted (running or queued) at once."""
        return self.capacity

    @abstractmethod
    def submit(self, items: tuple[Any, ...]) -> Hashable:
        """Start a task on ``items``; returns its handle."""

    @abstractmethod
    def wait(self, handles: Sequence[Hashable]) -> list[Finished]:
        """Block until at least one of ``handles`` finished for good; return every one that did."""

    def close(self) -> None:
        """Release what the session holds (processes, a cluster connection); nothing by default."""
        return None


class Executor(ABC):
    """Where parallel work runs. Subclasses open a :class:`Session`; :meth:`map` is the one way to use it."""

    name: str = ""

    def __init__(self, retries: int = 2) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        self.retries = retries

    @abstractmethod
    def open(self, fn: TaskFn, shared: Any) -> Session:
        """Deliver ``fn`` and ``shared`` to the workers; a session to submit tasks to."""

    def describe(self) -> dict[str, Any]:
        """The executor's settings, for run metadata."""
        return {"executor": self.name, "retries": self.retries}

    def close(self) -> None:
        """Release what the executor holds between maps (e.g. a cluster connection it opened); nothing by default."""
        return None

    def __enter__(self: _Exec) -> _Exec:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def map(
        self,
        fn: TaskFn,
        shared: Any,
        items: Sequence[Item],
        *,
        chunk_size: int | None = None,
        admit: Admit | None = None,
    ) -> Iterator[TaskOutcome[Item]]:
        """Run ``fn(shared, chunk)`` over chunks of ``items``; yield each chunk's outcome as it finishes.

        ``chunk_size`` defaults to :func:`auto_chunk_size`. ``admit`` filters each chunk just before it is
        submitted (see :data:`Admit`). See the module doc for retries and failures.
        """
        if chunk_size is not None and chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        session = self.open(fn, shared)
        try:
            size = chunk_size or auto_chunk_size(len(items), session.capacity)
            fresh = deque(tuple(items[i : i + size]) for i in range(0, len(items), size))
            alone: deque[tuple[Item, ...]] = deque()  # items of failed chunks, retried one by one
            in_flight: dict[Hashable, tuple[Item, ...]] = {}
            while fresh or alone or in_flight:
                while len(in_flight) < session.window and (alone or fresh):
                    if alone:  # already admitted as part of their original chunk
                        chunk = alone.popleft()
                    else:
                        chunk = fresh.popleft()
                        chunk = tuple(admit(list(chunk))) if admit is not None else chunk
                    if chunk:
                        in_flight[session.submit(chunk)] = chunk
                if not in_flight:
                    break
                for done in session.wait(list(in_flight)):
                    chunk = in_flight.pop(done.handle)
                    if done.error is not None and len(chunk) > 1:
                        alone.extend((item,) for item in chunk)
                        continue
                    yield TaskOutcome(chunk, done.value, done.error)
        finally:
            session.close()

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.describe().items() if k != "executor")
        return f"{type(self).__name__}({settings})"


def auto_chunk_size(n_items: int, capacity: int) -> int:
    """About :data:`CHUNKS_PER_SLOT` chunks per parallel slot, between 1 and :data:`MAX_CHUNK` items each."""
    if n_items <= 0:
        return 1
    return max(1, min(MAX_CHUNK, math.ceil(n_items / (CHUNKS_PER_SLOT * max(1, capacity)))))


def one_line(exc: BaseException) -> str:
    """``Type: first line of the message`` (tracebacks and remote stack dumps stay out of stored reasons)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def handles() -> Iterator[int]:
    """Fresh task handles for sessions that number their tasks themselves."""
    return itertools.count()


class ExecutorUnavailable(ValueError):
    """The chosen executor cannot run with these settings here (Ray not installed, no cluster at the address,
    too few GPUs); the message, one line, says what to fix. A ``ValueError``: it is a bad choice of options."""

