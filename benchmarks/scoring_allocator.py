"""CPU cost of scoring large networks with glibc's default allocator vs one told to keep freed memory.

Large activations (NB101 at batch 64: tens of MB each) are above glibc's mmap threshold, so every free returns them
to the kernel and the next pass faults them back in, page by page: kernel (sys) time, not arithmetic. The
environment variables below make glibc keep freed memory for reuse. They are process-wide allocator settings, so
archrank never sets them itself; this benchmark measures what they buy, side by side, on the same cells:

    OMP_NUM_THREADS=1 python benchmarks/scoring_allocator.py --space nb101 --n 3

Each variant runs in its own process (the variables are read when the process starts) and scores the same seeded
cells with the cross-space study's core proxies (``benchmarks/cross_space.py``: CORE) on one CIFAR-10 batch (seed 0)
resized to the space's input as ``archrank score`` does (256×256 on TransNAS, 224×224 on NDS), one torch thread.
Printed per cell: user and sys CPU seconds and minor page faults; then the totals and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

KEEP_FREED_MEMORY = {
    "MALLOC_MMAP_THRESHOLD_": str(4 << 30),  # no mmap for blocks under 4 GiB: they come from the reusable heap
    "MALLOC_TRIM_THRESHOLD_": str(64 << 30),  # never hand the heap's top back to the kernel
    "MALLOC_TOP_PAD_": str(1 << 30),  # grow the heap 1 GiB at a time
}


def child(space_name: str, n: int, batch_size: int) -> None:
    """Score ``n`` cells here and print one JSON line per cell (user s, sys s, minor faults)."""
    import torch

    import archrank
    from archrank import get_space
    from archrank.cli.options import load_batch
    from archrank.seeding import build_seeded

    sys.path.insert(0, str(Path(__file__).parent))
    from cross_space import CORE

    torch.set_num_threads(1)
    space = get_space(space_name)
    batch = load_batch("cifar10", batch_size, seed=0, input_shape=tuple(space.input_shape))  # as `archrank score`
    for arch in space.sample_many(n, seed=0):
        before = resource.getrusage(resource.RUSAGE_SELF)
        archrank.score_detailed(build_seeded(space, arch, seed=0), list(CORE), batch, seed=0)
        after = resource.getrusage(resource.RUSAGE_SELF)
        print(json.dumps({"user": after.ru_utime - before.ru_utime, "sys": after.ru_stime - before.ru_stime,
                          "faults": after.ru_minflt - before.ru_minflt}), flush=True)


def run_variant(name: str, extra_env: dict[str, str], args: argparse.Namespace) -> list[dict[str, float]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")} | extra_env | {"OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--child", "--space", args.space, "--n", str(args.n),
           "--batch-size", str(args.batch_size)]
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    for i, row in enumerate(rows):
        print(f"{name:18s} cell {i}: user {row['user']:6.1f} s  sys {row['sys']:6.1f} s  "
              f"minor faults {row['faults']:>9,d}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--space", default="nb101")
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.space, args.n, args.batch_size)
        return
    print(f"{args.space}, {args.n} cells (sample_many seed 0), core proxies, batch {args.batch_size}, 1 thread; "
          f"load average {os.getloadavg()[0]:.1f}")
    totals = {}
    for name, env in (("glibc default", {}), ("keep freed memory", KEEP_FREED_MEMORY)):
        rows = run_variant(name, env, args)
        totals[name] = (sum(r["user"] for r in rows), sum(r["sys"] for r in rows))
    for name, (user, system) in totals.items():
        print(f"{name:18s} total: user {user:.1f} s + sys {system:.1f} s = {user + system:.1f} CPU s")
    base, tuned = (sum(totals[k]) for k in ("glibc default", "keep freed memory"))
    print(f"CPU seconds, default / keep freed memory: {base / tuned:.2f}x  "
          f"({' '.join(f'{k}={v}' for k, v in KEEP_FREED_MEMORY.items())})")


if __name__ == "__main__":
    main()
