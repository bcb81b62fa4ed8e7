"""Benchmark 1: the 13 NAS-Bench-Suite-Zero proxies fused in one probe vs. run one at a time.

For a fixed seeded sample of NAS-Bench-201 architectures and one CIFAR-10 batch of 64 (2 CPU threads), three
modes on the same model and batch, in rotating order per architecture (to spread machine-load drift):

- ``fused``: ``score(model, SUITE_ZERO_PROXIES, batch)`` — one model copy, one shared forward + backward for all
  loss-gradient proxies, plus the passes that truly differ (synflow, GraSP's Hessian product, the input-Jacobian
  backward, Zen's perturbed forwards);
- ``reference``: the reference code's way (``proxies_reference_impl.py``): each proxy with its own model copy and
  its own full passes, as in Abdelfattah et al.'s code and NASLib;
- ``ours-separate``: ``score(model, [p], batch)`` per proxy — own copy and passes, but our per-proxy passes (e.g.
  GraSP in one forward, input-only Jacobian backward): the conservative baseline.

Printed per architecture and in total: wall and process-CPU seconds and the speed-ups; plus the largest relative
difference of values between fused and the two separate modes (Zen excluded from the reference comparison: its
random draws differ by construction).

    .venv/bin/python benchmarks/proxies_fused_vs_separate.py [--n 6] [--batch-size 64] [--threads 2]
"""

from __future__ import annotations

import os

# Sleep instead of spinning while an OpenMP thread waits for its sibling: on a machine shared with other jobs a
# spinning thread burns the core the sibling needs (measured: 2-thread NB201 passes up to 50x slower). Must be set
# before torch loads its OpenMP runtime; it changes no result.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import math
import random
import statistics
import sys
import time
from pathlib import Path

import torch

import archrank
from archrank.data import load_batch
from archrank.proxies import SUITE_ZERO_PROXIES, score
from proxies_common import build_seeded, require_data_root
from proxies_reference_impl import REFERENCE_IMPLS

