"""NAS-Bench-101 cell specifications (Ying et al., ICML 2019): validation, pruning and the graph hash.

A cell is a DAG of at most 7 vertices given by an upper-triangular adjacency matrix and one op per vertex
(``input`` first, ``output`` last, ``conv3x3-bn-relu``, ``conv1x1-bn-relu`` or ``maxpool3x3`` inside). As in the
benchmark, a spec is first *pruned* (vertices not on an input-to-output path are removed) and then checked:
the input must reach the output, and at most 7 vertices and 9 edges may remain. The benchmark identifies a
cell by an isomorphism-invariant hash of the pruned spec (:func:`graph_hash`), so equal cells written with
their vertices in another order share one key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from archrank.spaces.base import InvalidArchitectureError

INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL3X3 = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
#: Interior ops in the benchmark's own order (their position is the label the graph hash uses).
INTERIOR_OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)
#: NASLib / Suite-Zero op codes: position = code.
NASLIB_OPS: tuple[str, ...] = (INPUT, OUTPUT, MAXPOOL3X3, CONV1X1, CONV3X3)
MAX_VERTICES = 7
MAX_EDGES = 9

Matrix = tuple[tuple[int, ...], ...]


@dataclass(frozen=True, order=True)
class CellSpec:
    """A cell graph: adjacency ``matrix`` (n×n, strictly upper triangular) and ``ops`` (n names)."""

    matrix: Matrix
    ops: tuple[str, ...]

    @property
    def num_vertices(self) -> int:
        return len(self.ops)

    @property
    def num_edges(self) -> int:
        return sum(map(sum, self.matrix))

    def edge(self, src: int, dst: int) -> bool:
        return bool(self.matrix[src][dst])


@dataclass(frozen=True, order=True)
class NB101Arch(CellSpec):
    """A valid NB101 cell as the benchmark files write it: always 7 vertices (a smaller spec is padded with
    unused ``conv3x3-bn-relu`` vertices before the output, as NASLib does), not necessarily pruned.

    Build one with :func:`make_spec` (validates); :attr:`pruned` is the cell the benchmark builds and hashes.
    Sampling and mutation produce pruned cells (padded to 7 vertices).
    """

    @cached_property
    def pruned(self) -> CellSpec:
        pruned = prune(self.matrix, self.ops)
        assert pruned is not None  # make_spec admits only cells whose input reaches the output
        return pruned


def _fail(why: str) -> InvalidArchitectureError:
    return InvalidArchitectureError(f"invalid NB101 spec: {why}")


def _check_raw(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> tuple[list[list[int]], list[str]]:
    """Shape, values, triangularity and op names of an unpruned spec; returns plain lists."""
    n = len(ops)
    rows = [list(row) for row in matrix]
    if n < 2:
        raise _fail(f"needs at least the input and output vertices, got {n} op(s)")
    if n > MAX_VERTICES:
        raise _fail(f"{n} vertices (the benchmark allows at most {MAX_VERTICES})")
    if len(rows) != n or any(len(row) != n for row in rows):
        raise _fail(f"the matrix must be {n}x{n} to match {n} ops")
    cells: list[list[int]] = []
    for i, row in enumerate(rows):
        out = []
        for j, value in enumerate(row):
            bit = int(value)
            if bit not in (0, 1) or bit != value:
                raise _fail(f"matrix entry ({i}, {j}) is {value!r}, not 0 or 1")
            if bit and j <= i:
                raise _fail(f"edge {i}->{j} is not forward (the matrix must be strictly upper triangular)")
            out.append(bit)
        cells.append(out)
    names = [str(op) for op in ops]
    if names[0] != INPUT or names[-1] != OUTPUT:
        raise _fail(f"the first op must be {INPUT!r} and the last {OUTPUT!r}, got {names[0]!r} ... {names[-1]!r}")
    bad = [op for op in names[1:-1] if op not in INTERIOR_OPS]
    if bad:
        raise _fail(f"unknown op {bad[0]!r} (interior ops: {', '.join(INTERIOR_OPS)})")
    return cells, names


def _reachable(matrix: list[list[int]], start: int, forward: bool) -> set[int]:
    n = len(matrix)
    seen, frontier = {start}, [start]
    while frontier:
        v = frontier.pop()
        others = range(v + 1, n) if forward else range(v)
        for w in others:
            linked = matrix[v][w] if forward else matrix[w][v]
            if linked and w not in seen:
                seen.add(w)
                frontier.append(w)
    return seen


def prune(matrix: Sequence[Sequence[int]], ops: Sequence[str]) -> CellSpec | None:
    """Keep the vertices on some input-to-output path, as the benchmark does; ``None`` when none is."""
    rows = [list(r) for r in matrix]
    n = len(ops)
    keep = sorted(_reachable(rows, 0, True) & _reachable(rows, n - 1, False))
    if 0 not in keep or n - 1 not in keep:
        return None
    return CellSpec(tuple(tuple(rows[i][j] for j in keep) for i in keep), tuple(ops[i] for i in keep))


def make_spec(matrix: Sequence[Sequence[int]], ops: Sequence[str], pruned: bool = False) -> NB101Arch:
    """Validate a spec as the benchmark does; :class:`InvalidArchitectureError` with one line otherwise.

    The benchmark prunes a spec first (only vertices on an input-to-output path remain); the input must reach
    the output and the pruned cell may have at most 9 edges. The result keeps the spec as given (padded to 7
    vertices), or the pruned cell with ``pruned=True``.
    """
    cells, names = _check_raw(matrix, ops)
    spec = prune(cells, names)
    if spec is None:
        raise _fail("the input is not connected to the output")
    if spec.num_edges > MAX_EDGES:
        raise _fail(f"{spec.num_edges} edges after pruning (the benchmark allows at most {MAX_EDGES})")
    padded_matrix, padded_ops = padded(spec if pruned else CellSpec(tuple(map(tuple, cells)), tuple(names)))
    return NB101Arch(padded_matrix, padded_ops)


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def graph_hash(spec: CellSpec) -> str:
    """The benchmark's isomorphism-invariant MD5 fingerprint of a (pruned) spec (its record key).

    Every vertex starts from the hash of (out-degree, in-degree, label) — label ``-1`` input, ``-2`` output,
    else the op's position in :data:`INTERIOR_OPS` — and is then re-hashed ``n`` times from the sorted hashes
    of its in-neighbours, its out-neighbours and its own hash; the fingerprint hashes the sorted vertex hashes.
    """
    n = spec.num_vertices
    labels = [-1] + [INTERIOR_OPS.index(op) for op in spec.ops[1:-1]] + [-2]
    out_degree = [sum(spec.matrix[v]) for v in range(n)]
    in_degree = [sum(spec.matrix[w][v] for w in range(n)) for v in range(n)]
    hashes = [_md5(str((out_degree[v], in_degree[v], labels[v]))) for v in range(n)]
    for _ in range(n):
        hashes = [
            _md5(
                "".join(sorted(hashes[w] for w in range(n) if spec.matrix[w][v]))
                + "|"
                + "".join(sorted(hashes[w] for w in range(n) if spec.matrix[v][w]))
                + "|"
                + hashes[v]
            )
            for v in range(n)
        ]
    return _md5(str(sorted(hashes)))


def padded(spec: CellSpec) -> tuple[Matrix, tuple[str, ...]]:
    """The 7-vertex form the benchmark files use: unused vertices (no edges, op ``conv3x3-bn-relu``) are
    inserted before the output, which always sits at vertex 6 (NASLib's convention)."""
    n = spec.num_vertices
    rows = [[0] * MAX_VERTICES for _ in range(MAX_VERTICES)]
    for i in range(n):
        for j in range(n):
            if spec.matrix[i][j]:
                rows[i][MAX_VERTICES - 1 if j == n - 1 else j] = 1
    ops = [*spec.ops[:-1], *([CONV3X3] * (MAX_VERTICES - n)), OUTPUT]
    return tuple(tuple(r) for r in rows), tuple(ops)
