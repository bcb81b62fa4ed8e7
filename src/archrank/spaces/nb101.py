"""NAS-Bench-101 (Ying et al., ICML 2019): 423,624 unique cells of at most 7 vertices and 9 edges.

Names of a cell (all parsed by :meth:`NB101Space.parse`):
- the Suite-Zero / NASLib key ``"(0, 1, 1, …, 2, 4, 1)"``: 49 adjacency bits (7×7, row-major) then 7 op codes
  (``0 input, 1 output, 2 maxpool3x3, 3 conv1x1-bn-relu, 4 conv3x3-bn-relu``) — also :meth:`to_str`, with
  unused vertices padded in before the output exactly as the benchmark files do;
- a spec ``{"matrix": [[…]], "ops": ["input", "conv3x3-bn-relu", …, "output"]}`` (dict or JSON text), any
  size up to 7 vertices;
- :meth:`canonical` gives the benchmark's own graph hash of the pruned cell, equal for isomorphic cells: the
  key of the original benchmark's records, so records from any NB101 file match whatever vertex order they
  were written in (join on ``space.canonical(arch)``; ``archrank describe`` falls back to it).

An architecture keeps the spec as written (padded to 7 vertices), so a benchmark key prints back unchanged;
the network and the hash use the pruned cell (:attr:`NB101Arch.pruned`), and sampling and mutation return
pruned cells.

Specs the benchmark calls invalid (input not connected to output, more than 9 edges or 7 vertices) are
rejected with one line (:class:`~archrank.spaces.base.InvalidArchitectureError`). Search works on the
*decisions* 21 upper-triangular edge bits + 5 interior ops of the padded 7-vertex form: a random draw or a
single edit that forms an invalid cell is redrawn / skipped, and every result is pruned, as NASLib samples.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn

from archrank.spaces.base import InvalidArchitectureError, SearchSpace, TruthSource
from archrank.spaces.nb101_model import NB101Network
from archrank.spaces.nb101_spec import (
    INPUT,
    INTERIOR_OPS,
    MAX_EDGES,
    MAX_VERTICES,
    NASLIB_OPS,
    OUTPUT,
    NB101Arch,
    graph_hash,
    make_spec,
)

#: Unique valid cells in the benchmark (its own count).
NB101_SIZE = 423_624
EDGE_SLOTS: tuple[tuple[int, int], ...] = tuple((i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES))
SUITE_ZERO_FILE = ("nb101", "suite_zero_nb101_cifar10.json")
KEY_LENGTH = MAX_VERTICES * MAX_VERTICES + MAX_VERTICES


def parse_key(text: str) -> NB101Arch:
    """A Suite-Zero / NASLib key string (49 bits + 7 op codes) as a pruned, validated cell."""
    body = text.strip()
    if not (body.startswith("(") and body.endswith(")")):
        raise ValueError(f"malformed NB101 key {text!r}: expected '(b0, …, b48, op0, …, op6)'")
    try:
        codes = [int(part) for part in body[1:-1].split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"malformed NB101 key {text!r}: entries must be integers") from None
    return from_codes(codes)


def from_codes(codes: Sequence[int]) -> NB101Arch:
    """NASLib's tuple: n*n adjacency bits then n op codes (n = 7 in the benchmark files)."""
    values = [int(c) for c in codes]
    n = next((k for k in range(2, MAX_VERTICES + 1) if k * k + k == len(values)), None)
    if n is None:
        raise ValueError(f"NB101 code needs n*n + n entries for n <= {MAX_VERTICES} (56 for 7 vertices), "
                         f"got {len(values)}")
    matrix = [values[i * n:(i + 1) * n] for i in range(n)]
    bad = [c for c in values[n * n:] if not 0 <= c < len(NASLIB_OPS)]
    if bad:
        raise ValueError(f"NB101 op code {bad[0]} is not in 0..{len(NASLIB_OPS) - 1}")
    return make_spec(matrix, [NASLIB_OPS[c] for c in values[n * n:]])


def to_codes(spec: NB101Arch) -> tuple[int, ...]:
    """NASLib's tuple of the 7-vertex form (the Suite-Zero key)."""
    matrix, ops = spec.matrix, spec.ops
    return (*(bit for row in matrix for bit in row), *(NASLIB_OPS.index(op) for op in ops))


def from_spec(spec: Mapping[str, Any]) -> NB101Arch:
    """A ``{"matrix": …, "ops": …}`` spec with the benchmark's op names."""
    if "matrix" not in spec or "ops" not in spec:
        raise ValueError("NB101 spec needs the keys 'matrix' and 'ops'")
    return make_spec(np.asarray(spec["matrix"]).tolist(), list(spec["ops"]))


