"""NAS-Bench-301 (Siems et al., 2020): the DARTS cell space, normal + reduction cell, at NB301's training setup.

A cell has 4 nodes; node ``k`` sums two ops applied to two *different* earlier states (``0``: the output of the
cell before last, ``1``: the previous cell's, ``2 + j``: node ``j``). Ops are NASLib's compact order
:data:`~archrank.spaces.darts_model.DARTS_OPS` (``0 max_pool_3x3 … 6 dil_conv_5x5``); the DARTS search-time
``none`` op never appears in a genotype, so keys cannot hold it. Names of an architecture:
- the Suite-Zero / NASLib compact key ``"[[(0, 0), (1, 5), …], […]]"``: per cell, 8 ``(input, op)`` pairs in
  node order (also :meth:`NB301Space.to_str`);
- a DARTS ``Genotype(normal=[('sep_conv_3x3', 0), …], normal_concat=…, reduce=[…], reduce_concat=…)`` string.

:meth:`NB301Space.canonical` sorts the two pairs of every node (their order does not change the network).
Ground truth: NB301's accuracies are the **NB301 surrogate model's predictions**, not trainings, and every
report that uses them says so.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from archrank.spaces.base import InvalidArchitectureError, SearchSpace, TruthSource
from archrank.spaces.darts_model import DARTS_OPS, NODES, DartsNetwork

PAIRS = 2 * NODES
SUITE_ZERO_FILE = ("nb301", "suite_zero_nb301_cifar10.json")
_GENOTYPE_PAIR = re.compile(r"\(\s*'([a-z0-9_]+)'\s*,\s*(\d+)\s*\)")

CellCode = tuple[tuple[int, int], ...]


def _check_cell(cell: Any, which: str) -> CellCode:
    try:
        pairs = tuple((int(src), int(op)) for src, op in cell)
    except (TypeError, ValueError):
        raise ValueError(f"NB301 {which} cell must be {PAIRS} (input, op) pairs, got {cell!r}") from None
    if len(pairs) != PAIRS:
        raise ValueError(f"NB301 {which} cell needs {PAIRS} (input, op) pairs, got {len(pairs)}")
    for i, (src, op) in enumerate(pairs):
        node = i // 2
        if not 0 <= src < node + 2:
            raise ValueError(f"NB301 {which} cell: node {node} cannot take input {src} (valid: 0..{node + 1})")
        if not 0 <= op < len(DARTS_OPS):
            raise ValueError(f"NB301 {which} cell: op index {op} is not in 0..{len(DARTS_OPS) - 1}")
    for node in range(NODES):
        if pairs[2 * node][0] == pairs[2 * node + 1][0]:
            raise InvalidArchitectureError(
                f"invalid NB301 {which} cell: node {node} takes input {pairs[2 * node][0]} twice")
    return pairs


@dataclass(frozen=True, order=True)
class NB301Arch:
    """A DARTS genotype in NASLib's compact form: ``normal`` and ``reduce``, 8 (input, op index) pairs each."""

    normal: CellCode
    reduce: CellCode

    def __post_init__(self) -> None:
        object.__setattr__(self, "normal", _check_cell(self.normal, "normal"))
        object.__setattr__(self, "reduce", _check_cell(self.reduce, "reduce"))

    def genotype(self) -> str:
        """The DARTS ``Genotype(...)`` string."""

        def cell(code: CellCode) -> str:
            return "[" + ", ".join(f"('{DARTS_OPS[op]}', {src})" for src, op in code) + "]"

        concat = list(range(2, 2 + NODES))
        return (f"Genotype(normal={cell(self.normal)}, normal_concat={concat}, "
                f"reduce={cell(self.reduce)}, reduce_concat={concat})")


def parse_genotype(text: str) -> NB301Arch:
    """A DARTS ``Genotype(normal=[('op', input), …], …, reduce=[…], …)`` string."""
    cells = []
    for name in ("normal", "reduce"):
        match = re.search(rf"\b{name}\s*=\s*\[([^\]]*)\]", text)
        if match is None:
            raise ValueError(f"malformed DARTS genotype: no '{name}=[...]' list in {text!r}")
        pairs = []
        for op, src in _GENOTYPE_PAIR.findall(match.group(1)):
            if op not in DARTS_OPS:
                raise ValueError(f"DARTS genotype op {op!r} is not an NB301 op ({', '.join(DARTS_OPS)})")
            pairs.append((int(src), DARTS_OPS.index(op)))
        cells.append(pairs)
    return NB301Arch(tuple(cells[0]), tuple(cells[1]))


