"""The cross-space study (issue 14): score proxies on the ground-truth cells of every space, then evaluate.

Scoring goes through ``archrank score --with-truth`` into one results store, so the run is resumable: rerun the
same command after an interruption and only what is missing is scored. Spaces whose truth file is small are
scored whole; larger ones on a seeded sample (``--sample-large``). The evaluation is
``archrank evaluate --all-spaces`` into ``--out``.

    python benchmarks/cross_space.py --store /work/stores/cross_space.db --out docs/results/cross_space \
        --spaces macro,nb101,nb301,tnb101-micro,nb201 --workers 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from archrank.bench.ensemble import ENSEMBLE_PROXIES

BASE_PROXIES = ("params", "flops", "synflow", "nwot", "snip", "grad_norm", "jacov", "fisher", "l2_norm", "plain",
                "epe_nas", "zen", "swap")
# Spaces whose truth file has at most this many cells are scored whole.
SMALL = 1000


def truth_size(space: str) -> int:
    from archrank.bench.truth import load_truth
    from archrank.spaces import get_space

    return int(load_truth("auto", get_space(space)).values.notna().sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--out", default="docs/results/cross_space")
    parser.add_argument("--spaces", default="macro,nb101,nb301,tnb101-micro,nb201")
    parser.add_argument("--proxies", default=",".join(dict.fromkeys((*BASE_PROXIES, *ENSEMBLE_PROXIES))))
    parser.add_argument("--sample-large", type=int, default=SMALL, help="cells of a space with a larger truth file")
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--evaluate-only", action="store_true")
    args = parser.parse_args()
    exe = [sys.executable, "-m", "archrank.cli"]
    if not args.evaluate_only:
        for space in args.spaces.split(","):
            n = truth_size(space)
            selection = ["--all"] if n <= args.sample_large else ["--sample", str(args.sample_large)]
            cmd = [*exe, "score", "--space", space, "--with-truth", *selection, "--sample-seed", "0",
                   "--proxies", args.proxies, "--data", args.data, "--batch-size", str(args.batch_size),
                   "--workers", str(args.workers), "--store", args.store]
            print(f"[{time.strftime('%H:%M:%S')}] {space}: {n} truth cells; {' '.join(cmd[2:])}", flush=True)
            subprocess.run(cmd, check=False)
    cmd = [*exe, "evaluate", "--all-spaces", "--store", args.store, "--out", args.out, "--bootstrap", "1000",
           "--labels", "10,20,50", "--repeats", "20"]
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd[2:])}", flush=True)
    subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
