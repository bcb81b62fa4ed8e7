"""Executors: where archrank's embarrassingly parallel work runs (issue 15).

``local`` (the default) uses worker processes on this machine; ``ray`` uses a Ray cluster, an existing one
(``address="auto"``) or a local one started on demand. Both run ``fn(shared, chunk)`` over chunks of work
items, send the shared payload to the workers once, retry failed tasks a bounded number of times, and hand
every outcome back to the driver, which alone writes results::

    from archrank.executors import make_executor
    with make_executor("ray", address="auto", gpus_per_task=0.25) as executor:
        for outcome in executor.map(fn, shared, items):
            ...   # outcome.items, outcome.value, or outcome.error (one line) after the retries

Ray is optional (``pip install 'archrank[ray]'``); asking for it without it installed raises
:class:`ExecutorUnavailable` with that hint.
"""

from archrank.executors.base import Executor, ExecutorUnavailable, TaskOutcome, auto_chunk_size
from archrank.executors.local import LocalExecutor
from archrank.executors.options import (
    EXECUTORS,
    executor_from_options,
    executor_options,
    make_executor,
    optional_executor,
)
from archrank.executors.ray import RayExecutor

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorUnavailable",
    "LocalExecutor",
    "RayExecutor",
    "TaskOutcome",
    "auto_chunk_size",
    "executor_from_options",
    "executor_options",
    "make_executor",
    "optional_executor",
]