class NB101Space(SearchSpace):
    """The NAS-Bench-101 cell space at the benchmark's own network (C=128, 3×3 cells, CIFAR-10)."""

    name = "nb101"
    has_naslib = True

    # decisions: 21 edge bits of the padded form, then the op of each of the 5 interior vertices
    def decisions(self) -> tuple[int, ...]:
        return (2,) * len(EDGE_SLOTS) + (len(INTERIOR_OPS),) * (MAX_VERTICES - 2)

    def from_decisions(self, choices: Sequence[int]) -> NB101Arch:
        if len(choices) != len(self.decisions()):
            raise ValueError(f"NB101 needs {len(self.decisions())} decisions, got {len(choices)}")
        matrix = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
        for (i, j), bit in zip(EDGE_SLOTS, choices, strict=False):
            matrix[i][j] = int(bit)
        interior = [INTERIOR_OPS[int(c)] for c in choices[len(EDGE_SLOTS):]]
        return make_spec(matrix, [INPUT, *interior, OUTPUT], pruned=True)

    def to_decisions(self, arch: NB101Arch) -> tuple[int, ...]:
        matrix, ops = self._check(arch).matrix, arch.ops
        return (*(matrix[i][j] for i, j in EDGE_SLOTS), *(INTERIOR_OPS.index(op) for op in ops[1:-1]))

    @property
    def size(self) -> int:
        return NB101_SIZE

    def enumerate(self) -> Any:
        raise ValueError("NB101 cannot be enumerated here (423,624 cells, listed only by the benchmark file): "
                         "use --sample or a file of keys")

    def neighbours(self, arch: NB101Arch) -> list[NB101Arch]:
        """Valid cells one edge flip or op change away; for a cell with none (the bare input->output cell, whose
        every single edit is pruned away or disconnects it), those two edits away."""
        near = super().neighbours(arch)
        if near:
            return near
        base, sizes = self.to_decisions(arch), self.decisions()
        seen, out = {arch}, []
        for first in range(len(sizes)):
            for second in range(first + 1, len(sizes)):
                for a in range(sizes[first]):
                    for b in range(sizes[second]):
                        if a == base[first] or b == base[second]:
                            continue
                        changed = list(base)
                        changed[first], changed[second] = a, b
                        candidate = self.decode(changed)
                        if candidate is not None and candidate not in seen:
                            seen.add(candidate)
                            out.append(candidate)
        return out

    def encode(self, arch: NB101Arch) -> np.ndarray:
        """NASLib's adjacency one-hot code: 21 edge bits, then a one-hot op (3) per interior vertex."""
        matrix, ops = self._check(arch).matrix, arch.ops
        bits = np.array([matrix[i][j] for i, j in EDGE_SLOTS], dtype=np.float32)
        one_hot = np.zeros((MAX_VERTICES - 2, len(INTERIOR_OPS)), dtype=np.float32)
        for v, op in enumerate(ops[1:-1]):
            one_hot[v, INTERIOR_OPS.index(op)] = 1.0
        return np.concatenate([bits, one_hot.ravel()])

    # names
    def to_str(self, arch: NB101Arch) -> str:
        return "(" + ", ".join(map(str, to_codes(self._check(arch)))) + ")"

    def from_str(self, text: str) -> NB101Arch:
        if not isinstance(text, str):
            raise ValueError(f"NB101 key must be a str, got {type(text).__name__}")
        if text.strip().startswith("{"):
            try:
                return from_spec(json.loads(text))
            except json.JSONDecodeError as exc:
                raise ValueError(f"malformed NB101 spec JSON: {exc}") from None
        return parse_key(text)

    def parse(self, ref: Any) -> NB101Arch:
        """A cell from a key string, a ``{"matrix", "ops"}`` spec (dict or JSON), or a NASLib tuple."""
        if isinstance(ref, NB101Arch):
            return ref
        if isinstance(ref, str):
            return self.from_str(ref)
        if isinstance(ref, Mapping):
            return from_spec(ref)
        if isinstance(ref, Sequence):
            return from_codes(ref)
        raise ValueError(f"cannot read an NB101 cell from {type(ref).__name__}")

    def to_naslib(self, arch: NB101Arch) -> tuple[int, ...]:
        return to_codes(self._check(arch))

    def from_naslib(self, code: Sequence[int]) -> NB101Arch:
        return from_codes(code)

    def canonical(self, arch: NB101Arch) -> str:
        """The benchmark's graph hash of the pruned cell (its record key): equal exactly for isomorphic cells."""
        return graph_hash(self._check(arch).pruned)

    def pruned_spec(self, arch: NB101Arch) -> dict[str, Any]:
        """The pruned cell as the benchmark's ``{"matrix", "ops"}`` spec (what it builds and hashes)."""
        spec = self._check(arch).pruned
        return {"matrix": [list(r) for r in spec.matrix], "ops": list(spec.ops)}

    def describe(self, arch: NB101Arch) -> list[tuple[str, Any]]:
        pruned = self.pruned_spec(arch)
        rows = super().describe(arch)
        rows.append(("pruned matrix", pruned["matrix"]))
        rows.append(("pruned ops", pruned["ops"]))
        limits = f"(max {MAX_VERTICES} / {MAX_EDGES})"
        rows.append(("vertices / edges", f"{len(pruned['ops'])} / {arch.pruned.num_edges} {limits}"))
        return rows

    def build(self, arch: NB101Arch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """NB101 network; keyword options ``stem_channels`` (128), ``num_stacks`` (3), ``cells_per_stack`` (3),
        ``in_channels`` (3)."""
        classes = self.num_classes if num_classes is None else num_classes
        return NB101Network(self._check(arch).pruned, num_classes=classes, **kwargs)

    def truth_sources(self) -> tuple[TruthSource, ...]:
        return (TruthSource(
            "suite-zero", SUITE_ZERO_FILE, "archrank.bench.truth_spaces:read_suite_zero", "val_accuracy",
            "NAS-Bench-Suite-Zero NB101 subset (500 cells): NB101 CIFAR-10 validation accuracy at 108 epochs, "
            "one of three seeds", "CIFAR-10 validation accuracy (%)", (("dataset", "cifar10"),)),)

    @staticmethod
    def _check(arch: Any) -> NB101Arch:
        if not isinstance(arch, NB101Arch):
            raise TypeError(f"expected an NB101Arch, got {type(arch).__name__}: use space.parse() first")
        return arch


__all__ = ["InvalidArchitectureError", "NB101Arch", "NB101Space", "graph_hash", "make_spec"]
