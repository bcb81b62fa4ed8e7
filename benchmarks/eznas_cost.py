"""Benchmark (c) of issue 6: the cost of EZNAS — seconds to extract statistics per architecture, programs scored
per second on cached statistics. Writes ``docs/results/eznas/cost.md``.

Extraction is timed on ``--n-extract`` architectures of the held-out sample for two settings: the shipped proxy
(EZNAS-A needs only ``input_grad_data``: one data pass) and everything the GP needs (22 statistics, 3 passes, with
the GP summary). Program throughput: ``--n-programs`` random programs (the GP's own generator) evaluated on the
cached GP statistics of ``--n-archs`` architectures (from ``eznas_evaluate.py``'s cache).

    nice -n 10 .venv/bin/python benchmarks/eznas_cost.py --cache-dir /tmp/eznas_cache
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path

import numpy as np
import torch

from archrank.data import load_batch
from archrank.eznas import EZNAS_A, GPConfig, Program, StatsBatch, evaluate, extract_stats
from archrank.eznas.gp import _lent_random, _toolbox
from archrank.eznas.tasks import GP_SUMMARY, StatsSource, evaluation_sample
from archrank.spaces import get_space

RESULTS = Path("docs/results/eznas")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache-dir", default="/tmp/eznas_cache")
    parser.add_argument("--n-extract", type=int, default=8)
    parser.add_argument("--n-archs", type=int, default=200)
    parser.add_argument("--n-programs", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    space = get_space("nb201")
    archs = evaluation_sample(space, 1000, 0)
    batch = load_batch("cifar10", None, batch_size=16, seed=0)
    eznas = Program.parse(EZNAS_A)

    timing = {"EZNAS-A only (1 pass, full tensors)": [], "all 22 statistics (3 passes, GP summary)": []}
    blocks = []
    for arch in archs[: args.n_extract]:
        model = space.build(arch)
        t0 = time.perf_counter()
        stats = extract_stats(model, batch.x, terminals=sorted(eznas.terminals))
        evaluate(eznas, StatsBatch([stats], eznas.terminals))
        timing["EZNAS-A only (1 pass, full tensors)"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        extract_stats(model, batch.x, summary=GP_SUMMARY)
        timing["all 22 statistics (3 passes, GP summary)"].append(time.perf_counter() - t0)
        blocks.append(len(stats.layers))

    source = StatsSource(summary=GP_SUMMARY, cache_dir=args.cache_dir)
    t0 = time.perf_counter()
    nets = source.network_stats(space, archs[: args.n_archs], 0, progress=False)
    load_s = time.perf_counter() - t0
    mb = sum(n.nbytes() for n in nets) / 1e6
    stack = StatsBatch(nets)
    del nets
    toolbox = _toolbox(GPConfig())
    with _lent_random(random.Random(0)):
        programs = [Program.from_tree(toolbox.individual()) for _ in range(args.n_programs)]
    t0 = time.perf_counter()
    valid = sum(bool(np.isfinite(evaluate(p, stack)).all()) for p in programs)
    eval_s = time.perf_counter() - t0

    lines = [
        "# EZNAS: cost on this machine",
        "",
        "CPU only, 1 torch thread, `nice -n 10`, on 2 cores shared with other jobs (1-minute load average "
        f"{load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end), so these are pessimistic wall-clock "
        "figures. NB201 networks, CIFAR-10 batch of 16.",
        "",
        "## Statistics extraction, seconds per architecture",
        "",
        f"{args.n_extract} architectures of the held-out sample ({min(blocks)}–{max(blocks)} ReLU-Conv-BN blocks).",
        "",
        "| what | median s | mean s |",
        "|---|---:|---:|",
    ]
    for what, secs in timing.items():
        lines.append(f"| {what} | {np.median(secs):.2f} | {np.mean(secs):.2f} |")
    lines += [
        "",
        "The 1000-architecture run of `eznas_evaluate.py` (3 passes, full EZNAS-A tensors and the GP summary, cache "
        "write) records its own per-architecture times in `shipped.md`.",
        "",
        "## Programs scored per second (cached statistics)",
        "",
        f"{args.n_programs} random programs (ramped half-and-half, height 1–4, as the GP initialises) on the GP "
        f"statistics of {args.n_archs} architectures ({mb:.0f} MB, {len(stack.groups)} shape groups, loaded from the "
        f"cache in {load_s:.1f} s):",
        "",
        f"- {args.n_programs / eval_s:.1f} programs/s, each scored on all {args.n_archs} architectures "
        f"({args.n_programs * args.n_archs / eval_s:.0f} program×architecture evaluations/s); "
        f"{valid}/{args.n_programs} programs valid (finite everywhere).",
        "",
        "Command: `nice -n 10 .venv/bin/python benchmarks/eznas_cost.py --cache-dir /tmp/eznas_cache`",
        "",
    ]
    text = "\n".join(lines)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cost.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
