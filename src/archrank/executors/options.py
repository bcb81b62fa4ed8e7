"""Choosing an executor: by name from the Python API (:func:`make_executor`) or the command line
(:func:`executor_options`, the same four options on every command that runs parallel work)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import click

from archrank.executors.base import Executor
from archrank.executors.local import LocalExecutor
from archrank.executors.ray import RayExecutor

EXECUTORS = ("local", "ray")


def make_executor(
    name: str = "local",
    *,
    workers: int = 1,
    address: str | None = None,
    cpus_per_task: float = 1.0,
    gpus_per_task: float = 0.0,
    retries: int = 2,
    spawn: bool = False,
) -> Executor:
    """An executor by name.

    ``local``: ``workers`` processes on this machine (``spawn`` them for CUDA). ``ray``: tasks of
    ``cpus_per_task`` CPUs and ``gpus_per_task`` GPUs on the cluster at ``address`` (``"auto"``: the one
    ``ray start`` runs on this node; ``None``: a local instance of ``workers`` CPUs when ``workers > 1``, else
    of every CPU).
    """
    if name == "local":
        if address is not None or gpus_per_task:
            raise ValueError("--ray-address and --gpus-per-task need --executor ray")
        return LocalExecutor(workers, retries=retries, spawn=spawn)
    if name == "ray":
        num_cpus = workers if address is None and workers > 1 else None
        return RayExecutor(address, cpus_per_task=cpus_per_task, gpus_per_task=gpus_per_task, num_cpus=num_cpus,
                           retries=retries)
    raise ValueError(f"unknown executor {name!r}; choose one of {', '.join(EXECUTORS)}")


def executor_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Click options ``--executor``, ``--ray-address``, ``--cpus-per-task``, ``--gpus-per-task``; read them back
    with :func:`executor_from_options`."""
    options = [
        click.option("--executor", "executor_name", type=click.Choice(EXECUTORS), default="local",
                     show_default=True,
                     help="Where parallel work runs: local worker processes, or a Ray cluster."),
        click.option("--ray-address", default=None,
                     help="Ray cluster to join ('auto': the one `ray start --head` runs here; HOST:PORT). "
                     "Default: start a local Ray instance of --workers CPUs."),
        click.option("--cpus-per-task", type=click.FloatRange(min=0.0), default=1.0, show_default=True,
                     help="CPUs each Ray task asks for (fractions allowed)."),
        click.option("--gpus-per-task", type=click.FloatRange(min=0.0), default=0.0, show_default=True,
                     help="GPUs each Ray task asks for (fractions allowed: 0.25 shares one GPU among 4 tasks)."),
    ]
    return functools.reduce(lambda f, opt: opt(f), reversed(options), func)


def executor_from_options(opts: Mapping[str, Any], workers: int = 1, spawn: bool = False) -> Executor:
    """The executor chosen by :func:`executor_options`' values in ``opts`` (a command's keyword arguments)."""
    return make_executor(
        opts.get("executor_name", "local"),
        workers=workers,
        address=opts.get("ray_address"),
        cpus_per_task=opts.get("cpus_per_task", 1.0),
        gpus_per_task=opts.get("gpus_per_task", 0.0),
        spawn=spawn,
    )


def optional_executor(opts: Mapping[str, Any], workers: int = 1, spawn: bool = False) -> Executor | None:
    """Like :func:`executor_from_options`, but ``None`` for the default (``local`` with one worker): the command
    then does its work in its own process, exactly as before executors existed."""
    if opts.get("executor_name", "local") == "local" and workers <= 1:
        make_executor("local", address=opts.get("ray_address"), gpus_per_task=opts.get("gpus_per_task", 0.0))
        return None
    return executor_from_options(opts, workers=workers, spawn=spawn)
