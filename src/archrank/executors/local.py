"""The ``local`` executor: worker processes on this machine (the zero-set-up default).

``workers <= 1`` runs every task in the calling process (no start-up cost, easy to debug; a crash of that
process is a crash of the run, which then resumes from the store). ``workers > 1`` runs tasks in a
``ProcessPoolExecutor`` whose workers receive ``fn`` and the shared payload once, when they start, and use one
torch thread each (parallelism comes from the processes).

A worker that dies (killed, out of memory, ``os._exit``) breaks the whole pool: every task running at that
moment fails with it, innocent or not. The pool is then rebuilt and those tasks are rerun *one at a time*, so a
death during such a solo run is charged to the task that caused it alone; a task is given up (recorded as
failed) after ``retries`` charged retries. A worker whose driver dies without closing the pool (killed, out of
memory) notices within a second and exits, instead of waiting for work forever. CUDA workers are spawned, not
forked: a child cannot use CUDA once the parent has touched it.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Hashable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_futures
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from archrank.executors.base import Executor, Finished, Session, TaskFn, handles, one_line

# The payload of the map a worker process serves: set once by the pool's initializer in each worker process,
# read by every task that process runs (so the shared batch crosses the process boundary once per worker, not
# once per task). The driver process never writes it.
_WORKER_PAYLOAD: dict[str, Any] = {}


# How often a worker checks that the process that started it is still alive (seconds).
PARENT_POLL_SECONDS = 1.0


def _exit_when_orphaned(parent: int) -> None:
    """Worker-side watchdog: end this process once its parent is gone.

    A pool's workers wait on a queue fed by the driver. When the driver dies without shutting the pool down
    (SIGKILL, the out-of-memory killer, a preempted job) nothing ever tells them, and they would sleep forever,
    each holding its model, data and memory. Reparenting (``os.getppid()`` changes) is the portable sign."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_SECONDS)
    os._exit(1)


def _install_payload(fn: TaskFn, shared: Any, threads: int, parent: int) -> None:
    import torch

    torch.set_num_threads(threads)
    _WORKER_PAYLOAD["fn"], _WORKER_PAYLOAD["shared"] = fn, shared
    threading.Thread(target=_exit_when_orphaned, args=(parent,), name="orphan-watchdog", daemon=True).start()


def _run_installed(items: list[Any]) -> Any:
    return _WORKER_PAYLOAD["fn"](_WORKER_PAYLOAD["shared"], items)


class LocalExecutor(Executor):
    """``workers`` processes on this machine (``1``: the calling process itself); see the module doc."""

    name = "local"

    def __init__(self, workers: int = 1, *, retries: int = 2, spawn: bool = False) -> None:
        super().__init__(retries)
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self.workers = workers
        self.spawn = spawn

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "workers": self.workers, "spawn": self.spawn}

    def open(self, fn: TaskFn, shared: Any) -> Session:
        if self.workers <= 1:
            return _InProcessSession(fn, shared, self.retries)
        return _PoolSession(fn, shared, self.workers, self.retries, self.spawn)


class _InProcessSession(Session):
    """Tasks run in the caller's process, one at a time, when waited for."""

    def __init__(self, fn: TaskFn, shared: Any, retries: int) -> None:
        self._fn, self._shared, self._retries = fn, shared, retries
        self._ids = handles()
        self._queued: dict[Hashable, tuple[Any, ...]] = {}

    @property
    def capacity(self) -> int:
        return 1

    def submit(self, items: tuple[Any, ...]) -> Hashable:
        handle = next(self._ids)
        self._queued[handle] = items
        return handle

    def wait(self, handles: Sequence[Hashable]) -> list[Finished]:
        handle = handles[0]
        items = self._queued.pop(handle)
        error = "no attempt"
        for _ in range(self._retries + 1):
            try:
                return [Finished(handle, self._fn(self._shared, list(items)))]
            except Exception as exc:  # a failing task is retried, then reported; the map goes on
                error = one_line(exc)
        return [Finished(handle, error=f"task failed {self._retries + 1} times: {error}")]


