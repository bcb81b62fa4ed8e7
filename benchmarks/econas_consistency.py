"""EcoNAS rank consistency on NAS-Bench-201 (Zhou et al., CVPR 2020): reduced settings vs 200-epoch accuracy.

Trains a seeded uniform sample of NB201 architectures under a grid of reduced settings (one factor varied at a time
around c4r4s0e10) on the shared CIFAR-10 data (a 5085-image training subset: the first 1017 images of each official
batch; 1017 test images), stores every training in SQLite as it finishes (kill and rerun to resume), and writes
``consistency.md`` / ``.csv`` / ``.png`` plus the raw trainings to ``--out`` every ``--report-every`` architectures.

    nice -n 10 .venv/bin/python benchmarks/econas_consistency.py --archs 100 --store /tmp/econas.sqlite
    .venv/bin/python benchmarks/econas_consistency.py --report-only --store /tmp/econas.sqlite
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import pandas as pd
import torch
from scipy import stats

from archrank import get_space
from archrank.econas import TrainingStore, load_data
from archrank.econas.consistency import (
    DEFAULT_GRID,
    consistency_table,
    markdown_table,
    nb201_truth,
    plot_consistency,
    train_many,
)

CAPTION = (
    "NB201, {archs} architectures (uniform sample, seed {sample_seed}), {seeds} seed(s) per setting. Training data: "
    "the shared CIFAR-10 5085-image training SUBSET (first 1017 images of each official batch, ~1/10 of CIFAR-10), "
    "tested on 1017 test images at the reduced resolution; reference: NB201 200-epoch CIFAR-10 test accuracy "
    "(full 50k training). Cost: CPU seconds per architecture, torch {torch} with {threads} thread(s) on a shared "
    "2-core machine ({cpu})."
)


def report(store: TrainingStore, space, keys: list[str], settings: list[str], out: Path, meta: dict) -> pd.DataFrame:
    results = store.results(space=space.name, settings=settings)
    results = results[results["arch_key"].isin(keys)]
    truth = nb201_truth(space)
    table = consistency_table(results, truth, settings=settings)
    if table.empty:
        return table
    baselines = zero_cost_baselines(space, results, settings)
    caption = CAPTION.format(archs=int(table["archs"].min()), **meta)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "consistency.csv", index=False)
    results.to_csv(out / "consistency_trainings.csv", index=False)
    references = {f"{row.scorer} (table)": row.spearman for row in baselines.itertuples()}
    plot_consistency(table, out / "consistency.png", caption, references=references)
    shown = table.rename(
        columns={
            "cpu_seconds_per_arch": "CPU s/arch",
            "seconds_per_arch": "wall s/arch",
            "model_cost_epochs": "model cost (full epochs)",
            "mean_accuracy": "mean acc %",
        }
    )
    lines = [
        "# EcoNAS reduced-training rank consistency on NAS-Bench-201",
        "",
        f"Caption: {caption}",
        "",
        markdown_table(shown),
        "",
        "Zero-cost baselines on the same architectures (NB201 table values, no training):",
        "",
        markdown_table(baselines),
        "",
        "`model cost` = epochs × (1/c)² × (1/r)² × 2^-s in units of one full-size (c0r0s0) epoch; `pareto` marks "
        "settings that no other setting beats on both CPU seconds and Spearman.",
        "",
        "Commands: `nice -n 10 .venv/bin/python benchmarks/econas_consistency.py "
        f"--archs {meta['requested']} --threads {meta['threads']} --shard I/2 --store STORE` for I = 0, 1 in "
        "parallel, then the same with `--report-only`.",
        "",
    ]
    (out / "consistency.md").write_text("\n".join(lines))
    return table


def zero_cost_baselines(space, results: pd.DataFrame, settings: list[str]) -> pd.DataFrame:
    """Spearman/Kendall of params and FLOPs (free to compute) on the architectures of the table."""
    from archrank.bench.tables import load_nb201_cifar10

    table = load_nb201_cifar10(space)
    counts = results[results["setting"].isin(settings)].groupby("arch_key")["setting"].nunique()
    keys = counts[counts == len(settings)].index
    part = table.loc[keys]
    rows = []
    for column in ("params_M", "flops_M"):
        rows.append(
            {
                "scorer": column,
                "archs": len(part),
                "spearman": float(stats.spearmanr(part[column], part["cifar10_test_acc"]).statistic),
                "kendall": float(stats.kendalltau(part[column], part["cifar10_test_acc"]).statistic),
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--archs", type=int, default=100)
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--settings", default=",".join(DEFAULT_GRID))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--store", default="econas_consistency.sqlite")
    parser.add_argument("--out", type=Path, default=Path("docs/results/econas"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--report-every", type=int, default=10)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--data", default="cifar10",
                        help="cifar10[:DIR]; the full JPEG-decoded CIFAR-10 from ../shared/tools/cifar10_from_jpeg.py "
                        "is cifar10:OUT_DIR")
    parser.add_argument("--stack", type=int, default=1,
                        help="train this many architectures of a setting at once as one stacked network (NB201)")
    parser.add_argument(
        "--shard",
        default="0/1",
        help="i/n: train every n-th architecture from the i-th (run n "
        "processes on one store); only shard 0 writes reports",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    archs = space.sample_many(args.archs, seed=args.sample_seed)
    keys = [space.key(a) for a in archs]
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    seeds = [int(s) for s in args.seeds.split(",")]
    meta = {
        "sample_seed": args.sample_seed,
        "seeds": len(seeds),
        "torch": torch.__version__,
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "requested": args.archs,
    }
    store = TrainingStore(args.store)
    shard, shards = (int(v) for v in args.shard.split("/"))
    if not args.report_only:
        raw = load_data(args.data)
        start = time.time()
        mine = archs[shard::shards]
        if args.stack > 1:  # setting by setting, cheapest first; report with --report-only
            for setting in settings:
                c0 = time.process_time()
                ran = train_many(space, mine, [setting], raw, store, seeds=seeds, device=args.device,
                                 progress=False, stack=args.stack)
                print(f"[{time.time() - start:7.0f} s] shard {shard}: {setting} done for {len(mine)} architectures "
                      f"({ran} new trainings, {time.process_time() - c0:.0f} CPU s)", flush=True)
            store.close()
            return
        for i in range(0, len(mine), args.report_every):
            chunk = mine[i : i + args.report_every]
            ran = train_many(space, chunk, settings, raw, store, seeds=seeds, device=args.device, progress=False,
                             stack=args.stack)
            print(
                f"[{time.time() - start:7.0f} s] shard {shard}: {i + len(chunk)}/{len(mine)} architectures "
                f"({ran} new trainings)",
                flush=True,
            )
            if shard == 0:
                report(store, space, keys, settings, args.out, meta)
    if shard == 0:
        table = report(store, space, keys, settings, args.out, meta)
        print(table.to_string(index=False))
    store.close()


if __name__ == "__main__":
    main()
