"""Seconds per NB201 architecture of Eproxy on this machine's CPU cores (issue 5), for 1 and 2 torch threads.

    nice -n 10 .venv/bin/python benchmarks/eproxy_timing.py --archs 20 --configs default,default-synthetic

Reports wall time and process CPU time per architecture (model build excluded, everything else included: copy,
targets, MACs count, 10 steps) together with the load average, because the machine is shared: CPU time is the
better guide to the cost on an idle core, wall time is what a user of a shared machine sees.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch

from archrank import get_space
from archrank.data import load_batch
from archrank.eproxy.evaluate import build_seeded
from archrank.eproxy.presets import resolve_config
from archrank.eproxy.train import eproxy_score


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", type=int, default=20)
    p.add_argument("--configs", default="default,default-synthetic")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--out", default="docs/results/eproxy")
    args = p.parse_args()
    space = get_space("nb201")
    archs = space.sample_many(args.archs, seed=12345)
    batch = load_batch("cifar10", None, batch_size=16, seed=0)
    rows = []
    for spec in filter(None, args.configs.split(",")):
        config = resolve_config(spec)
        for threads in (int(t) for t in args.threads.split(",")):
            torch.set_num_threads(threads)
            wall, cpu, load = [], [], []
            for arch in archs:
                model = build_seeded(space, arch)
                w0, c0 = time.perf_counter(), time.process_time()
                eproxy_score(model, config, batch)
                wall.append(time.perf_counter() - w0)
                cpu.append(time.process_time() - c0)
                load.append(os.getloadavg()[0])
            rows.append(
                {
                    "config": spec,
                    "threads": threads,
                    "archs": len(archs),
                    "wall_mean": statistics.mean(wall),
                    "wall_median": statistics.median(wall),
                    "cpu_mean": statistics.mean(cpu),
                    "cpu_median": statistics.median(cpu),
                    "load_avg_1min": statistics.mean(load),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "timing.json").write_text(
        json.dumps({"cpus": os.cpu_count(), "torch": torch.__version__, "rows": rows}, indent=2) + "\n"
    )
    lines = [
        "# Eproxy cost per NB201 architecture (CPU)",
        "",
        f"{args.archs} architectures (`sample_many(seed=12345)`), 16 CIFAR-10 images at 32×32, 10 steps; "
        f"{os.cpu_count()} CPU cores shared with other jobs (load average in the table); torch {torch.__version__}.",
        "",
        "| config | threads | wall s/arch mean | median | CPU s/arch mean | median | load avg |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['config']} | {r['threads']} | {r['wall_mean']:.2f} | {r['wall_median']:.2f} | {r['cpu_mean']:.2f} | "
        f"{r['cpu_median']:.2f} | {r['load_avg_1min']:.1f} |"
        for r in rows
    ]
    (out / "timing.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
