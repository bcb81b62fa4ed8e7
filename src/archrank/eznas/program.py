"""EZNAS programs: typed expression trees (DEAP ``PrimitiveSetTyped``) over the network statistics.

A program maps the statistics of one block (ReLU-Conv-BN, or Conv-BN-ReLU in networks without any) to one
number (its root has type :class:`Scalar`); the network's score is the mean over its blocks, as in EZNAS (Akhauri
et al., NeurIPS 2022). Programs print as readable nested calls, e.g.
``frobenius_norm(sigmoid(logdet(sign(input_grad_data))))``, parse back from that string (:meth:`Program.parse`
rejects unknown names, wrong arity and ill-typed trees), and save to / load from JSON files.

Evaluation is vectorised: :class:`StatsBatch` stacks the blocks of many networks that have the same statistic
shapes into one layer-batched tensor per statistic, so a program runs once per shape group instead of once per
block. A block whose value is NaN/inf makes its network's score NaN; :func:`evaluate` reports that instead of
raising, and the GP treats such a program as invalid.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from deap import gp

from archrank.eznas.primitives import PRIMITIVES, SCALAR_CONSTANTS, Scalar, Tensor
from archrank.eznas.stats import TERMINALS, NetworkStats

__all__ = [
    "Program",
    "StatsBatch",
    "build_pset",
    "evaluate",
]

_FILE_FORMAT = "archrank.eznas.program/1"
_EVAL_ERRORS = (RuntimeError, ValueError, IndexError, TypeError, ArithmeticError)


@functools.cache
def build_pset() -> gp.PrimitiveSetTyped:
    """The primitive set: 22 :data:`~archrank.eznas.stats.TERMINALS` of type Tensor, the primitives of
    :mod:`archrank.eznas.primitives`, the Scalar constant ``one``, and a Scalar root. Built once and never
    modified afterwards (treat it as read-only)."""
    pset = gp.PrimitiveSetTyped("eznas", [Tensor] * len(TERMINALS), Scalar)
    pset.renameArguments(**{f"ARG{i}": name for i, name in enumerate(TERMINALS)})
    for spec in PRIMITIVES:
        pset.addPrimitive(spec.fn, list(spec.args), spec.ret, name=spec.name)
    for name, value in SCALAR_CONSTANTS:
        pset.addTerminal(value, Scalar, name=name)
    return pset


@dataclass(frozen=True)
class Program:
    """A parsed, well-typed program; ``text`` is its canonical string (DEAP's ``str`` of the tree)."""

    text: str

    @classmethod
    def parse(cls, text: str) -> Program:
        """Parse and type-check ``text``; ``ValueError`` with one clear line if it is not a valid program."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("an EZNAS program is a non-empty string such as 'mean_abs(act_grad_data)'")
        pset = build_pset()
        try:
            tree = gp.PrimitiveTree.from_string(text.strip(), pset)
        except (TypeError, KeyError, SyntaxError, IndexError) as exc:
            raise ValueError(f"invalid EZNAS program {text!r}: {exc}") from None
        if not len(tree):
            raise ValueError(f"invalid EZNAS program {text!r}: empty")
        if tree[0].ret is not Scalar:
            raise ValueError(f"invalid EZNAS program {text!r}: the root must return a Scalar (use a reduction)")
        canonical = str(tree)
        if canonical.replace(" ", "") != "".join(text.split()):
            raise ValueError(f"invalid EZNAS program {text!r}: wrong number of arguments or trailing tokens")
        return cls(canonical)

    @classmethod
    def from_tree(cls, tree: gp.PrimitiveTree) -> Program:
        return cls(str(tree))

    @property
    def tree(self) -> gp.PrimitiveTree:
        return gp.PrimitiveTree.from_string(self.text, build_pset())

    @functools.cached_property
    def terminals(self) -> frozenset[str]:
        """The network statistics the program reads."""
        return frozenset(str(n.value) for n in self.tree if isinstance(n, gp.Terminal) and str(n.value) in TERMINALS)

    @property
    def height(self) -> int:
        return self.tree.height

    def __len__(self) -> int:
        return len(self.tree)

    def __str__(self) -> str:
        return self.text

    @functools.cached_property
    def function(self) -> Callable[..., Any]:
        """The compiled program: ``f(*tensors in TERMINALS order) -> per-layer values``."""
        return gp.compile(self.tree, build_pset())

    def save(self, path: str | os.PathLike[str], **meta: Any) -> Path:
        """Write a small JSON file ``{"format", "program", "meta"}``; :meth:`load` reads it back."""
        path = Path(path)
        path.write_text(json.dumps({"format": _FILE_FORMAT, "program": self.text, "meta": meta}, indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Program:
        data = json.loads(Path(path).read_text())
        if not isinstance(data, dict) or data.get("format") != _FILE_FORMAT:
            raise ValueError(f"{path}: not an EZNAS program file (format {_FILE_FORMAT})")
        return cls.parse(data["program"])


class StatsBatch:
    """The blocks of many networks, grouped by statistic shapes and stacked along a leading layer dimension."""

    def __init__(self, networks: Sequence[NetworkStats], terminals: Iterable[str] | None = None) -> None:
        names = tuple(t for t in TERMINALS if terminals is None or t in set(terminals))
        self.n_networks = len(networks)
        self.terminals = frozenset(names)
        self.layer_counts = np.array([len(n.layers) for n in networks], dtype=np.int64)
        groups: dict[tuple[Any, ...], tuple[list[int], list[dict[str, torch.Tensor]]]] = {}
        for idx, net in enumerate(networks):
            for layer in net.layers:
                missing = [t for t in names if t not in layer]
                if missing:
                    raise ValueError(f"network {idx} lacks statistics {missing}")
                signature = tuple(tuple(layer[t].shape) for t in names)
                owners, layers = groups.setdefault(signature, ([], []))
                owners.append(idx)
                layers.append(layer)
        self.groups: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = [
            (torch.tensor(owners, dtype=torch.long), {t: torch.stack([lay[t] for lay in layers]) for t in names})
            for owners, layers in groups.values()
        ]

    def __len__(self) -> int:
        return self.n_networks


def _group_values(program: Program, tensors: dict[str, torch.Tensor], n_layers: int) -> torch.Tensor:
    args = [tensors.get(t) for t in TERMINALS]
    value = program.function(*args)
    out = torch.as_tensor(value, dtype=torch.float64)
    if out.dim() == 0:
        out = out.expand(n_layers)
    if out.shape != (n_layers,):
        raise ValueError(f"program produced shape {tuple(out.shape)} for {n_layers} layers")
    return out


def evaluate(program: Program | str, batch: StatsBatch) -> np.ndarray:
    """One score per network of ``batch``: the mean over its blocks of the program's value. NaN for a network with
    a non-finite block value or no blocks, or for every network if the program fails to evaluate."""
    prog = Program.parse(program) if isinstance(program, str) else program
    missing = sorted(prog.terminals - batch.terminals)
    if missing:
        raise ValueError(f"program {prog.text!r} reads statistics the batch lacks: {missing}")
    n = batch.n_networks
    sums = torch.zeros(n, dtype=torch.float64)
    bad = torch.zeros(n, dtype=torch.bool)
    try:
        with torch.no_grad():
            for owners, tensors in batch.groups:
                values = _group_values(prog, tensors, len(owners))
                finite = torch.isfinite(values)
                sums.index_add_(0, owners, torch.where(finite, values, torch.zeros_like(values)))
                bad.index_fill_(0, owners[~finite], True)
    except _EVAL_ERRORS:
        return np.full(n, np.nan)
    counts = torch.as_tensor(batch.layer_counts, dtype=torch.float64)
    scores = torch.where(bad | (counts == 0), torch.full_like(sums, float("nan")), sums / counts.clamp(min=1))
    return scores.numpy()
