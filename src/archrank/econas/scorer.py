"""The reduced-training accuracy as a proxy-like scorer, to compare and combine with zero-cost proxies.

``ReducedTrainingScorer("c4r4s0e10", ("cifar10", None))(space, arch)`` trains ``arch`` under the setting and returns
its test accuracy (%, higher is better), the same orientation as the project's zero-cost proxies. The data is
loaded and reduced once per scorer; the wall seconds of each call are recorded. With a
:class:`~archrank.econas.store.TrainingStore` results are reused and saved, so repeated evaluations are free.
(EcoNAS: Zhou et al., CVPR 2020; compared with zero-cost proxies by Abdelfattah et al., ICLR 2021.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from archrank.econas.data import RawData, TrainData, load_data, prepare
from archrank.econas.setting import Setting, parse_setting
from archrank.econas.store import TrainingStore
from archrank.econas.trainer import Recipe, TrainResult, train, variant_tag
from archrank.spaces import Arch, SearchSpace


class ReducedTrainingScorer:
    """Callable ``(space, arch) -> accuracy`` backed by :func:`archrank.econas.train`.

    Attributes: ``name`` (``"econas_<setting>"``), ``seconds`` (wall seconds of the last call, 0 when it came from
    the store), ``total_seconds`` (sum over calls), ``history`` (every :class:`TrainResult` this scorer produced or
    read back). A stored training is reused only when it was made on a device of this scorer's type.
    """

    higher_is_better = True

    def __init__(
        self,
        setting: str | Setting,
        data: RawData | tuple[str, Any] | str = ("cifar10", None),
        seed: int = 0,
        device: str | torch.device = "cpu",
        recipe: Recipe | None = None,
        width_kwarg: Mapping[str, int] | None = None,
        store: TrainingStore | None = None,
        build_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        self.setting = parse_setting(setting)
        self.seed = int(seed)
        self.device = device
        self.recipe = recipe or Recipe()
        self.width_kwarg = width_kwarg
        self.build_kwargs = dict(build_kwargs or {})
        self.store = store
        self.name = f"econas_{self.setting}"
        self._raw = load_data(data)
        self._prepared: TrainData | None = None
        self.seconds = 0.0
        self.total_seconds = 0.0
        self.history: list[TrainResult] = []

    def _data(self) -> TrainData:
        if self._prepared is None:
            self._prepared = prepare(self._raw, self.setting, self.seed)
        return self._prepared

    def result(self, space: SearchSpace, arch: Arch | str) -> TrainResult:
        """The full :class:`TrainResult` (from the store when already there)."""
        arch = space.parse(arch) if isinstance(arch, str) else arch
        data = self._data()
        setting_key = str(self.setting) + variant_tag(space, self.recipe, self.width_kwarg, self.build_kwargs)
        if self.store is not None:
            stored = self.store.get(space.name, space.key(arch), setting_key, self.seed, data.key, str(self.device))
            if stored is not None:
                self.seconds = 0.0
                self.history.append(stored)
                return stored
        result = train(
            space, arch, self.setting, data, seed=self.seed, device=self.device, recipe=self.recipe,
            width_kwarg=self.width_kwarg, build_kwargs=self.build_kwargs,
        )
        self.seconds = result.seconds
        self.total_seconds += result.seconds
        self.history.append(result)
        if self.store is not None:
            self.store.put(result)
        return result

    def __call__(self, space: SearchSpace, arch: Arch | str) -> float:
        return self.result(space, arch).accuracy
