"""The configuration space Discrete Proxy Search explores, as a :class:`~archrank.spaces.SearchSpace` (Li et al.,
arXiv 2210.09459, Sec. "Discrete Proxy Search"; choices as in the authors' public NB201 setting).

An "architecture" of this space is an Eproxy configuration, written as a tuple of categorical decisions: the
global genes (learning rate, α, number of branches, backbone and barrier initialisation), then for each of the
maximum number of branches one on/off flag per signal family and its head kernel, barrier kernel, head
channels, target channels and level. Branch ``i`` reads the deepest-but-``i`` stage (``stage = -(i + 1)``).
Genes of unused branches are kept, so that a later mutation adding a branch revives them; every branch, used or
not, has at least one signal family on (other decisions are invalid architectures of the space).

So DPS is archrank's one regularised evolution (:class:`~archrank.search.samplers.rea.RegularizedEvolution`)
run by :func:`archrank.search.run` on this space, with the paper's operators: :meth:`DPSSpace.sample` switches
each signal family on with probability ``signal_prob`` and :meth:`DPSSpace.mutate` resamples every gene (flips
every flag) independently with probability ``mutate_ratio``. :meth:`DPSSpace.config` turns an architecture into
the :class:`EproxyConfig` it stands for; :meth:`DPSSpace.arch_of` does the reverse (e.g. to start the search from
the default preset, whose initialisation ``default`` is therefore among the choices).

The dict form of an architecture (a *genotype*: ``{"lr": 1.2, "signals": [[True, False, ...], ...], ...}``) is
what DPS records with each step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

from torch import nn

from archrank.eproxy.config import INIT_SCHEMES, KERNEL_SIZES, SIGNAL_FAMILIES, BranchConfig, EproxyConfig
from archrank.spaces.base import Arch, InvalidArchitectureError, SearchSpace, as_rng

__all__ = ["SEARCHED_FIELDS", "DPSSpace", "Genotype"]

Genotype = dict[str, Any]
DPSArch = tuple[int, ...]

_GLOBAL_GENES = ("lr", "alpha", "branch_number", "init_backbone", "init_barrier")
_BRANCH_GENES = ("head_kernel", "barrier_kernel", "head_channels", "target_channels", "level")
SEARCHED_FIELDS = frozenset({"branches", "lr", "alpha", "init_backbone", "init_barrier"})
"""Config fields set by the genotype; every other field comes from ``DPSSpace.base``."""


def _grid(lo: float, hi: float, step: float) -> tuple[float, ...]:
    n = round((hi - lo) / step)
    return tuple(round(lo + i * step, 6) for i in range(n + 1))


@dataclass(frozen=True, eq=False)
class DPSSpace(SearchSpace):
    """Choices of every gene, the probability that a signal family is switched on in a random branch
    (``signal_prob``, 0.2 in the reference), the probability that a mutation resamples a gene
    (``mutate_ratio``, 0.2) and the ``base`` config supplying every field DPS does not search (steps, batch
    size, inputs, resize, target seed, ...)."""

    lrs: tuple[float, ...] = _grid(0.5, 1.5, 0.1)
    alphas: tuple[float, ...] = _grid(-0.5, 0.5, 0.1)
    branch_numbers: tuple[int, ...] = (1, 2, 3)
    head_kernels: tuple[int, ...] = KERNEL_SIZES
    barrier_kernels: tuple[int, ...] = KERNEL_SIZES
    channels: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    signals: tuple[str, ...] = SIGNAL_FAMILIES
    levels: tuple[float, ...] = (0.5, 1.0, 1.5, 2.0)
    inits: tuple[str, ...] = INIT_SCHEMES
    signal_prob: float = 0.2
    mutate_ratio: float = 0.2
    base: EproxyConfig = field(default_factory=EproxyConfig)

    name = "eproxy-dps"

    def __post_init__(self) -> None:
        for gene in ("lrs", "alphas", "branch_numbers", "head_kernels", "barrier_kernels", "channels", "signals",
                     "levels", "inits"):
            if not getattr(self, gene):
                raise ValueError(f"DPS space: {gene} needs at least one choice")
        if not 0.0 <= self.mutate_ratio <= 1.0:
            raise ValueError(f"DPS space: mutate_ratio must be in [0, 1], got {self.mutate_ratio}")

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
            "mutate_ratio": self.mutate_ratio,
            "base": {k: v for k, v in self.base.to_dict().items() if k not in SEARCHED_FIELDS},
        }

    # --- decisions --------------------------------------------------------------------------------------
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

    def _layout(self) -> list[tuple[str, int | None, int | None]]:
        """(gene, branch, signal index) of each decision, in order."""
        out: list[tuple[str, int | None, int | None]] = [(g, None, None) for g in _GLOBAL_GENES]
        for branch in range(self.max_branches):
            out += [("signals", branch, j) for j in range(len(self.signals))]
            out += [(g, branch, None) for g in _BRANCH_GENES]
        return out

    def decisions(self) -> tuple[int, ...]:
        return tuple(2 if gene == "signals" else len(self._choices(gene)) for gene, _, _ in self._layout())

    def from_decisions(self, choices: Any) -> DPSArch:
        arch = tuple(int(c) for c in choices)
        sizes = self.decisions()
        if len(arch) != len(sizes) or any(not 0 <= c < n for c, n in zip(arch, sizes, strict=True)):
            raise ValueError(f"a DPS configuration has {len(sizes)} decisions within {sizes}, got {arch}")
        width = len(self.signals) + len(_BRANCH_GENES)
        for branch in range(self.max_branches):
            start = len(_GLOBAL_GENES) + branch * width
            if not any(arch[start:start + len(self.signals)]):
                raise InvalidArchitectureError(f"branch {branch} of a DPS configuration needs a signal family")
        return arch

    def to_decisions(self, arch: Arch) -> tuple[int, ...]:
        return tuple(arch)  # type: ignore[arg-type]

    def to_str(self, arch: Arch) -> str:
        return "dps:" + ".".join(str(c) for c in arch)  # type: ignore[attr-defined]

    def from_str(self, text: str) -> DPSArch:
        body = text.removeprefix("dps:")
        try:
            return self.from_decisions([int(p) for p in body.split(".")])
        except ValueError as exc:
            raise ValueError(f"malformed DPS configuration {text!r}: {exc}") from None

    def parse(self, ref: Any) -> DPSArch:
        if isinstance(ref, str):
            return self.from_str(ref)
        if isinstance(ref, dict):
            return self.from_genotype(ref)
        if isinstance(ref, EproxyConfig):
            return self.arch_of(ref)
        return self.from_decisions(ref)

    def canonical(self, arch: Arch) -> str:
        """The Eproxy config's key: architectures differing only in unused branches' genes are the same."""
        return self.config(arch).key

    def build(self, arch: Arch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        raise TypeError("a DPS configuration is an Eproxy setting, not a network: use DPSSpace.config(arch)")

    # --- genotypes and configs ---------------------------------------------------------------------------
    def genotype(self, arch: Arch) -> Genotype:
        """The JSON-ready dict form of ``arch``."""
        genes: Genotype = {"signals": [[False] * len(self.signals) for _ in range(self.max_branches)]}
        for gene in _BRANCH_GENES:
            genes[gene] = [None] * self.max_branches
        for (gene, branch, j), c in zip(self._layout(), arch, strict=True):  # type: ignore[call-overload]
            if gene == "signals":
                genes["signals"][branch][j] = bool(c)
            elif branch is None:
                genes[gene] = self._choices(gene)[c]
            else:
                genes[gene][branch] = self._choices(gene)[c]
        return genes

    def from_genotype(self, genotype: Genotype) -> DPSArch:
        """The architecture of a genotype; ``ValueError`` naming a value that is not among the choices."""
        out = []
        for gene, branch, j in self._layout():
            if gene == "signals":
                out.append(int(bool(genotype["signals"][branch][j])))
                continue
            value = genotype[gene] if branch is None else genotype[gene][branch]
            try:
                out.append(self._choices(gene).index(value))
            except ValueError:
                raise ValueError(f"DPS space: {gene} = {value!r} is not among {self._choices(gene)}") from None
        return self.from_decisions(out)

    def config(self, arch: Arch | Genotype) -> EproxyConfig:
        """The :class:`EproxyConfig` an architecture (or genotype) stands for (unused branches' genes ignored)."""
        genotype = arch if isinstance(arch, dict) else self.genotype(arch)
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

    def arch_of(self, config: EproxyConfig) -> DPSArch:
        """The architecture standing for ``config`` (unused branches copy the last used one); ``ValueError`` when
        ``config`` lies outside the space (a value not among the choices, another base, a branch not reading
        the deepest-but-i stage)."""
        fixed = {k: v for k, v in config.to_dict().items() if k not in SEARCHED_FIELDS}
        base = {k: v for k, v in self.base.to_dict().items() if k not in SEARCHED_FIELDS}
        if fixed != base:
            differ = sorted(k for k in fixed if fixed[k] != base.get(k))
            raise ValueError(f"config differs from the DPS space's base in {', '.join(differ)}")
        if any(b.stage != -(i + 1) for i, b in enumerate(config.branches)):
            raise ValueError("DPS branches read the deepest-but-i stage: branch i must have stage -(i + 1)")
        used = list(config.branches)
        padded = used + [used[-1]] * (self.max_branches - len(used))
        genotype: Genotype = {
            "lr": config.lr, "alpha": config.alpha, "branch_number": len(used),
            "init_backbone": config.init_backbone, "init_barrier": config.init_barrier,
            "signals": [[s in b.signals for s in self.signals] for b in padded],
        }
        for gene in _BRANCH_GENES:
            genotype[gene] = [getattr(b, gene) for b in padded]
        return self.from_genotype(genotype)

    # --- the paper's operators ---------------------------------------------------------------------------
    def _flags(self, rng: random.Random) -> list[int]:
        flags = [int(rng.random() < self.signal_prob) for _ in self.signals]
        if not any(flags):  # a branch needs a target: switch one family on
            flags[rng.randrange(len(flags))] = 1
        return flags

    def sample(self, seed: int | random.Random | None = None) -> DPSArch:
        """A random configuration: uniform genes, each signal family on with probability ``signal_prob``."""
        rng = as_rng(seed)
        out = [rng.randrange(len(self._choices(g))) for g in _GLOBAL_GENES]
        for _ in range(self.max_branches):
            out += self._flags(rng)
            out += [rng.randrange(len(self._choices(g))) for g in _BRANCH_GENES]
        return self.from_decisions(out)

    def mutate(self, arch: Arch, seed: int | random.Random | None = None) -> DPSArch:
        """Resample every gene (flip every signal flag) independently with probability ``mutate_ratio``; a
        branch left without a signal family gets a random one switched on."""
        rng = as_rng(seed)
        out = list(arch)  # type: ignore[call-overload]
        layout = self._layout()
        for i, (gene, _, _) in enumerate(layout):
            if rng.random() < self.mutate_ratio:
                out[i] = 1 - out[i] if gene == "signals" else rng.randrange(len(self._choices(gene)))
        width = len(self.signals) + len(_BRANCH_GENES)
        for branch in range(self.max_branches):
            start = len(_GLOBAL_GENES) + branch * width
            if not any(out[start:start + len(self.signals)]):
                out[start + rng.randrange(len(self.signals))] = 1
        return self.from_decisions(out)

    def random_genotype(self, rng: random.Random) -> Genotype:
        """A random configuration in dict form (see :meth:`sample`)."""
        return self.genotype(self.sample(rng))

    @property
    def size(self) -> int:
        valid_flags = 2 ** len(self.signals) - 1
        total = 1
        for gene, _, _ in self._layout():
            if gene != "signals":
                total *= len(self._choices(gene))
        return total * valid_flags**self.max_branches

    def __repr__(self) -> str:
        return f"DPSSpace({len(self.decisions())} decisions, base {self.base.key})"


