"""Search algorithms with an ask/tell interface, by name."""

from __future__ import annotations

from archrank.search.samplers.base import Sampler
from archrank.search.samplers.hierarchical import HierarchicalEvolution
from archrank.search.samplers.predictor import MLPEnsemble, PredictorSearch
from archrank.search.samplers.random_search import RandomSearch
from archrank.search.samplers.rea import RegularizedEvolution
from archrank.search.samplers.reinforce import Reinforce

ALGORITHMS: dict[str, type[Sampler]] = {
    cls.name: cls for cls in (RandomSearch, RegularizedEvolution, Reinforce, PredictorSearch, HierarchicalEvolution)
}

__all__ = [
    "ALGORITHMS",
    "HierarchicalEvolution",
    "MLPEnsemble",
    "PredictorSearch",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "Sampler",
]