def parse_compact(text: str) -> NB301Arch:
    """The compact key ``"[[(0, 0), (1, 5), …], […]]"`` (read with ``ast.literal_eval``: no code runs)."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        raise ValueError(f"malformed NB301 key {text!r}: expected '[[(input, op), ...], [(input, op), ...]]'") from None
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"malformed NB301 key {text!r}: expected a normal and a reduce cell")
    return NB301Arch(tuple(value[0]), tuple(value[1]))


class NB301Space(SearchSpace):
    """The NB301 (DARTS) space; the model is NB301's 8-cell, C=32 CIFAR-10 network (see ``darts_model``)."""

    name = "nb301"
    has_naslib = True

    # decisions: per cell, per node, per slot: the input (node + 2 options), then the op (7)
    def decisions(self) -> tuple[int, ...]:
        per_cell = []
        for node in range(NODES):
            per_cell += [node + 2, len(DARTS_OPS)] * 2
        return tuple(per_cell) * 2

    def from_decisions(self, choices: Sequence[int]) -> NB301Arch:
        if len(choices) != 4 * PAIRS:
            raise ValueError(f"NB301 needs {4 * PAIRS} decisions, got {len(choices)}")
        values = [int(c) for c in choices]
        pairs = [(values[i], values[i + 1]) for i in range(0, len(values), 2)]
        return NB301Arch(tuple(pairs[:PAIRS]), tuple(pairs[PAIRS:]))

    def to_decisions(self, arch: NB301Arch) -> tuple[int, ...]:
        arch = self._check(arch)
        return tuple(v for pair in (*arch.normal, *arch.reduce) for v in pair)

    @property
    def size(self) -> int:
        """Distinct networks: per node an unordered pair of different inputs with an op each, for both cells
        (≈ 1.08e18; ordered pairs would overflow ``len()``)."""
        per_cell = 1
        for node in range(NODES):
            inputs = node + 2
            per_cell *= inputs * (inputs - 1) // 2 * len(DARTS_OPS) ** 2
        return per_cell**2

    def enumerate(self) -> Any:
        raise ValueError("NB301 cannot be enumerated (about 1e18 genotypes): use --sample or a file of keys")

    def to_str(self, arch: NB301Arch) -> str:
        arch = self._check(arch)
        return str([list(arch.normal), list(arch.reduce)])

    def from_str(self, text: str) -> NB301Arch:
        if not isinstance(text, str):
            raise ValueError(f"NB301 key must be a str, got {type(text).__name__}")
        return parse_genotype(text) if "Genotype" in text else parse_compact(text)

    def parse(self, ref: Any) -> NB301Arch:
        """A compact key or DARTS genotype string, an :class:`NB301Arch`, or a (normal, reduce) pair of lists."""
        if isinstance(ref, NB301Arch):
            return ref
        if isinstance(ref, str):
            return self.from_str(ref)
        return self.from_naslib(ref)

    def to_naslib(self, arch: NB301Arch) -> tuple[CellCode, CellCode]:
        arch = self._check(arch)
        return (arch.normal, arch.reduce)

    def from_naslib(self, code: Any) -> NB301Arch:
        if not isinstance(code, Sequence) or len(code) != 2:
            raise ValueError("NASLib's NB301 compact code is (normal cell, reduce cell)")
        return NB301Arch(tuple(code[0]), tuple(code[1]))

    def canonical(self, arch: NB301Arch) -> str:
        """The two pairs of every node sorted: equal for genotypes that only list a node's inputs in another order."""
        arch = self._check(arch)

        def cell(code: CellCode) -> list[tuple[int, int]]:
            return [pair for node in range(NODES) for pair in sorted(code[2 * node:2 * node + 2])]

        return str([cell(arch.normal), cell(arch.reduce)])

    def describe(self, arch: NB301Arch) -> list[tuple[str, Any]]:
        return [*super().describe(arch), ("genotype", self._check(arch).genotype())]

    def build(self, arch: NB301Arch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """NB301's network (C=32, 8 cells); keyword options ``C``, ``in_channels``."""
        arch = self._check(arch)
        classes = self.num_classes if num_classes is None else num_classes
        return DartsNetwork(arch.normal, arch.reduce, num_classes=classes, **kwargs)

    def truth_sources(self) -> tuple[TruthSource, ...]:
        return (TruthSource(
            "suite-zero", SUITE_ZERO_FILE, "archrank.bench.truth_spaces:read_suite_zero", "val_accuracy",
            "NAS-Bench-Suite-Zero NB301 subset (725 cells): CIFAR-10 validation accuracy PREDICTED BY THE NB301 "
            "SURROGATE MODEL, not measured by training", "CIFAR-10 val. accuracy, NB301 surrogate (%)",
            (("dataset", "cifar10"),)),)

    @staticmethod
    def _check(arch: Any) -> NB301Arch:
        if not isinstance(arch, NB301Arch):
            raise TypeError(f"expected an NB301Arch, got {type(arch).__name__}: use space.parse() first")
        return arch
