"""Issue 17, EZNAS: the authors' code made runnable on this machine, shared by the side-by-side benchmarks.

The authors' code (IntelLabs/Hardware-Aware-Automated-Machine-Learning, folder ``EZNAS/``) is imported from a path
given on the command line (the folder holding ``evol_utilities.py``); it is never copied into archrank. Only what it
needs to *import* here is adapted: ``models`` (the nas-without-training copy of xautodl, used only to build networks,
which we do not need because we feed it our networks) and ``torchvision`` are stubbed, and ``yaml.load`` gets an
explicit safe loader (the reference calls it without one, which PyYAML ≥ 6 rejects).

:class:`AuthorsEznasA` compiles their EZNAS-A (``get_individual("darts")`` with their primitive set) and runs their
three passes (``Hook``, ``process_network_output`` for data, noise and perturbed inputs, ``zero_grad`` between, as
``evaluate_networks``) on a list of hooked modules chosen by the caller, then reduces per layer as
``evaluate_scores`` + ``verify_scores`` do. Used by ``eznas_vs_authors.py`` (NB201, their ReLU-Conv-BN selection)
and ``eznas_blocks_vs_authors.py`` (Conv-BN-ReLU networks, their NDS selection).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
import types
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn

REF_TO_OURS = {"wt": "weight"}
"""The reference's statistic key -> our terminal name (22 statistics)."""
for _ref, _ours in (
    ("wtgrad", "weight_grad"),
    ("inpact", "input"),
    ("inpactgrad", "input_grad"),
    ("preact", "preact"),
    ("preactgrad", "preact_grad"),
    ("act", "act"),
    ("actgrad", "act_grad"),
):
    for _pas in ("data", "noise", "perturb"):
        REF_TO_OURS[f"{_ref}{_pas}"] = f"{_ours}_{_pas}"
OURS_TO_REF = {v: k for k, v in REF_TO_OURS.items()}
TERMS = list(REF_TO_OURS.values())

PASSES = ({}, {"process_noise": True}, {"perturb": 0.01})
"""Keyword arguments of the reference's ``process_network_output`` for its data, noise and perturbed passes."""


def reference_available(ref: Path) -> bool:
    """Whether ``ref`` is the authors' ``EZNAS/`` folder (holds ``evol_utilities.py``)."""
    return (Path(ref) / "evol_utilities.py").is_file()


def missing_reference_message(ref: Path) -> str:
    """The one line a benchmark prints when the reference is absent (it then exits 0)."""
    return (
        f"skipped: the authors' EZNAS code is not at {ref} (need evol_utilities.py there); fetch "
        "IntelLabs/Hardware-Aware-Automated-Machine-Learning and pass its EZNAS/ folder with --ref"
    )


@contextlib.contextmanager
def _reference_imports(ref: Path) -> Iterator[None]:
    """Make the reference importable on this machine for the duration of its import (stubs listed in the
    module docstring); sys.modules and sys.path are restored afterwards, except the reference modules."""
    import yaml

    saved = {k: sys.modules.get(k) for k in ("models", "torchvision", "torchvision.transforms", "yaml")}
    models = types.ModuleType("models")
    models.get_cell_based_tiny_net = None  # networks come from archrank
    tv = types.ModuleType("torchvision")
    tv.transforms = types.ModuleType("torchvision.transforms")
    safe_yaml = types.ModuleType("yaml")
    safe_yaml.load = lambda stream, Loader=yaml.SafeLoader: yaml.load(stream, Loader=Loader)
    sys.modules.update(
        {"models": models, "torchvision": tv, "torchvision.transforms": tv.transforms, "yaml": safe_yaml}
    )
    sys.path.insert(0, str(ref))
    cwd = os.getcwd()
    os.chdir(ref)  # gp_func_defs reads evol_config.yaml from the working directory at import
    try:
        yield
    finally:
        os.chdir(cwd)
        sys.path.remove(str(ref))
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def load_reference(ref: Path) -> types.ModuleType:
    """The reference's ``evol_utilities`` module, imported from the folder ``ref``."""
    with _reference_imports(Path(ref)):
        return importlib.import_module("evol_utilities")


@contextlib.contextmanager
def warnings_ignored() -> Iterator[None]:
    """Silence the reference's deprecation warnings (``register_backward_hook``, implicit-dim softmax)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def rel_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest element difference relative to the largest |element| of ``a`` (absolute when ``a`` is all zero)."""
    scale = float(a.abs().max())
    return float((a - b).abs().max()) / scale if scale > 0 else float((a - b).abs().max())


class AuthorsEznasA:
    """The authors' EZNAS-A, compiled from their own ``get_individual("darts")`` with their primitive set."""

    def __init__(self, ev: types.ModuleType) -> None:
        from deap import base, creator, gp, tools

        self.ev = ev
        toolbox = base.Toolbox()
        pset = ev.generate_pset(toolbox)
        if not hasattr(creator, "RefFitnessMax"):
            creator.create("RefFitnessMax", base.Fitness, weights=(1.0,))
            creator.create("RefIndividual", gp.PrimitiveTree, fitness=creator.RefFitnessMax)
        toolbox.register("expr", gp.genHalfAndHalf, pset=pset, min_=1, max_=1)
        toolbox.register("individual", tools.initIterate, creator.RefIndividual, toolbox.expr)
        operations = next(iter(pset.primitives.values()))
        terminals = next(iter(pset.terminals.values()))
        self.individual = ev.get_individual("darts", toolbox, operations, terminals)
        self.text = str(self.individual)
        self.func = gp.compile(self.individual, pset)

    def statistics(self, model: nn.Module, flat: list[nn.Module], x: torch.Tensor, noise_seed: int) -> list[dict]:
        """Their statistics per hooked triple of ``flat`` (modules of ``model``): the three passes with their hooks,
        their global RNG seeded with ``noise_seed`` so that their ``torch.randn`` draws our noise and perturbation.
        A triple whose hooks did not fire (outside the autograd graph) has an empty dict."""
        ev = self.ev
        state: dict = {f"layer{i}": {} for i in range(len(flat) // 3)}
        torch.manual_seed(noise_seed)
        with warnings_ignored():
            for kwargs in PASSES:
                hook_f = [ev.Hook(m) for m in flat]
                hook_b = [ev.Hook(m, backward=True) for m in flat]
                ev.process_network_output(model, x.clone(), state, hook_f, hook_b, flat, "cpu", **kwargs)
                model.zero_grad()
                for h in hook_f + hook_b:
                    h.hook.remove()
        return [state[f"layer{i}"] for i in range(len(flat) // 3)]

    def layer_values(self, layers: list[dict]) -> list[float]:
        """Their EZNAS-A per layer (``sum / numel`` of the program's output); a layer without statistics scores 0,
        as in their ``evaluate_scores``."""
        values = []
        for layer in layers:
            if not layer:
                values.append(0.0)
                continue
            out = self.ev.eval_layer(self.func, {k: v.clone() for k, v in layer.items()}, "cpu")
            values.append(float(torch.sum(out) / torch.numel(out)))
        return values
