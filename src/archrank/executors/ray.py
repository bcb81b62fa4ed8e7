"""The ``ray`` executor: tasks on a Ray cluster (an existing one, or a local one started on demand).

``address=None`` starts a new local Ray instance for this process (``num_cpus`` of this machine, default all),
even when a cluster runs here; ``"auto"`` joins the cluster that ``ray start --head`` started on this node (or the
one ``RAY_ADDRESS`` names); ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` joins a remote one. A connection this
executor opened is closed by :meth:`close` (or at the end of a ``with`` block); one that already existed
(``ray.init`` called by the user) is left alone.

A local instance treats its workers as the local executor treats its worker processes (:data:`LOCAL_INSTANCE`):
they run at the driver's own CPU priority, where Ray's default lowers them by 15 niceness steps (to keep its
daemons responsive on a busy node), which on a machine shared with other jobs made every Ray task wait behind
them; and Ray's memory monitor, which kills workers while the whole node's memory is above 95 % even when other
jobs hold it, is off (the kernel's out-of-memory killer still acts; a worker that dies is retried as always).
docs/results/executors.md, benchmark 1, has the measurements. A cluster keeps its own settings;
``RAY_worker_niceness=0 RAY_memory_monitor_refresh_ms=0 ray start --head`` does the same there.

Each map puts the shared payload in Ray's object store once (``ray.put``) and passes its reference to every
task, which resolves it on its node. Each task asks for ``cpus_per_task`` CPUs and ``gpus_per_task`` GPUs;
fractions are allowed (``0.25`` GPU lets four tasks share one GPU). Retries are Ray's own: ``max_retries``
covers a worker or node that dies, ``retry_exceptions`` a task that raises; what still fails comes back as an
error line. Functions and proxies defined in a script travel by value; ones from your own modules must be
importable on every node (install the module there, or pass ``runtime_env`` in ``init_kwargs``).
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Hashable, Sequence
from typing import Any

from archrank.executors.base import Executor, ExecutorUnavailable, Finished, Session, TaskFn, one_line

INSTALL_HINT = "the ray executor needs Ray, which is not installed: pip install 'archrank[ray]'"

LOCAL_INSTANCE = {"worker_niceness": 0, "memory_monitor_refresh_ms": 0}
"""Ray settings (``_system_config``) of a local instance started here: workers at the driver's priority (Ray's
default: 15 niceness steps lower), no memory monitor killing workers (see the module doc)."""

WINDOW_PER_SLOT = 2
"""Tasks kept submitted per parallel slot, so a slot never waits for the driver to hand it the next one."""


def import_ray() -> Any:
    """The ``ray`` module, or :class:`ExecutorUnavailable` with one line saying how to install it."""
    if importlib.util.find_spec("ray") is None:
        raise ExecutorUnavailable(INSTALL_HINT)
    import ray

    return ray


class RayExecutor(Executor):
    """Tasks on a Ray cluster at ``address`` (see the module doc)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        cpus_per_task: float = 1.0,
        gpus_per_task: float = 0.0,
        num_cpus: int | None = None,
        retries: int = 2,
        init_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(retries)
        import_ray()  # fail now, with the install hint, rather than in the middle of a run
        if cpus_per_task < 0 or gpus_per_task < 0 or cpus_per_task + gpus_per_task <= 0:
            raise ValueError(
                f"a Ray task needs some resources: got {cpus_per_task} CPUs and {gpus_per_task} GPUs per task"
            )
        if num_cpus is not None and address is not None:
            raise ValueError("num_cpus sizes a local Ray instance; it cannot be set when joining a cluster")
        self.address = address
        self.cpus_per_task = cpus_per_task
        self.gpus_per_task = gpus_per_task
        self.num_cpus = num_cpus
        self.init_kwargs = dict(init_kwargs or {})
        self._connected_here = False

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "address": self.address,
            "cpus_per_task": self.cpus_per_task,
            "gpus_per_task": self.gpus_per_task,
        }

    def connect(self) -> Any:
        """Join (or start) the cluster unless this process is connected already; the ``ray`` module."""
        ray = import_ray()
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, **self.init_kwargs}
            if self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
            if self.address is None:  # a new local instance: workers treated as local ones (module doc)
                kwargs["_system_config"] = {**LOCAL_INSTANCE, **kwargs.get("_system_config", {})}
            try:  # "local": a new instance even when `ray start` runs here or RAY_ADDRESS is set
                ray.init(address=self.address or "local", **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = f"the Ray cluster at {self.address!r}" if self.address else "a local Ray instance"
                raise ExecutorUnavailable(f"cannot start or join {where}: {one_line(exc)}") from exc
            self._connected_here = True
        return ray

    def close(self) -> None:
        """Disconnect from (and, for a local instance, stop) the cluster if this executor connected."""
        if self._connected_here:
            import_ray().shutdown()
            self._connected_here = False

    def open(self, fn: TaskFn, shared: Any) -> Session:
        ray = self.connect()
        resources = ray.cluster_resources()
        slots = math.floor(resources.get("CPU", 0.0) / self.cpus_per_task) if self.cpus_per_task else math.inf
        if self.gpus_per_task:
            gpus = resources.get("GPU", 0.0)
            if gpus < self.gpus_per_task:
                raise ExecutorUnavailable(
                    f"tasks ask for {self.gpus_per_task} GPU each but the Ray cluster has {gpus:g} GPUs"
                )
            slots = min(slots, math.floor(gpus / self.gpus_per_task))
        remote = ray.remote(fn).options(
            num_cpus=self.cpus_per_task,
            num_gpus=self.gpus_per_task,
            max_retries=self.retries,
            retry_exceptions=True,
        )
        return _RaySession(ray, remote, ray.put(shared), max(1, int(min(slots, 1 << 20))), self.retries)


class _RaySession(Session):
    """Tasks are Ray object references; the shared payload is one object in the store."""

    def __init__(self, ray: Any, remote: Any, shared_ref: Any, slots: int, retries: int) -> None:
        self._ray, self._remote, self._shared_ref = ray, remote, shared_ref
        self._slots, self._retries = slots, retries

    @property
    def capacity(self) -> int:
        return self._slots

    @property
    def window(self) -> int:
        return WINDOW_PER_SLOT * self._slots

    def submit(self, items: tuple[Any, ...]) -> Hashable:
        return self._remote.remote(self._shared_ref, list(items))

    def wait(self, handles: Sequence[Hashable]) -> list[Finished]:
        ready, _ = self._ray.wait(list(handles), num_returns=1)
        return [self._fetch(ref) for ref in ready]

    def _fetch(self, ref: Any) -> Finished:
        errors = self._ray.exceptions
        try:
            return Finished(ref, self._ray.get(ref))
        except errors.RayTaskError as exc:  # the task raised, every attempt
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            return Finished(ref, error=f"task failed {self._retries + 1} times: {one_line(cause)}")
        except errors.RayError as exc:  # its worker or node died, every attempt
            return Finished(ref, error=f"task failed {self._retries + 1} times: {one_line(exc)}")

    def close(self) -> None:
        self._shared_ref = None  # drop the driver's reference: the payload may leave the object store
