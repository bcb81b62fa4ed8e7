"""EcoNAS: reduced-training proxies, their rank consistency, and the hierarchical-proxy evolutionary search.

Zhou et al., "EcoNAS: Finding Proxies for Economical Neural Architecture Search", CVPR 2020. A reduced setting such
as ``c4r4s0e10`` trains a model with fewer channels, lower resolution, fewer samples and fewer epochs; its accuracy
ranks architectures at a fraction of the cost of full training.

    from archrank import econas
    econas.parse_setting("c4r4s0e60")
    res = econas.train(space, arch, setting="c4r4s0e10", data=("cifar10", root), seed=0, device="cpu")
    res.accuracy, res.seconds
"""

from __future__ import annotations

from archrank.econas.consistency import DEFAULT_GRID, consistency_table, train_many
from archrank.econas.data import (
    RawData,
    TrainData,
    balanced_subset,
    load_data,
    prepare,
    reduce_in_advance,
    save_data,
    validation_split,
)
from archrank.econas.hierarchical import (
    HierarchicalConfig,
    flat_evolution,
    hierarchical_search,
    training_oracle,
)
from archrank.econas.scorer import ReducedTrainingScorer
from archrank.econas.setting import Setting, parse_setting
from archrank.econas.store import TrainingStore, save_trainings
from archrank.econas.trainer import (
    ZERO_COST_PAPER_RECIPE,
    ZERO_COST_PAPER_SETTING,
    Recipe,
    TrainResult,
    reduced_build_kwargs,
    train,
)

__all__ = [
    "DEFAULT_GRID",
    "ZERO_COST_PAPER_RECIPE",
    "ZERO_COST_PAPER_SETTING",
    "HierarchicalConfig",
    "RawData",
    "Recipe",
    "ReducedTrainingScorer",
    "Setting",
    "TrainData",
    "TrainResult",
    "TrainingStore",
    "balanced_subset",
    "consistency_table",
    "flat_evolution",
    "hierarchical_search",
    "load_data",
    "parse_setting",
    "prepare",
    "reduce_in_advance",
    "reduced_build_kwargs",
    "save_data",
    "save_trainings",
    "train",
    "train_many",
    "training_oracle",
    "validation_split",
]
