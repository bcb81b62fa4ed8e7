"""Benchmark 2: seconds per NAS-Bench-201 architecture for a proxy set, and the projected time for all 15625.

Per architecture it times what a scoring run pays: building the network plus one fused ``score`` call on a
CIFAR-10 batch (default: the CLI's ``DEFAULT_PROXIES``, batch 64, 2 threads). Reported: median / mean / p90
wall and process-CPU seconds, per-proxy attributed seconds, and the projection mean × 15625. On a machine shared
with other jobs the wall figures include waiting; CPU seconds / threads is the ideal wall time on dedicated
cores, so both projections are printed together with the load average.

    .venv/bin/python benchmarks/proxies_throughput.py [--n 20] [--proxies nwot,synflow,...] [--threads 2]
"""

from __future__ import annotations

import os

# Sleep instead of spinning while an OpenMP thread waits for its sibling: on a machine shared with other jobs a
# spinning thread burns the core the sibling needs (measured: 2-thread NB201 passes up to 50x slower). Must be set
# before torch loads its OpenMP runtime; it changes no result.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

import torch

import archrank
from archrank.data import load_batch
from archrank.proxies import DEFAULT_PROXIES, resolve_proxies, score
from proxies_common import build_seeded, require_data_root

NB201_SIZE = 15625


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--proxies", default=",".join(DEFAULT_PROXIES), help="comma-separated names or wildcards")
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "proxies_throughput.md"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--append", action="store_true", help="add a section to an existing report")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = require_data_root()
    space = archrank.get_space("nb201")
    proxies = [key for key, _ in resolve_proxies(args.proxies.split(","))]
    indices = sorted(random.Random(args.seed).sample(range(len(space)), args.n))
    batch = load_batch("cifar10", root, batch_size=args.batch_size, seed=0)
    load_before = os.getloadavg()
    print(f"proxies: {', '.join(proxies)}")
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else "cpu"
    print(
        f"{args.n} NB201 archs, batch {args.batch_size}, {args.threads} threads, device {where}, "
        f"load average {load_before[0]:.1f}"
    )
    device = args.device

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize(device)

    for _ in range(3 if device.startswith("cuda") else 1):  # warm-up (CUDA: context, kernels, allocator)
        score(build_seeded(space, space.from_index(indices[0]), 0), proxies, batch=batch, device=device)
    sync()

    walls, cpus = [], []
    per: dict[str, list[float]] = {p: [] for p in proxies}
    statuses: dict[str, int] = {}
    for index in indices:
        w0, c0 = time.perf_counter(), time.process_time()
        model = build_seeded(space, space.from_index(index), index)
        results = score(model, proxies, batch=batch, seed=0, detailed=True, device=device)
        sync()
        walls.append(time.perf_counter() - w0)
        cpus.append(time.process_time() - c0)
        for p, r in results.items():
            per[p].append(r.seconds)
            statuses[r.status] = statuses.get(r.status, 0) + 1
        print(f"  arch {index:5d}: {walls[-1]:6.2f} s wall, {cpus[-1]:6.2f} s cpu", flush=True)
    load_after = os.getloadavg()

    def p90(v: list[float]) -> float:
        return sorted(v)[min(len(v) - 1, int(0.9 * len(v)))]

    mean_w, mean_c = statistics.mean(walls), statistics.mean(cpus)
    proj_wall_h = mean_w * NB201_SIZE / 3600
    proj_cpu_h = mean_c / args.threads * NB201_SIZE / 3600
    summary = [
        f"wall s/arch: median {statistics.median(walls):.3f}, mean {mean_w:.3f}, p90 {p90(walls):.3f} "
        f"({1 / mean_w:.1f} archs/s in one process)",
        f"cpu  s/arch: median {statistics.median(cpus):.2f}, mean {mean_c:.2f}, p90 {p90(cpus):.2f}",
        f"projected for all {NB201_SIZE} archs: {proj_wall_h:.2f} h at the measured wall rate; "
        f"{proj_cpu_h:.2f} h at cpu/{args.threads} (dedicated cores)",
        f"statuses: {statuses}; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after",
    ]
    print("\n".join(summary))
    print("attributed seconds per proxy (median):")
    for p in proxies:
        print(f"  {p:18s} {statistics.median(per[p]):.3f}")

    if not args.no_write:
        lines = [
            "# Scoring throughput on NAS-Bench-201",
            "",
            f"`.venv/bin/python benchmarks/proxies_throughput.py --n {args.n} --batch-size {args.batch_size} "
            f"--threads {args.threads} --device {args.device} --proxies {','.join(proxies)}`",
            "",
            f"{args.n} NB201 architectures (seeded sample {args.seed}), CIFAR-10 batch of {args.batch_size}, "
            f"{args.threads} torch threads, device {where}, torch {torch.__version__}; "
            "time per architecture = build the network + one fused `score` call. The machine is shared with other jobs "
            f"(load average {load_before[0]:.1f} before, {load_after[0]:.1f} after).",
            "",
            *[f"- {line}" for line in summary],
            "",
            "| proxy | attributed s (median) |",
            "|---|---:|",
            *[f"| {p} | {statistics.median(per[p]):.3f} |" for p in proxies],
            "",
        ]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.append and args.out.exists():
            lines = [args.out.read_text().rstrip("\n"), "", f"## {len(proxies)} proxies", "", *lines[2:]]
        args.out.write_text("\n".join(lines))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
