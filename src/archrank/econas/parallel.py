"""Reduced trainings on an executor (issue 15): the same work as :func:`~archrank.econas.consistency.train_many`,
spread over local worker processes or a Ray cluster.

A work item is one (architecture, setting, seed) training; a task trains a chunk of them, preparing each reduced
data set once per task. The raw data set travels to the workers once (the shared payload). Results come back to
the driver, which alone writes the store, so an interrupted run resumes like the sequential one. Each training
runs on one torch thread (parallelism comes from the workers), so a result does not depend on how many workers
computed the study; a training whose task still fails after the executor's retries is reported and stored as
``failed`` with its reason, to be tried again by the next run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from tqdm.auto import tqdm

from archrank.econas.data import RawData, TrainData, load_data, prepare
from archrank.econas.keeper import Keeper
from archrank.econas.setting import Setting, parse_setting
from archrank.econas.trainer import Recipe, TrainResult, train
from archrank.executors import Executor
from archrank.runner import portable_space, torch_threads
from archrank.spaces import SearchSpace

TRAINING_THREADS = 1

Training = tuple[str, str, int]
"""(architecture key, setting, seed)."""


@dataclass(frozen=True)
class TrainingJob:
    """What every training task shares."""

    space: SearchSpace
    raw: RawData
    device: str
    recipe: Recipe
    width_kwarg: Mapping[str, int] | None
    build_kwargs: Mapping[str, Any] | None


def train_chunk(job: TrainingJob, items: list[Training]) -> list[TrainResult]:
    """A task: train each (arch key, setting, seed) of ``items`` (runs on a worker)."""
    prepared: dict[tuple[int, int, int], TrainData] = {}
    results = []
    threads = torch_threads(TRAINING_THREADS) if torch.device(job.device).type == "cpu" else nullcontext()
    with threads:
        for key, setting_name, seed in items:
            setting = parse_setting(setting_name)
            reduction = (setting.resolution_divisor, setting.s, seed)
            if reduction not in prepared:
                prepared[reduction] = prepare(job.raw, setting, seed)
            results.append(train(job.space, job.space.from_key(key), setting, prepared[reduction], seed=seed,
                                 device=job.device, recipe=job.recipe, width_kwarg=job.width_kwarg,
                                 build_kwargs=job.build_kwargs))
    return results


def train_on_executor(
    executor: Executor,
    space: SearchSpace,
    todo: Sequence[Training],
    raw: RawData,
    keeper: Keeper,
    *,
    device: str,
    recipe: Recipe,
    width_kwarg: Mapping[str, int] | None = None,
    build_kwargs: Mapping[str, Any] | None = None,
    progress: bool = True,
) -> None:
    """Run the trainings ``todo`` on ``executor``, handing each task's results to ``keeper`` (the store) as it
    finishes, and a task that failed for good as failed trainings. Tasks of one training each: a training is long,
    so per-task overhead does not matter and the load balances best."""
    job = TrainingJob(portable_space(space), raw, str(device), recipe, width_kwarg, build_kwargs)
    failed = 0
    bar = tqdm(total=len(todo), disable=not progress, desc="econas", unit="training")
    try:
        for outcome in executor.map(train_chunk, job, list(todo), chunk_size=1):
            if outcome.ok:
                for result in outcome.value:
                    keeper.keep(result)
            else:
                failed += len(outcome.items)
                for key, setting_name, seed in outcome.items:
                    keeper.fail(key, setting_name, seed, str(outcome.error))
                bar.set_postfix(failed=failed, refresh=False)
            bar.update(len(outcome.items))
    finally:
        bar.close()


def settings_todo(
    keys: Sequence[str], settings: Sequence[Setting], seeds: Sequence[int], done: Mapping[tuple[str, int], set[str]]
) -> list[Training]:
    """The (arch key, setting, seed) trainings not in ``done`` = {(setting, seed): stored arch keys}, in the
    sequential order (architectures outermost)."""
    return [(key, str(s), seed) for key in keys for s in settings for seed in seeds
            if key not in done[(str(s), seed)]]


def train_remote(
    executor: Executor, space: SearchSpace, arch: Any, setting: str | Setting, data: RawData | str, *, seed: int = 0,
    device: str = "cpu", recipe: Recipe | None = None,
) -> TrainResult:
    """One training on ``executor`` (e.g. on a cluster's GPU node); ``ValueError`` with the reason if it fails."""
    raw = data if isinstance(data, RawData) else load_data(data)
    job = TrainingJob(portable_space(space), raw, str(device), recipe or Recipe(), None, None)
    item = (space.key(arch), str(parse_setting(setting)), seed)
    (outcome,) = executor.map(train_chunk, job, [item], chunk_size=1)
    if not outcome.ok:
        raise ValueError(f"training failed: {outcome.error}")
    return outcome.value[0]
