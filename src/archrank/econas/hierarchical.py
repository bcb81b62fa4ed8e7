"""EcoNAS's hierarchical-proxy evolutionary search and a flat regularised-evolution baseline (Zhou et al., CVPR
2020, Sec. 4).

Hierarchical proxy: every new child is trained with the cheapest proxy (tier 0, e.g. 20 epochs) and enters tier 0.
Every ``promote_every`` cycles the best ``promote_top`` members of each tier are trained further with the next
proxy (e.g. 20 -> 40 -> 60 epochs) and move up one tier; parents are chosen by tournament within a tier (the tier
drawn with ``tier_weights``); members older than ``max_age`` cycles (below the top tier), or the oldest beyond a
tier's capacity, are dropped (aging, as in regularised evolution). So most compute goes to the promising
candidates and unpromising ones are discarded after a cheap proxy. This is our reading of the paper's strategy;
the paper fixes no hyper-parameters for NB201, so :class:`HierarchicalConfig` exposes them.
The flat baseline (Real et al., regularised evolution) trains every child fully at the top tier.

The oracle answers "accuracy of ``arch`` after training to tier ``t``" and its cost:

- :class:`TableOracle` simulates training from a benchmark table, for fast experiments at scale. **It is a
  simulation**: the table only has 200-epoch accuracies, so the accuracy observed after ``e`` epochs is modelled
  as ``acc200 + sigma(e) * (sqrt(rho) * z_arch + sqrt(1 - rho) * eps)`` with ``sigma(e) = noise_at_ref *
  (ref_epochs / e) ** noise_decay``, ``z_arch`` a standard normal fixed per (search seed, architecture) (how
  much this architecture's reduced training misjudges it, persisting across tiers) and ``eps`` fresh per
  evaluation. Costs are real: the table's 200-epoch training time / 200 per epoch, times
  :meth:`Setting.relative_cost` of the tier's setting; a promotion continues the training and pays only the extra
  epochs (``incremental=True``).
- :class:`TrainerOracle` really trains with :func:`archrank.econas.train`; a promotion retrains from scratch at
  the next tier's setting and pays its measured wall seconds.

Searches report the true (benchmark) accuracy of their current pick, the best architecture observed at the
highest tier reached, against the cumulative cost.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

from archrank.econas.setting import Setting, parse_setting
from archrank.spaces import Arch, SearchSpace, as_rng

DEFAULT_TIERS: tuple[str, ...] = ("c0r0s0e20", "c0r0s0e40", "c0r0s0e60")


class Oracle(Protocol):
    """Evaluates an architecture at a tier; ``from_tier`` is the tier it was trained to before (promotion)."""

    tiers: tuple[Setting, ...]

    def evaluate(self, arch: Arch, tier: int, from_tier: int | None = None) -> tuple[float, float]:
        """(observed accuracy %, cost in seconds) of training ``arch`` to ``tier``."""
        ...

    def true_accuracy(self, arch: Arch) -> float:
        """Reference accuracy used to score a search's pick (NaN when unknown)."""
        ...