class _PoolSession(Session):
    """Tasks run in a process pool; a broken pool is rebuilt and its suspects rerun alone (module doc)."""

    def __init__(self, fn: TaskFn, shared: Any, workers: int, retries: int, spawn: bool) -> None:
        self._fn, self._shared, self._workers, self._retries = fn, shared, workers, retries
        self._context = multiprocessing.get_context("spawn") if spawn else None
        self._pool: ProcessPoolExecutor | None = None
        self._ids = handles()
        self._items: dict[Hashable, tuple[Any, ...]] = {}
        self._charged: dict[Hashable, int] = {}  # failed attempts that were surely this task's own fault
        self._running: dict[Hashable, Future[Any]] = {}
        self._suspects: deque[Hashable] = deque()  # were running when the pool broke: rerun one at a time
        self._held: deque[Hashable] = deque()  # submitted while suspects run alone

    @property
    def capacity(self) -> int:
        return self._workers

    def submit(self, items: tuple[Any, ...]) -> Hashable:
        handle = next(self._ids)
        self._items[handle] = items
        self._charged[handle] = 0
        self._held.append(handle)
        self._dispatch()
        return handle

    def wait(self, handles: Sequence[Hashable]) -> list[Finished]:
        while True:
            self._dispatch()
            if not self._running:
                raise RuntimeError("wait() called with no task submitted")
            done, _ = wait_futures(list(self._running.values()), return_when=FIRST_COMPLETED)
            broken = any(isinstance(f.exception(), BrokenProcessPool) for f in done)
            finished = self._harvest_broken() if broken else self._harvest(done)
            if finished:
                return finished

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # --- internals -----------------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Start what may start: one suspect alone, or held tasks while no suspect is pending."""
        if self._suspects:
            if not self._running:
                self._start(self._suspects.popleft())
            return
        while self._held and len(self._running) < self._workers:
            self._start(self._held.popleft())

    def _start(self, handle: Hashable) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers,
                mp_context=self._context,
                initializer=_install_payload,
                initargs=(self._fn, self._shared, 1, os.getpid()),
            )
        self._running[handle] = self._pool.submit(_run_installed, list(self._items[handle]))

    def _harvest(self, done: set[Future[Any]]) -> list[Finished]:
        finished = []
        for handle, future in list(self._running.items()):
            if future not in done:
                continue
            del self._running[handle]
            exc = future.exception()
            if exc is None:
                finished.append(self._finish(handle, value=future.result()))
            else:
                finished.extend(self._charge(handle, one_line(exc), alone=False))
        return finished

    def _harvest_broken(self) -> list[Finished]:
        """The pool died: keep what finished before, rebuild it, rerun the others (alone if several ran)."""
        finished, lost = [], []
        for handle, future in self._running.items():
            if future.done() and future.exception() is None:
                finished.append(self._finish(handle, value=future.result()))
            else:
                lost.append(handle)
        self._running.clear()
        assert self._pool is not None
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._pool = None
        if len(lost) == 1:  # it ran alone: the death is its own
            finished.extend(self._charge(lost[0], "worker process died", alone=True))
        else:
            self._suspects.extend(lost)
        return finished

    def _charge(self, handle: Hashable, error: str, alone: bool) -> list[Finished]:
        """Count a failed attempt; rerun the task (alone if it may kill its worker) or give it up."""
        self._charged[handle] += 1
        if self._charged[handle] > self._retries:
            return [self._finish(handle, error=f"task failed {self._charged[handle]} times: {error}")]
        (self._suspects if alone else self._held).appendleft(handle)
        return []

    def _finish(self, handle: Hashable, value: Any = None, error: str | None = None) -> Finished:
        del self._items[handle], self._charged[handle]
        return Finished(handle, value, error)