MODES = ("fused", "reference", "ours-separate")


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def rel_diff(a: float, b: float) -> float:
    if math.isnan(a) and math.isnan(b):
        return 0.0
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def run_mode(mode: str, model, proxies, x, y):
    """Values per proxy and (wall, cpu) seconds per proxy (fused: one shared entry)."""
    if mode == "fused":
        values, w, c = timed(lambda: score(model, proxies, batch=(x, y), seed=0))
        return values, {"*": (w, c)}
    values, per = {}, {}
    for p in proxies:
        if mode == "reference":
            v, w, c = timed(lambda p=p: REFERENCE_IMPLS[p](model, x, y))
        else:
            res, w, c = timed(lambda p=p: score(model, [p], batch=(x, y), seed=0))
            v = res[p]
        values[p], per[p] = v, (w, c)
    return values, per


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=6, help="architectures (seeded sample of NB201)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "proxies_fused_vs_separate.md"
    )
    parser.add_argument("--exclude", default="", help="comma-separated proxies to leave out (e.g. grasp)")
    parser.add_argument(
        "--proxies",
        default="",
        help="comma-separated subset of the Suite-Zero proxies to compare (default: all 13), e.g. the zero-cost "
        "paper's seven: grad_norm,snip,grasp,fisher,jacov,synflow,plain",
    )
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = require_data_root()
    space = archrank.get_space("nb201")
    indices = sorted(random.Random(args.seed).sample(range(len(space)), args.n))
    x, y = load_batch("cifar10", root, batch_size=args.batch_size, seed=0)
    excluded = [p for p in args.exclude.split(",") if p]
    chosen = [p for p in args.proxies.split(",") if p]
    unknown = [p for p in chosen if p not in SUITE_ZERO_PROXIES]
    if unknown:
        parser.error(f"not Suite-Zero proxies: {', '.join(unknown)}")
    excluded += [p for p in SUITE_ZERO_PROXIES if chosen and p not in chosen]
    proxies = tuple(p for p in SUITE_ZERO_PROXIES if p not in excluded)
    load_before = os.getloadavg()
    print(f"{len(proxies)} proxies, {args.n} NB201 archs {indices}, batch {args.batch_size}, {args.threads} threads")
    print(f"load average before: {load_before[0]:.1f} (1 min), {load_before[1]:.1f} (5 min)")

    warm = build_seeded(space, space.from_index(indices[0]), 0)
    for mode in MODES:  # warm-up: allocator, oneDNN primitives
        run_mode(mode, warm, proxies, x, y)

    totals = {m: [] for m in MODES}  # per arch (wall, cpu)
    per_proxy = {m: {p: [] for p in proxies} for m in ("reference", "ours-separate")}
    worst = {"reference": (0.0, ""), "ours-separate": (0.0, "")}
    for i, index in enumerate(indices):
        model = build_seeded(space, space.from_index(index), index)
        order = MODES[i % 3 :] + MODES[: i % 3]
        values = {}
        for mode in order:
            vals, per = run_mode(mode, model, proxies, x, y)
            values[mode] = vals
            totals[mode].append((sum(v[0] for v in per.values()), sum(v[1] for v in per.values())))
            if mode != "fused":
                for p in proxies:
                    per_proxy[mode][p].append(per[p])
        for mode in ("reference", "ours-separate"):
            for p in proxies:
                if mode == "reference" and p == "zen":
                    continue
                d = rel_diff(values["fused"][p], values[mode][p])
                if d > worst[mode][0]:
                    worst[mode] = (d, p)
        f, r, s = (totals[m][-1] for m in MODES)
        print(
            f"  arch {index:5d}: fused {f[0]:6.2f} s wall / {f[1]:5.2f} s cpu | reference {r[0]:6.2f} / {r[1]:5.2f} "
            f"({r[1] / f[1]:.2f}x cpu) | ours-separate {s[0]:6.2f} / {s[1]:5.2f} ({s[1] / f[1]:.2f}x cpu)",
            flush=True,
        )
    load_after = os.getloadavg()

    def total(mode: str, k: int) -> float:
        return sum(t[k] for t in totals[mode])

    def med(mode: str, k: int) -> float:
        return statistics.median(t[k] for t in totals[mode])

    summary = []
    for mode in ("reference", "ours-separate"):
        summary.append(
            f"fused vs {mode}: {total(mode, 0) / total('fused', 0):.2f}x wall, "
            f"{total(mode, 1) / total('fused', 1):.2f}x cpu (sums over archs); "
            f"largest relative value difference {worst[mode][0]:.1e} ({worst[mode][1] or '-'})"
        )
    for line in summary:
        print(line)
    print(f"load average after: {load_after[0]:.1f}")

    if not args.no_write:
        lines = [
            f"# Fused vs one-at-a-time: {len(proxies)} NAS-Bench-Suite-Zero proxies"
            + (f" ({', '.join(proxies)})" if chosen else f" (without {', '.join(excluded)})" if excluded else ""),
            "",
            f"`.venv/bin/python benchmarks/proxies_fused_vs_separate.py --n {args.n} --batch-size {args.batch_size} "
            f"--threads {args.threads}{' --proxies ' + args.proxies if chosen else ''}"
            f"{' --exclude ' + args.exclude if args.exclude else ''}` — NB201 architectures "
            f"{indices} (seeded sample {args.seed}), CIFAR-10 batch of {args.batch_size}, torch {torch.__version__}, "
            f"{args.threads} threads, `OMP_WAIT_POLICY=PASSIVE`. "
            f"Shared 2-core machine: load average {load_before[0]:.1f} before, {load_after[0]:.1f} after, so wall "
            "times include waiting for other jobs; CPU = process CPU seconds (both threads), the more stable figure.",
            "",
            f"Modes: **fused** = one `score` call for all {len(proxies)}; **reference** = each proxy the reference "
            "code's way (own deep copy and full passes, `benchmarks/proxies_reference_impl.py`); **ours-separate** "
            "= one `score` call per proxy (own copy and passes, our per-proxy implementations).",
            "",
            "| arch | fused wall | fused cpu | reference wall | reference cpu | ours-sep. wall | ours-sep. cpu |",
            "|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for k, index in enumerate(indices):
            f, r, s = (totals[m][k] for m in MODES)
            lines.append(f"| {index} | {f[0]:.2f} | {f[1]:.2f} | {r[0]:.2f} | {r[1]:.2f} | {s[0]:.2f} | {s[1]:.2f} |")
        lines += [
            f"| **median** | {med('fused', 0):.2f} | {med('fused', 1):.2f} | {med('reference', 0):.2f} | "
            f"{med('reference', 1):.2f} | {med('ours-separate', 0):.2f} | {med('ours-separate', 1):.2f} |",
            "",
            *[f"- {line}" for line in summary],
            "",
            "Median seconds per proxy when run separately (wall / CPU):",
            "",
            "| proxy | reference wall | reference cpu | ours-separate wall | ours-separate cpu |",
            "|---|---:|---:|---:|---:|",
        ]
        for p in proxies:
            cells = []
            for mode in ("reference", "ours-separate"):
                cells.append(f"{statistics.median(v[0] for v in per_proxy[mode][p]):.3f}")
                cells.append(f"{statistics.median(v[1] for v in per_proxy[mode][p]):.3f}")
            lines.append(f"| {p} | " + " | ".join(cells) + " |")
        lines.append("")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