@dataclass
class TableOracle:
    """Simulated reduced training from a benchmark table (see the module docstring: a simulation, not training).

    ``table`` is indexed by arch key with the accuracy column ``acc_column`` and the training-time column
    ``time_column`` (seconds for ``time_epochs`` epochs).
    """

    space: SearchSpace
    table: pd.DataFrame
    tiers: tuple[Setting, ...] = tuple(parse_setting(t) for t in DEFAULT_TIERS)
    seed: int = 0
    noise_at_ref: float = 0.3
    ref_epochs: int = 200
    noise_decay: float = 0.75
    persistence: float = 0.5
    incremental: bool = True
    acc_column: str = "cifar10_test_acc"
    time_column: str = "cifar10valid_train_time_200ep_s"
    time_epochs: int = 200
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tiers = tuple(parse_setting(t) for t in self.tiers)
        if not 0.0 <= self.persistence <= 1.0:
            raise ValueError(f"persistence must be in [0, 1], got {self.persistence}")
        missing = {self.acc_column, self.time_column} - set(self.table.columns)
        if missing:
            raise ValueError(f"oracle table lacks column(s) {', '.join(sorted(missing))}")
        self._rng = np.random.default_rng([self.seed, 1])
        self._acc = self.table[self.acc_column].astype(float).to_dict()
        self._time = (self.table[self.time_column].astype(float) / self.time_epochs).to_dict()

    def sigma(self, epochs: int) -> float:
        """Noise scale (accuracy points) of a training of ``epochs`` epochs."""
        return self.noise_at_ref * (self.ref_epochs / epochs) ** self.noise_decay

    def _persistent(self, key: str) -> float:
        return float(np.random.default_rng([self.seed, 2, zlib.crc32(key.encode())]).standard_normal())

    def true_accuracy(self, arch: Arch) -> float:
        return float(self._acc.get(self.space.key(arch), float("nan")))

    def evaluate(self, arch: Arch, tier: int, from_tier: int | None = None) -> tuple[float, float]:
        key = self.space.key(arch)
        if key not in self._acc:
            raise KeyError(f"architecture {key} is not in the oracle table")
        setting = self.tiers[tier]
        noise = np.sqrt(self.persistence) * self._persistent(key)
        noise += np.sqrt(1.0 - self.persistence) * float(self._rng.standard_normal())
        observed = self._acc[key] + self.sigma(setting.epochs) * noise
        epochs = setting.epochs
        if from_tier is not None and self.incremental:
            before = self.tiers[from_tier]
            if (before.c, before.r, before.s) == (setting.c, setting.r, setting.s):
                epochs = setting.epochs - before.epochs
        return float(observed), float(epochs * self._time[key] * setting.relative_cost())


class TrainerOracle:
    """Real reduced trainings as the oracle (promotion = retraining from scratch at the next tier's setting)."""

    def __init__(
        self,
        space: SearchSpace,
        tiers: Sequence[str | Setting],
        data: Any = ("cifar10", None),
        seed: int = 0,
        device: str = "cpu",
        truth: Mapping[str, float] | None = None,
        store: Any = None,
        **scorer_kwargs: Any,
    ) -> None:
        """``scorer_kwargs`` go to each tier's :class:`~archrank.econas.scorer.ReducedTrainingScorer` (``recipe``,
        ``width_kwarg``, ``build_kwargs``)."""
        from archrank.econas.scorer import ReducedTrainingScorer

        self.space = space
        self.tiers = tuple(parse_setting(t) for t in tiers)
        self.truth = dict(truth or {})
        self._scorers = [
            ReducedTrainingScorer(t, data, seed=seed, device=device, store=store, **scorer_kwargs) for t in self.tiers
        ]

    def evaluate(self, arch: Arch, tier: int, from_tier: int | None = None) -> tuple[float, float]:
        result = self._scorers[tier].result(self.space, arch)
        return result.accuracy, result.seconds

    def true_accuracy(self, arch: Arch) -> float:
        return float(self.truth.get(self.space.key(arch), float("nan")))


@dataclass(frozen=True)
class Member:
    """A population member: its architecture, tier, accuracy observed at that tier and the cycle it entered it."""

    arch: Arch
    tier: int
    accuracy: float
    born: int


@dataclass(frozen=True)
class HierarchicalConfig:
    """Hyper-parameters of the hierarchical search (defaults are ours; EcoNAS does not fix them for NB201)."""

    initial: int = 20
    tier_capacity: tuple[int, ...] = (30, 15, 10)
    tournament: int = 5
    promote_every: int = 5
    promote_top: int = 2
    max_age: int | None = 60
    tier_weights: tuple[float, ...] = (1.0, 1.0, 1.0)


@dataclass
class SearchTrace:
    """Cumulative cost, the pick's true accuracy and observed accuracy after each evaluation, and the final pick."""

    costs: list[float] = field(default_factory=list)
    true_accuracy: list[float] = field(default_factory=list)
    observed: list[float] = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)  # per tier
    pick: Arch | None = None
    promotions: int = 0

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame({"cost": self.costs, "true_accuracy": self.true_accuracy, "observed": self.observed})


class _Tracker:
    """Keeps the pick (best observed accuracy at the highest tier reached) and records the trace."""

    def __init__(self, oracle: Oracle) -> None:
        self.oracle = oracle
        self.trace = SearchTrace(evaluations=[0] * len(oracle.tiers))
        self.cost = 0.0
        self.best: tuple[int, float] | None = None  # (tier, observed)

    def record(self, arch: Arch, tier: int, observed: float, cost: float) -> None:
        self.cost += cost
        self.trace.evaluations[tier] += 1
        if self.best is None or (tier, observed) > self.best:
            self.best = (tier, observed)
            self.trace.pick = arch
        self.trace.costs.append(self.cost)
        self.trace.observed.append(self.best[1])
        self.trace.true_accuracy.append(self.oracle.true_accuracy(self.trace.pick))


