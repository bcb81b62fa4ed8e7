"""NAS-Bench-201 (Dong & Yang, ICLR 2020): a 4-node cell with 6 edges, 5 ops per edge, 15625 cells.

Three equivalent names for a cell:
- the benchmark's arch string ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` (edges in that *string order*);
- the benchmark index 0..15624, computed without any file: enumerate all cells in the benchmark generator's
  order (node by node, earlier inputs varying slowest, ops ordered as :data:`OPS`), then shuffle with
  Python's ``random.seed(88)``, exactly as the benchmark produced its order;
- NASLib's tuple: op codes ``0 skip_connect, 1 none, 2 nor_conv_3x3, 3 nor_conv_1x1, 4 avg_pool_3x3`` on
  edges ordered (0->1, 0->2, 0->3, 1->2, 1->3, 2->3): string positions 2 and 3 swap.

The canonical key follows the benchmark's isomorphism convention (6466 classes over the 15625 cells).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from archrank.spaces.base import SearchSpace, TruthSource
from archrank.spaces.nb201_model import EDGES, NB201Network

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NASLIB_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
# NASLib's edge order (0->1, 0->2, 0->3, 1->2, 1->3, 2->3) as positions in the arch-string order.
NASLIB_TO_STR = (0, 1, 3, 2, 4, 5)
NUM_EDGES = len(EDGES)
SHUFFLE_SEED = 88
NB201_TABLE = ("nb201", "nb201_cifar10.csv")

_EDGE_RE = re.compile(r"^([A-Za-z0-9_]+)~(-?\d+)$")


@dataclass(frozen=True, order=True)
class NB201Arch:
    """One NB201 cell: the op on each of the 6 edges, in arch-string order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != NUM_EDGES:
            raise ValueError(f"NB201 cell needs {NUM_EDGES} edge ops, got {len(self.ops)}")
        bad = [op for op in self.ops if op not in OPS]
        if bad:
            raise ValueError(f"unknown NB201 op {bad[0]!r}; expected one of {', '.join(OPS)}")

    def __str__(self) -> str:
        nodes, pos = [], 0
        for dst in (1, 2, 3):
            nodes.append("|" + "|".join(f"{self.ops[pos + src]}~{src}" for src in range(dst)) + "|")
            pos += dst
        return "+".join(nodes)


def parse_arch_str(text: str) -> NB201Arch:
    """Parse a benchmark arch string; raise ``ValueError`` with one line naming the problem."""

    def fail(why: str) -> ValueError:
        return ValueError(f"malformed NB201 arch string {text!r}: {why}")

    if not isinstance(text, str):
        raise ValueError(f"NB201 arch string must be a str, got {type(text).__name__}")
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise fail(f"expected 3 nodes separated by '+', found {len(nodes)}")
    ops: list[str] = []
    for dst, node in enumerate(nodes, start=1):
        if len(node) < 2 or not (node.startswith("|") and node.endswith("|")):
            raise fail(f"node {dst} must be written '|op~i|...|'")
        edges = node[1:-1].split("|")
        if len(edges) != dst:
            raise fail(f"node {dst} needs {dst} incoming edge(s), found {len(edges)}")
        by_source: dict[int, str] = {}
        for edge in edges:
            match = _EDGE_RE.match(edge)
            if match is None:
                raise fail(f"edge {edge!r} of node {dst} is not 'op~input'")
            op, src = match.group(1), int(match.group(2))
            if op not in OPS:
                raise fail(f"unknown op {op!r} (expected one of {', '.join(OPS)})")
            if not 0 <= src < dst:
                raise fail(f"node {dst} cannot take input {src} (valid: 0..{dst - 1})")
            if src in by_source:
                raise fail(f"node {dst} lists input {src} twice")
            by_source[src] = op
        ops.extend(by_source[src] for src in range(dst))
    return NB201Arch(tuple(ops))


def canonical_key(arch: NB201Arch) -> str:
    """The benchmark's isomorphism key: equal exactly for cells the benchmark treats as identical.

    Input node is ``0``; each later node's string sorts one term per incoming edge (``#`` for a ``none`` op
    or a dead source, the source string for ``skip_connect``, ``(src)@op`` otherwise) and joins with ``+``.
    """
    strings = ["0"]
    pos = 0
    for dst in (1, 2, 3):
        terms = []
        for src in range(dst):
            op = arch.ops[pos + src]
            source = strings[src]
            if op == "none" or source == "#":
                terms.append("#")
            elif op == "skip_connect":
                terms.append(source)
            else:
                terms.append(f"({source})@{op}")
        pos += dst
        strings.append("+".join(sorted(terms)))
    return strings[3]


def output_reachable(arch: NB201Arch) -> bool:
    """True when some path of non-``none`` edges joins the input node to the output node."""
    alive = [True, False, False, False]
    for (dst, src), op in zip(EDGES, arch.ops, strict=True):
        if op != "none" and alive[src]:
            alive[dst] = True
    return alive[3]


