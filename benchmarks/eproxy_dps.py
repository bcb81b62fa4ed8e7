"""Discrete Proxy Search for Eproxy on NAS-Bench-201 / CIFAR-10 (issue 5): regularised evolution over Eproxy's
configuration, fitness = Spearman on 20 labelled architectures. Resumable (every proposal and per-architecture score
is in SQLite); rerun with the same arguments to continue, or with a larger --budget to extend, or with
--budget N smaller than what is stored to report the first N proposals only.

    nice -n 10 .venv/bin/python benchmarks/eproxy_dps.py --budget 200 --run-name nb201-dps \
        --store /work/eproxy_runs/eproxy.db --out docs/results/eproxy

The paper's DPS is ``--start-from none --select fittest``; the defaults start from the base preset and keep it unless
a proposal beats it in 95 % of bootstrap resamples of the labelled set (see ``archrank.eproxy.dps``).

Writes ``dps_<run>.json`` (the chosen config, usable as ``create_proxy("eproxy", config=PATH)``),
``dps_<run>_history.csv`` and ``dps_<run>_fitness.png``.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import torch

from archrank import get_space
from archrank.bench.tables import load_nb201_cifar10
from archrank.data import load_batch
from archrank.eproxy.dps import run_dps
from archrank.eproxy.dps_space import DPSSpace
from archrank.eproxy.presets import resolve_config


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run-name", default="nb201-dps")
    p.add_argument("--budget", type=int, default=200)
    p.add_argument("--population", type=int, default=40)
    p.add_argument("--tournament", type=int, default=10)
    p.add_argument("--mutate-ratio", type=float, default=0.2)
    p.add_argument("--labelled", type=int, default=20)
    p.add_argument("--labelled-seed", type=int, default=2210)
    p.add_argument("--search-seed", type=int, default=0)
    p.add_argument("--seed", type=int, default=0, help="Model/head seed of every evaluation.")
    p.add_argument("--base", default="default", help="Config for the fields DPS does not search.")
    p.add_argument("--start-from", default="base", help="First proposal: 'base', a preset/JSON, or 'none' (paper).")
    p.add_argument("--select", default="confident", choices=["confident", "fittest"],
                   help="Result: confidently better than --start-from (else it), or the fittest (paper).")
    p.add_argument("--store", default="eproxy.db")
    p.add_argument("--out", default="docs/results/eproxy")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    return p.parse_args()


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    truth = load_nb201_cifar10(space)["cifar10_test_acc"]
    archs = space.sample_many(args.labelled, seed=args.labelled_seed)
    labelled = [(a, float(truth.loc[space.key(a)])) for a in archs]
    base = resolve_config(args.base)
    batch = load_batch("cifar10", None, batch_size=16, seed=0) if base.inputs == "batch" else None
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = run_dps(
        space,
        labelled,
        store_path=args.store,
        run_name=args.run_name,
        batch=batch,
        dps_space=DPSSpace(base=base),
        budget=args.budget,
        population=args.population,
        tournament=args.tournament,
        mutate_ratio=args.mutate_ratio,
        seed=args.search_seed,
        eval_seed=args.seed,
        start_from=None if args.start_from == "none" else args.start_from,
        select=args.select,
        device=args.device,
        progress=not args.quiet,
        out=out / f"dps_{args.run_name}.json",
    )
    rows = [
        {
            "step": c.step,
            "fitness": c.fitness,
            "best_so_far": max(h.rank_fitness for h in result.history[: c.step + 1]),
            "config_key": c.config.key,
            "parent": c.parent or "",
            "branches": len(c.config.branches),
            "signals": "|".join("+".join(b.signals) for b in c.config.branches),
            "lr": c.config.lr,
            "alpha": c.config.alpha,
            "seconds": c.seconds,
        }
        for c in result.history
    ]
    import pandas as pd

    table = pd.DataFrame(rows)
    table.to_csv(out / f"dps_{args.run_name}_history.csv", index=False)
    _plot(table, out / f"dps_{args.run_name}_fitness.png", args)
    best = result.best
    print(
        json.dumps(
            {
                "chosen_fitness": best.fitness,
                "step": best.step,
                "fittest_fitness": result.fittest.fitness if result.fittest else None,
                "proposals": len(result.history),
                "config": best.config.to_dict(),
            },
            indent=2,
        )
    )


def _plot(table, path: Path, args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    fit = [f if math.isfinite(f) else -1.0 for f in table["fitness"]]
    ax.scatter(table["step"], fit, s=10, alpha=0.6, label="proposal")
    ax.plot(table["step"], table["best_so_far"], color="C3", label="best so far")
    ax.axvline(args.population - 0.5, color="grey", ls=":", lw=1)
    ax.set_xlabel("proposal")
    ax.set_ylabel(f"Spearman on {args.labelled} labelled archs")
    ax.set_title(f"DPS {args.run_name} (NB201 / CIFAR-10)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
