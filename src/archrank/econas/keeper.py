"""Where the outcomes of reduced trainings go, whichever path trained them (here, stacked, or on an executor).

A result goes into the :class:`~archrank.econas.store.TrainingStore` (and to ``on_result``) the moment it exists; a
training that failed goes into the store as ``failed`` with its one-line reason, to be tried again by the next run,
and a line on stderr says so. The run goes on either way.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import torch
from tqdm.auto import tqdm

from archrank.econas.data import TrainData
from archrank.econas.setting import Setting
from archrank.econas.store import TrainingStore
from archrank.econas.trainer import Recipe, TrainResult, train
from archrank.executors.base import one_line
from archrank.spaces import Arch, SearchSpace


class Keeper:
    """The outcomes of one :func:`~archrank.econas.consistency.train_many` call: ``done`` maps (setting, seed) to
    the arch keys stored so far (updated as results arrive), ``ran`` counts the trainings that succeeded."""

    def __init__(self, store: TrainingStore, done: dict[tuple[str, int], set[str]], space: str, data: str,
                 device: str, tag: str, on_result: Callable[[TrainResult], None] | None) -> None:
        self.store, self.done, self.space, self.data, self.device = store, done, space, data, device
        self.tag, self.on_result = tag, on_result
        self.ran = 0

    def keep(self, result: TrainResult) -> None:
        """Store a finished training."""
        self.store.put(result)
        self.done.setdefault((result.setting, result.seed), set()).add(result.arch_key)
        self.ran += 1
        if self.on_result is not None:
            self.on_result(result)

    def fail(self, arch_key: str, setting: str | Setting, seed: int, reason: str, seconds: float | None = None) -> None:
        """Store a training that failed, with its one-line ``reason``."""
        self.store.put_failure((self.space, arch_key, str(setting) + self.tag, seed, self.data), self.device,
                               reason, seconds)
        tqdm.write(f"econas: training {arch_key} under {setting} (seed {seed}) failed, recorded: {reason}",
                   file=sys.stderr)

    def train_alone(self, space: SearchSpace, arch: Arch, setting: Setting, prepared: TrainData, seed: int,
                    device: str | torch.device, recipe: Recipe, width_kwarg: Mapping[str, int] | None,
                    build_kwargs: Mapping[str, Any] | None) -> None:
        """One :func:`~archrank.econas.trainer.train` here, kept or recorded as failed."""
        start = time.perf_counter()
        try:
            result = train(space, arch, setting, prepared, seed=seed, device=device, recipe=recipe,
                           width_kwarg=width_kwarg, build_kwargs=build_kwargs)
        except Exception as exc:  # a failing architecture (out of memory, a bad cell) is recorded; the others run
            self.fail(space.key(arch), setting, seed, one_line(exc), time.perf_counter() - start)
            return
        self.keep(result)