class NB201Space(SearchSpace):
    """The NAS-Bench-201 topology space; ``len() == 15625``; benchmark index order is the native order."""

    name = "nb201"
    has_index = True
    has_naslib = True

    def __init__(self) -> None:
        self._by_index: list[NB201Arch] | None = None
        self._index_of: dict[NB201Arch, int] | None = None

    # decisions: one per edge (string order), options in OPS order
    def decisions(self) -> tuple[int, ...]:
        return (len(OPS),) * NUM_EDGES

    def from_decisions(self, choices: Sequence[int]) -> NB201Arch:
        if len(choices) != NUM_EDGES:
            raise ValueError(f"NB201 needs {NUM_EDGES} decisions, got {len(choices)}")
        return NB201Arch(tuple(OPS[int(c)] for c in choices))

    def to_decisions(self, arch: NB201Arch) -> tuple[int, ...]:
        return tuple(OPS.index(op) for op in arch.ops)

    # benchmark index
    def _table(self) -> tuple[list[NB201Arch], dict[NB201Arch, int]]:
        if self._by_index is None or self._index_of is None:
            generated = list(super().enumerate())  # generator order: product over edges, OPS order
            random.Random(SHUFFLE_SEED).shuffle(generated)
            self._by_index = generated
            self._index_of = {arch: i for i, arch in enumerate(generated)}
        return self._by_index, self._index_of

    def enumerate(self) -> Iterator[NB201Arch]:
        """All cells in benchmark index order."""
        return iter(self._table()[0])

    def from_index(self, index: int) -> NB201Arch:
        if not 0 <= int(index) < len(self):
            raise ValueError(f"NB201 index must be in 0..{len(self) - 1}, got {index}")
        return self._table()[0][int(index)]

    def index(self, arch: NB201Arch) -> int:
        return self._table()[1][self._check(arch)]

    # strings and tuples
    def to_str(self, arch: NB201Arch) -> str:
        return str(self._check(arch))

    def from_str(self, text: str) -> NB201Arch:
        return parse_arch_str(text)

    def to_naslib(self, arch: NB201Arch) -> tuple[int, ...]:
        ops = self._check(arch).ops
        return tuple(NASLIB_OPS.index(ops[NASLIB_TO_STR[i]]) for i in range(NUM_EDGES))

    def from_naslib(self, codes: Sequence[int]) -> NB201Arch:
        if len(codes) != NUM_EDGES or any(not 0 <= int(c) < len(NASLIB_OPS) for c in codes):
            raise ValueError(f"NASLib NB201 tuple needs 6 op codes in 0..4, got {tuple(codes)}")
        return NB201Arch(tuple(NASLIB_OPS[int(codes[NASLIB_TO_STR[i]])] for i in range(NUM_EDGES)))

    def canonical(self, arch: NB201Arch) -> str:
        return canonical_key(self._check(arch))

    def is_valid(self, arch: NB201Arch) -> bool:
        """Whether the output depends on the input (some path of non-``none`` edges)."""
        return output_reachable(self._check(arch))

    def build(self, arch: NB201Arch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """NB201 network; keyword options ``C`` (16), ``N`` (5), ``in_channels`` (3). Any input size works."""
        classes = self.num_classes if num_classes is None else num_classes
        return NB201Network(self._check(arch).ops, num_classes=classes, **kwargs)

    def describe(self, arch: NB201Arch) -> list[tuple[str, Any]]:
        return [*super().describe(arch), ("output reachable", self.is_valid(arch))]

    def truth_sources(self) -> tuple[TruthSource, ...]:
        return (TruthSource("nb201-csv", NB201_TABLE, "archrank.bench.truth_spaces:read_nb201_csv",
                            "cifar10_test_acc", "NAS-Bench-201 table (NATS-Bench 200-epoch training), "
                            "cifar10_test_acc", "CIFAR-10 test accuracy (%)"),)

    def parse(self, ref: str | int | Sequence[int] | NB201Arch) -> NB201Arch:
        """Accept an arch, an arch string, a benchmark index, or a NASLib tuple (e.g. ``"(0, 2, 3, 2, 3, 1)"``)."""
        if isinstance(ref, NB201Arch):
            return ref
        if isinstance(ref, int):
            return self.from_index(ref)
        if isinstance(ref, str):
            text = ref.strip()
            if text.lstrip("-").isdigit():
                return self.from_index(int(text))
            if text.startswith("("):
                if not text.endswith(")") or text.count("(") != 1 or text.count(")") != 1:
                    raise ValueError(f"malformed NASLib tuple {ref!r}: expected six codes like (0, 2, 3, 2, 3, 1)")
                try:
                    codes = [int(part) for part in text[1:-1].split(",") if part.strip()]
                except ValueError as exc:
                    raise ValueError(f"malformed NASLib tuple {ref!r}") from exc
                return self.from_naslib(codes)
            return self.from_str(text)
        return self.from_naslib(list(ref))

    @staticmethod
    def _check(arch: Any) -> NB201Arch:
        if not isinstance(arch, NB201Arch):
            raise TypeError(f"expected an NB201Arch, got {type(arch).__name__}: use space.parse() first")
        return arch