def _tournament(members: Sequence[Member], size: int, rng: Any) -> Member:
    sample = rng.sample(list(members), min(size, len(members)))
    return max(sample, key=lambda m: m.accuracy)


def hierarchical_search(
    space: SearchSpace,
    oracle: Oracle,
    budget: float,
    config: HierarchicalConfig | None = None,
    seed: int = 0,
) -> SearchTrace:
    """EcoNAS hierarchical-proxy evolution until the cumulative cost reaches ``budget`` (oracle cost units)."""
    config = config or HierarchicalConfig()
    levels = len(oracle.tiers)
    if len(config.tier_capacity) != levels or len(config.tier_weights) != levels:
        raise ValueError(f"tier_capacity and tier_weights need one entry per tier ({levels})")
    rng = as_rng(seed)
    tracker = _Tracker(oracle)
    tiers: list[list[Member]] = [[] for _ in range(levels)]
    cycle = 0

    def add(arch: Arch) -> None:
        observed, cost = oracle.evaluate(arch, 0)
        tracker.record(arch, 0, observed, cost)
        tiers[0].append(Member(arch, 0, observed, cycle))

    def drop_stale() -> None:
        for level, members in enumerate(tiers):
            if config.max_age is not None:
                members[:] = [m for m in members if cycle - m.born <= config.max_age or level == levels - 1]
            while len(members) > config.tier_capacity[level]:
                members.pop(0)  # the oldest (members are kept in order of entry)

    def promote() -> None:
        for level in range(levels - 2, -1, -1):
            best = sorted(tiers[level], key=lambda m: m.accuracy, reverse=True)[: config.promote_top]
            for member in best:
                if tracker.cost >= budget:
                    return
                tiers[level].remove(member)
                observed, cost = oracle.evaluate(member.arch, level + 1, from_tier=level)
                tracker.record(member.arch, level + 1, observed, cost)
                tiers[level + 1].append(Member(member.arch, level + 1, observed, cycle))
                tracker.trace.promotions += 1

    while len(tiers[0]) < config.initial and tracker.cost < budget:
        add(space.sample(rng))
    while tracker.cost < budget:
        cycle += 1
        choices = [level for level in range(levels) if tiers[level]]
        if not choices:
            add(space.sample(rng))
            continue
        level = rng.choices(choices, weights=[config.tier_weights[i] for i in choices])[0]
        parent = _tournament(tiers[level], config.tournament, rng)
        add(space.mutate(parent.arch, rng))
        if cycle % config.promote_every == 0:
            promote()
        drop_stale()
    return tracker.trace


def flat_evolution(
    space: SearchSpace,
    oracle: Oracle,
    budget: float,
    tier: int = -1,
    population: int = 20,
    tournament: int = 5,
    seed: int = 0,
) -> SearchTrace:
    """Regularised evolution (Real et al., AAAI 2019) with every child trained at one ``tier`` (default: the top)."""
    tier = tier % len(oracle.tiers)
    rng = as_rng(seed)
    tracker = _Tracker(oracle)
    members: list[Member] = []
    while tracker.cost < budget:
        if len(members) < population:
            arch = space.sample(rng)
        else:
            arch = space.mutate(_tournament(members, tournament, rng).arch, rng)
        observed, cost = oracle.evaluate(arch, tier)
        tracker.record(arch, tier, observed, cost)
        members.append(Member(arch, tier, observed, len(tracker.trace.costs)))
        if len(members) > population:
            members.pop(0)
    return tracker.trace


def on_grid(trace: SearchTrace, grid: np.ndarray) -> np.ndarray:
    """The pick's true accuracy at each cost of ``grid`` (NaN before the first evaluation)."""
    costs = np.asarray(trace.costs)
    values = np.asarray(trace.true_accuracy)
    index = np.searchsorted(costs, grid, side="right") - 1
    out = np.full(len(grid), np.nan)
    ok = index >= 0
    out[ok] = values[index[ok]]
    return out
