"""Benchmark (issue 18): the default ensemble's proxies per NAS-Bench-201 cell, today's engine vs the baseline.

Both engines run in this process on the same cells, the same CIFAR-10 batch and seed, one torch thread: the
baseline is ``archrank.proxies`` as of commit ``--baseline`` (default: the last commit before issue 18), loaded
next to today's by ``proxies_baseline.load_baseline``. For each cell the engines alternate (ABAB..., the order
flipping from cell to cell) so that drifting machine load hits both alike; wall and thread-CPU seconds per
``score_detailed(model, ENSEMBLE_PROXIES, (x, y))`` call are the medians and the minima over ``--repeats`` (on a
shared machine other jobs only add time, so the minimum is the better estimate of the cost itself). Values are compared
too: they must be identical, except synflow of a disconnected cell (baseline: NaN; today: −inf, status ok).

    .venv/bin/python benchmarks/proxies_ensemble_speed.py [--n 5] [--batch-size 64] [--repeats 3] [--threads 1]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see proxies_fused_vs_separate.py; changes no result

import argparse
import math
import random
import statistics
import sys
import time

import torch

import archrank
from archrank.data import load_batch
from archrank.proxies import score_detailed
from proxies_baseline import BASELINE_COMMIT, load_baseline
from proxies_common import build_seeded, require_data_root


def timed(fn):
    wall, cpu = time.perf_counter(), time.thread_time()
    out = fn()
    return out, time.perf_counter() - wall, time.thread_time() - cpu


def same_value(old, new) -> bool:
    """Identical results, or the deliberate synflow change (NaN 'log undefined' → −inf, status ok)."""
    if old.status == new.status and (old.value == new.value or (math.isnan(old.value) and math.isnan(new.value))):
        return True
    return old.status == "nan" and new.ok and new.value == -math.inf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5, help="NB201 cells (seeded sample)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the cell sample")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--baseline", default=BASELINE_COMMIT)
    parser.add_argument("--proxies", default=",".join(archrank.ENSEMBLE_PROXIES))
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = require_data_root()
    old = load_baseline(args.baseline)
    space = archrank.get_space("nb201")
    indices = sorted(random.Random(args.seed).sample(range(len(space)), args.n))
    x, y = load_batch("cifar10", root, batch_size=args.batch_size, seed=0)
    proxies = args.proxies.split(",")
    engines = {"baseline": old.score_detailed, "today": score_detailed}
    load_before = os.getloadavg()
    print(f"{len(proxies)} proxies {proxies}")
    print(f"{args.n} NB201 cells {indices}, CIFAR-10 batch {args.batch_size}, {args.threads} thread(s), "
          f"baseline {args.baseline}; load average before {load_before[0]:.1f}")
    warm = build_seeded(space, space.from_index(indices[0]), 0)
    for fn in engines.values():
        fn(warm, proxies, (x, y), 0)

    rows = []
    mismatches = []
    for k, index in enumerate(indices):
        model = build_seeded(space, space.from_index(index), index)
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in engines}
        results = {}
        order = list(engines) if k % 2 == 0 else list(reversed(engines))
        for _ in range(args.repeats):
            for name in order:
                res, wall, cpu = timed(lambda fn=engines[name], m=model: fn(m, proxies, (x, y), 0))
                times[name].append((wall, cpu))
                results[name] = res
        for p in proxies:
            if not same_value(results["baseline"][p], results["today"][p]):
                mismatches.append((index, p, results["baseline"][p], results["today"][p]))
        med = {n: (statistics.median(t[0] for t in v), statistics.median(t[1] for t in v)) for n, v in times.items()}
        low = {n: (min(t[0] for t in v), min(t[1] for t in v)) for n, v in times.items()}
        rows.append((index, med, low))
        b, t = med["baseline"], med["today"]
        bl, tl = low["baseline"], low["today"]
        print(f"  cell {index:5d}: median baseline {b[0]:.3f} s wall / {b[1]:.3f} s cpu, today {t[0]:.3f} / {t[1]:.3f} "
              f"({b[0] / t[0]:.2f}x wall, {b[1] / t[1]:.2f}x cpu) | minimum baseline {bl[0]:.3f} / {bl[1]:.3f}, "
              f"today {tl[0]:.3f} / {tl[1]:.3f} ({bl[0] / tl[0]:.2f}x wall, {bl[1] / tl[1]:.2f}x cpu)", flush=True)
    load_after = os.getloadavg()

    def total(name: str, i: int, stat: int) -> float:
        return sum(row[stat][name][i] for row in rows)

    n = len(rows)
    print("\n| engine | median wall s / cell | median cpu s / cell | minimum wall s / cell | minimum cpu s / cell |")
    print("|---|---:|---:|---:|---:|")
    for name in engines:
        print(f"| {name} | {total(name, 0, 1) / n:.3f} | {total(name, 1, 1) / n:.3f} | {total(name, 0, 2) / n:.3f} "
              f"| {total(name, 1, 2) / n:.3f} |")
    for label, stat in (("medians", 1), ("minima", 2)):
        print(f"speed-up ({label}, sums over cells): {total('baseline', 0, stat) / total('today', 0, stat):.2f}x wall, "
              f"{total('baseline', 1, stat) / total('today', 1, stat):.2f}x cpu")
    print(f"load average before {load_before[0]:.1f}, after {load_after[0]:.1f}")
    if mismatches:
        for index, p, a, b in mismatches:
            print(f"VALUE MISMATCH cell {index} {p}: baseline {a} | today {b}")
        return 1
    print("values: identical on every cell (synflow −inf for a disconnected cell where the baseline had NaN)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
