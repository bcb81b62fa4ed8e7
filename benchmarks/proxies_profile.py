"""Profile of the default ensemble's proxies per NAS-Bench-201 cell: per pass and per phase, baseline vs today.

For each group of ensemble proxies that share a pass (AZ-NAS, the main forward read by MeCo and NASWOT, synflow,
zico, the FLOP count) and for the whole ensemble, both engines (today's ``archrank.proxies`` and the baseline
commit, see ``proxies_baseline.py``) score the same cells under ``cProfile``, one torch thread. Every profiled
function's own time is put in one phase, by what the function is (and, for torch's C functions, by who called
it): **model copy** (deep copies, ``.to``/``.double`` of modules, ``functional_call`` re-parametrisation),
**hooks** (registering and removing hooks), **forward** (module code, convolutions, BatchNorm, ...), **backward**
(autograd), **random draws**, **reductions** (the proxies' and passes' own arithmetic on the results, e.g. ReLU
code kernels, covariances, eigenvalues) and **engine** (probe bookkeeping, result packing). Figures are seconds
per cell of thread CPU time with profiling on (cProfile's timer is ``time.thread_time``, so time spent waiting
for other jobs on a shared machine is not counted; profiling adds an overhead per Python call, which inflates
Python-heavy phases such as model copies and hooks).

    .venv/bin/python benchmarks/proxies_profile.py [--n 3] [--batch-size 64] [--threads 1]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import cProfile
import pstats
import random
import sys
import time
from collections import defaultdict

import torch

import archrank
from archrank.data import load_batch
from archrank.proxies import score_detailed
from proxies_baseline import BASELINE_COMMIT, load_baseline
from proxies_common import build_seeded, require_data_root

GROUPS = {
    "az (expressivity, progressivity, trainability)": ["az_expressivity", "az_progressivity", "az_trainability"],
    "main forward (meco, nwot)": ["meco", "nwot"],
    "synflow": ["synflow"],
    "zico": ["zico"],
    "az_complexity (FLOP count)": ["az_complexity"],
    "az_expressivity alone": ["az_expressivity"],
    "whole ensemble": list(archrank.ENSEMBLE_PROXIES),
}
PHASES = ("model copy", "hooks", "forward", "backward", "random draws", "reductions", "engine")

_COPY = ("copy.py", "copyreg.py", "_functional_call.py", "stateless.py", "parametrize")
_HOOKS = ("torch/utils/hooks.py",)
_FORWARD = ("torch/nn/modules/", "torch/nn/functional.py", "archrank/spaces/", "torch/nn/utils/")
_BACKWARD = ("torch/autograd/",)
_RANDOM = ("torch/nn/init.py", "torch/random.py")
_ENGINE = ("proxies/engine.py", "proxies/registry.py", "proxies/probe.py", "dataclasses.py", "contextlib.py")
_RANDOM_NAMES = ("rand", "randn", "bernoulli", "normal_", "manual_seed", "uniform_")


def _random_builtin(name: str) -> bool:
    """``<built-in method torch.rand>``, ``<method 'normal_' of ...>`` and the like."""
    return any(name.endswith(f".{n}>") or f"'{n}'" in name for n in _RANDOM_NAMES)


def phase_of(func: tuple[str, int, str]) -> str | None:
    """The phase of a profiled function, or None for a C function whose phase is its caller's."""
    filename, _, name = func
    if any(s in filename for s in _COPY) or "__deepcopy__" in name or name == "_apply" or "__reduce_ex__" in name:
        return "model copy"
    if any(s in filename for s in _HOOKS) or "register_forward" in name or name == "forward_hooks":
        return "hooks"
    if any(s in filename for s in _BACKWARD) or "run_backward" in name:
        return "backward"
    if any(s in filename for s in _RANDOM) or (filename == "~" and _random_builtin(name)):
        return "random draws"
    if any(s in filename for s in _FORWARD):
        return "forward"
    if any(s in filename for s in _ENGINE):
        return "engine"
    if "archrank/proxies/" in filename or "archrank_proxies_" in filename:
        return "reductions"
    return None


def phases(stats: pstats.Stats) -> dict[str, float]:
    """Seconds per phase: each function's own time, C functions by their callers' phase."""
    out: dict[str, float] = defaultdict(float)
    raw = stats.stats  # type: ignore[attr-defined]
    for func, (_, _, tottime, _, callers) in raw.items():
        own = phase_of(func)
        if own is not None:
            out[own] += tottime
            continue
        if not callers:
            out["engine"] += tottime
            continue
        for caller, edge in callers.items():
            out[phase_of(caller) or "reductions"] += edge[2]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", default=BASELINE_COMMIT)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = require_data_root()
    old = load_baseline(args.baseline)
    space = archrank.get_space("nb201")
    indices = sorted(random.Random(args.seed).sample(range(len(space)), args.n))
    x, y = load_batch("cifar10", root, batch_size=args.batch_size, seed=0)
    models = [build_seeded(space, space.from_index(i), i) for i in indices]
    engines = {"baseline": old.score_detailed, "today": score_detailed}
    print(f"NB201 cells {indices}, CIFAR-10 batch {args.batch_size}, {args.threads} thread(s), baseline "
          f"{args.baseline}; load average {os.getloadavg()[0]:.1f}; thread CPU seconds per cell under cProfile\n")
    print("| group | engine | total | " + " | ".join(PHASES) + " |")
    print("|---|---|---:|" + "---:|" * len(PHASES))
    for group, proxies in GROUPS.items():
        for name, fn in engines.items():
            fn(models[0], proxies, (x, y), 0)  # warm-up
            prof = cProfile.Profile(time.thread_time)  # CPU time of this thread: robust on a shared machine
            prof.enable()
            for model in models:
                fn(model, proxies, (x, y), 0)
            prof.disable()
            got = phases(pstats.Stats(prof))
            total = sum(got.values()) / len(models)
            cells = " | ".join(f"{got.get(p, 0.0) / len(models):.3f}" for p in PHASES)
            print(f"| {group} | {name} | {total:.3f} | {cells} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
