"""The cross-space study (issue 14): score proxies on the ground-truth cells of every space, then evaluate.

Scoring goes through ``archrank score --with-truth`` into one results store, so the run is resumable: rerun the
same command after an interruption and only what is missing is scored. Work is done in **stages** so that a run
cut off at any point leaves a complete, smaller study rather than one deep space and nothing elsewhere: each
``--stage N:GROUP[:SPACES]`` scores, on every space (or the listed ones), the first N cells of the space's
seeded sample (``--sample N --sample-seed 0`` is prefix-consistent: the first 50 cells of a 300-cell sample are
the 50-cell sample) with the proxies of GROUP — ``core`` (the default ensemble's members, params, FLOPs and
every proxy of the shared gradient pass), ``quick`` (the core without GraSP: half the cost on NB101/NB301, a
quarter on TransNAS), ``grasp``, ``extra`` (the costly ones: swap, Eproxy, EZNAS) or ``all``. A space whose truth
file has at most N cells is scored whole. The evaluation is ``archrank evaluate --all-spaces``.

    python benchmarks/cross_space.py --store /work/stores/cross_space.db --out docs/results/cross_space \
        --spaces nb201,macro,nb101,nb301,tnb101-micro,nds-darts --batch nds-darts=16 --batch tnb101-micro=16 \
        --stage 50:core --stage 50:extra --stage 150:core --stage 300:core

``--export-scores`` writes each space's scores beside the report after every step (``scores_<space>.csv.gz``), so
the scores themselves can be committed as the study goes and any machine can continue it (``archrank merge``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from archrank.bench.ensemble import ENSEMBLE_PROXIES

# The default ensemble's members, params and FLOPs, and every proxy that shares the one gradient pass (they
# cost nothing extra once nwot/snip is computed) plus zen's cheap two forwards.
CORE = tuple(dict.fromkeys((*ENSEMBLE_PROXIES, "params", "flops", "nwot", "snip", "grad_norm", "jacov", "fisher",
                            "grasp", "plain", "epe_nas", "l2_norm", "zen")))
# The costly ones: swap's per-sample pass, Eproxy's 10 training steps and EZNAS's statistics pass.
EXTRA = ("swap", "eproxy", "eznas")
# GraSP's Hessian-gradient product (a double backward) is about half of the core's cost on NB101 and NB301 (measured:
# 59 of 113 s on a large NB101 cell, 6.6 of 17.5 s on a small one) and three quarters on TransNAS micro's 256×256
# inputs (≈45 s a cell for the core, ≈9-12 s without GraSP, one thread beside one other scoring job, session 25):
# ``quick`` is the core without it, so the default ensemble and the baselines reach a large n first; ``grasp`` adds
# it to the same cells later at no extra cost.
QUICK = tuple(p for p in CORE if p != "grasp")
GROUPS = {"core": CORE, "quick": QUICK, "grasp": ("grasp",), "extra": EXTRA, "all": CORE + EXTRA}


def truth_size(space: str) -> int:
    """Cells of the space's own ground-truth file that have a value."""
    from archrank.bench.truth import load_truth
    from archrank.spaces import get_space

    return int(load_truth("auto", get_space(space)).values.notna().sum())


def parse_stage(text: str, default_spaces: list[str]) -> tuple[int, tuple[str, ...], list[str]]:
    """``N:GROUP[:SPACE,SPACE]`` → (cells, proxies, spaces); one clear error for anything else."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0].isdigit() or parts[1] not in GROUPS:
        raise SystemExit(f"--stage {text!r}: expected N:GROUP[:SPACES] with GROUP one of {', '.join(GROUPS)}")
    spaces = parts[2].split(",") if len(parts) == 3 else default_spaces
    return int(parts[0]), GROUPS[parts[1]], spaces


def parse_batches(items: list[str]) -> dict[str, int]:
    """``SPACE=B`` items → per-space batch sizes."""
    out = {}
    for item in items:
        space, _, value = item.partition("=")
        if not value.isdigit():
            raise SystemExit(f"--batch {item!r}: expected SPACE=BATCH_SIZE")
        out[space] = int(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True)
    parser.add_argument("--out", default="docs/results/cross_space")
    parser.add_argument("--spaces", default="nb201,macro,nb101,nb301,tnb101-micro")
    parser.add_argument("--stage", action="append", default=[], help="N:GROUP[:SPACES] (repeatable, in order)")
    parser.add_argument("--data", default="cifar10")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batch", action="append", default=[], help="SPACE=BATCH_SIZE override (repeatable)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--evaluate-only", action="store_true")
    parser.add_argument("--no-evaluate", action="store_true", help="score only (e.g. a second process on the store)")
    parser.add_argument("--export-scores", action="store_true",
                        help="after each space of each stage, write its scores to OUT/scores_<space>.csv.gz "
                        "(what archrank merge reads back), so a run cut off loses nothing that was committed")
    args = parser.parse_args()
    spaces = args.spaces.split(",")
    stages = [parse_stage(s, spaces) for s in (args.stage or ["1000:all"])]
    batches = parse_batches(args.batch)
    exe = [sys.executable, "-m", "archrank.cli"]
    sizes: dict[str, int] = {}
    if not args.evaluate_only:
        for cells, proxies, stage_spaces in stages:
            for space in stage_spaces:
                n = sizes.setdefault(space, truth_size(space))
                selection = ["--all"] if n <= cells else ["--sample", str(cells)]
                cmd = [*exe, "score", "--space", space, "--with-truth", *selection, "--sample-seed", "0",
                       "--proxies", ",".join(proxies), "--data", args.data,
                       "--batch-size", str(batches.get(space, args.batch_size)),
                       "--workers", str(args.workers), "--store", args.store]
                print(f"[{time.strftime('%H:%M:%S')}] {space}: {n} truth cells; {' '.join(cmd[3:])}", flush=True)
                subprocess.run(cmd, check=False)
                if args.export_scores:
                    subprocess.run([*exe, "export", f"{args.out}/scores_{space}.csv.gz", "--space", space,
                                    "--store", args.store], check=False)
    if args.no_evaluate:
        return
    cmd = [*exe, "evaluate", "--all-spaces", "--store", args.store, "--out", args.out, "--bootstrap", "1000",
           "--labels", "10,20,50", "--repeats", "20"]
    print(f"[{time.strftime('%H:%M:%S')}] {' '.join(cmd[3:])}", flush=True)
    subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
