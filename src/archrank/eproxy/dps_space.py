"""The configuration space Discrete Proxy Search explores (Li et al., arXiv 2210.09459, Sec. "Discrete Proxy
Search"; choices as in the authors' public NB201 setting).

A *genotype* is a JSON-ready dict with one value per global gene (learning rate, α, number of branches, backbone
and barrier initialisation) and a list per branch gene for the maximum number of branches (signal-family flags,
head and barrier kernel, head and target channels, level); branch ``i`` reads the deepest-but-``i`` stage
(``stage = -(i + 1)``). Genes of unused branches are kept, so that a later mutation adding a branch revives them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from archrank.eproxy.config import INIT_SCHEMES, KERNEL_SIZES, SIGNAL_FAMILIES, BranchConfig, EproxyConfig

__all__ = ["SEARCHED_FIELDS", "DPSSpace", "Genotype"]

Genotype = dict[str, Any]

_BRANCH_GENES = ("head_kernel", "barrier_kernel", "head_channels", "target_channels", "level")
SEARCHED_FIELDS = frozenset({"branches", "lr", "alpha", "init_backbone", "init_barrier"})
"""Config fields set by the genotype; every other field comes from ``DPSSpace.base``."""


def _grid(lo: float, hi: float, step: float) -> tuple[float, ...]:
    n = round((hi - lo) / step)
    return tuple(round(lo + i * step, 6) for i in range(n + 1))


@dataclass(frozen=True)
class DPSSpace:
    """Choices of every gene, the probability that a signal family is switched on in a random branch
    (``signal_prob``, 0.2 in the reference) and the ``base`` config supplying every field DPS does not search
    (steps, batch size, inputs, resize, target seed, ...)."""

    lrs: tuple[float, ...] = _grid(0.5, 1.5, 0.1)
    alphas: tuple[float, ...] = _grid(-0.5, 0.5, 0.1)
    branch_numbers: tuple[int, ...] = (1, 2, 3)
    head_kernels: tuple[int, ...] = KERNEL_SIZES
    barrier_kernels: tuple[int, ...] = KERNEL_SIZES
    channels: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    signals: tuple[str, ...] = SIGNAL_FAMILIES
    levels: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    inits: tuple[str, ...] = INIT_SCHEMES[1:]
    signal_prob: float = 0.2
    base: EproxyConfig = field(default_factory=EproxyConfig)

    def __post_init__(self) -> None:
        for name in ("lrs", "alphas", "branch_numbers", "head_kernels", "barrier_kernels", "channels", "signals"):
            if not getattr(self, name):
                raise ValueError(f"DPS space: {name} needs at least one choice")
        if not self.levels or not self.inits:
            raise ValueError("DPS space: levels and inits need at least one choice")

    @property
    def max_branches(self) -> int:
        return max(self.branch_numbers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready description (recorded with each DPS run)."""
        return {
            "lrs": list(self.lrs),
            "alphas": list(self.alphas),
            "branch_numbers": list(self.branch_numbers),
            "head_kernels": list(self.head_kernels),
            "barrier_kernels": list(self.barrier_kernels),
            "channels": list(self.channels),
            "signals": list(self.signals),
            "levels": list(self.levels),
            "inits": list(self.inits),
            "signal_prob": self.signal_prob,
            "base": {k: v for k, v in self.base.to_dict().items() if k not in SEARCHED_FIELDS},
        }

    # --- genotypes ------------------------------------------------------------------------------------
    def _choices(self, gene: str) -> tuple[Any, ...]:
        return {
            "lr": self.lrs,
            "alpha": self.alphas,
            "branch_number": self.branch_numbers,
            "init_backbone": self.inits,
            "init_barrier": self.inits,
            "head_kernel": self.head_kernels,
            "barrier_kernel": self.barrier_kernels,
            "head_channels": self.channels,
            "target_channels": self.channels,
            "level": self.levels,
        }[gene]

    def _flags(self, rng: random.Random) -> list[bool]:
        flags = [rng.random() < self.signal_prob for _ in self.signals]
        if not any(flags):  # a branch needs a target: switch one family on
            flags[rng.randrange(len(flags))] = True
        return flags

    def random_genotype(self, rng: random.Random) -> Genotype:
        """A uniformly random genotype (signal flags on with probability ``signal_prob``, at least one each)."""
        genes: Genotype = {g: rng.choice(self._choices(g)) for g in ("lr", "alpha", "branch_number")}
        genes["init_backbone"] = rng.choice(self.inits)
        genes["init_barrier"] = rng.choice(self.inits)
        genes["signals"] = [self._flags(rng) for _ in range(self.max_branches)]
        for gene in _BRANCH_GENES:
            genes[gene] = [rng.choice(self._choices(gene)) for _ in range(self.max_branches)]
        return genes

    def mutate(self, genotype: Genotype, rng: random.Random, ratio: float = 0.2) -> Genotype:
        """Resample every gene (and flip every signal flag) independently with probability ``ratio``."""
        new: Genotype = {
            k: (list(map(list, v)) if k == "signals" else list(v) if isinstance(v, list) else v)
            for k, v in genotype.items()
        }
        for gene in ("lr", "alpha", "init_backbone", "init_barrier", "branch_number"):
            if rng.random() < ratio:
                new[gene] = rng.choice(self._choices(gene))
        for flags in new["signals"]:
            for j in range(len(flags)):
                if rng.random() < ratio:
                    flags[j] = not flags[j]
            if not any(flags):
                flags[rng.randrange(len(flags))] = True
        for gene in _BRANCH_GENES:
            for i in range(self.max_branches):
                if rng.random() < ratio:
                    new[gene][i] = rng.choice(self._choices(gene))
        return new

    def decode(self, genotype: Genotype) -> EproxyConfig:
        """The :class:`EproxyConfig` a genotype stands for (unused branches' genes are ignored)."""
        branches = tuple(
            BranchConfig(
                stage=-(i + 1),
                signals=tuple(s for s, on in zip(self.signals, genotype["signals"][i], strict=True) if on),
                head_kernel=int(genotype["head_kernel"][i]),
                barrier_kernel=int(genotype["barrier_kernel"][i]),
                head_channels=int(genotype["head_channels"][i]),
                target_channels=int(genotype["target_channels"][i]),
                level=float(genotype["level"][i]),
            )
            for i in range(int(genotype["branch_number"]))
        )
        return replace(
            self.base,
            branches=branches,
            lr=float(genotype["lr"]),
            alpha=float(genotype["alpha"]),
            init_backbone=str(genotype["init_backbone"]),
            init_barrier=str(genotype["init_barrier"]),
        )
