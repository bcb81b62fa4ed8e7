"""Why some proxies agree poorly with NAS-Bench-Suite-Zero on NB101/NB301: batch size, batch and initialisation.

The cross-space study (issue 14) scores NB101 and NB301 on one CIFAR-10 batch of 64 images; Suite-Zero's reference
files were scored by NASLib on batches of 32 (its jacov values sit just below −32, and jacov ≤ −N for N samples),
on another batch and another random initialisation. This benchmark scores the same seeded subset of the
reference's cells three times — batch 64 (the study's setting), batch 32 (the reference's size), and batch 32 with
another batch and another initialisation (data seed + 1, init seed + 1) — and reports, per proxy shared with the
reference: ρ(ours, reference) at 64 and at 32, ρ(ours at 32, ours′ at 32) (how much agreement batch and
initialisation alone allow) and ρ(ours at 64, ours at 32). Each proxy's ρ against the file's accuracy is listed
for both sizes. GraSP is left out by default: its Hessian pass is most of the cost here, and its dependence on the
initialisation is already measured on NB201 (``docs/proxies_reference_agreement.md``: 0.71 with itself).
Resumable: per-cell results are appended to a JSONL cache and skipped on a rerun.

    OMP_NUM_THREADS=1 python benchmarks/proxies_reference_batch.py --space nb101 --n 30
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see proxies_reference_agreement.py

import argparse
import random
import time
from pathlib import Path

import torch

import archrank
from archrank.bench.reference import references_for
from archrank.data import load_batch
from archrank.proxies import score
from proxies_common import JsonlCache, build_seeded, default_cache, fmt, require_data_root, spearman

PROXIES = ("snip", "grad_norm", "fisher", "jacov", "epe_nas", "plain", "nwot", "synflow", "l2_norm")
SENTINEL = -1e8  # NASLib's replacement for a failed score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="nb101", help="a space with a Suite-Zero reference file (nb101, nb301)")
    parser.add_argument("--n", type=int, default=30, help="cells, a seeded subset of the reference file's")
    parser.add_argument("--subset-seed", type=int, default=0)
    parser.add_argument("--proxies", default=",".join(PROXIES))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="markdown file (default: print only)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = require_data_root()
    space = archrank.get_space(args.space)
    refs = references_for(space)
    if not refs:
        raise SystemExit(f"no Suite-Zero reference file for {args.space} under {root}")
    ref = refs[0]
    proxies = [p for p in args.proxies.split(",") if p in ref.scores.columns]
    keys = sorted(random.Random(args.subset_seed).sample(sorted(ref.scores.index), args.n))

    def run(batch_size: int, data_seed: int, init_seed: int) -> dict[str, dict[str, float]]:
        batch = load_batch("cifar10", root, batch_size=batch_size, seed=data_seed)
        meta = {"space": args.space, "batch": batch.content_hash, "init_seed": init_seed, "proxies": proxies, "v": 1}
        cache = JsonlCache(default_cache(f"reference_batch_{args.space}_bs{batch_size}_d{data_seed}_i{init_seed}"),
                           meta)
        todo = [k for k in keys if k not in cache]
        print(f"batch {batch_size} (data seed {data_seed}), init seed {init_seed}: {len(todo)} of {len(keys)} "
              f"cells to score", flush=True)
        start = time.perf_counter()
        for i, key in enumerate(todo, 1):
            model = build_seeded(space, space.parse(key), init_seed)
            values = score(model, proxies, batch=batch, seed=0)
            cache.add(key, {"values": {p: float(values[p]) for p in proxies}})
            print(f"  {i}/{len(todo)} ({(time.perf_counter() - start) / i:.1f} s/cell)", flush=True)
        return {k: cache.rows[k]["values"] for k in keys}

    at64, at32, again32 = run(64, 0, 0), run(32, 0, 0), run(32, 1, 1)
    accuracy = [float(ref.accuracy[k]) for k in keys]
    lines = [
        "| proxy | ρ(ours@64, ref) | ρ(ours@32, ref) | ρ(ours@32, ours′@32) | ρ(ours@64, ours@32) "
        "| ρ vs acc: ours@64 / ours@32 / ref |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for proxy in proxies:
        theirs = [float(ref.scores.at[k, proxy]) for k in keys]
        theirs = [float("nan") if v == SENTINEL else v for v in theirs]
        a64, a32, b32 = ([run_[k][proxy] for k in keys] for run_ in (at64, at32, again32))
        vs_acc = " / ".join(fmt(spearman(x, accuracy)[0], 2) for x in (a64, a32, theirs))
        lines.append(f"| {proxy} | {fmt(spearman(a64, theirs)[0])} | {fmt(spearman(a32, theirs)[0])} | "
                     f"{fmt(spearman(a32, b32)[0])} | {fmt(spearman(a64, a32)[0])} | {vs_acc} |")
    text = "\n".join([
        f"# Agreement with Suite-Zero's {args.space} reference: batch size, batch and initialisation",
        "",
        f"`OMP_NUM_THREADS=1 python benchmarks/proxies_reference_batch.py --space {args.space} --n {args.n}`: "
        f"{len(keys)} cells of `{ref.name}` (seeded subset, seed {args.subset_seed}), CIFAR-10 training batches "
        "(`load_batch('cifar10', batch_size=N, seed=s)`), PyTorch default initialisation with seed 0 (′: batch "
        "seed 1, init seed 1), proxies fused in one `archrank.score` call; reference: NASLib's stored scores (its "
        "own signs, so |ρ| is the agreement). Accuracy: the file's `val_accuracy`. Spearman over the cells where "
        "both are finite.",
        "",
        *lines,
        "",
    ])
    print(text)
    if args.out is not None:
        args.out.write_text(text)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
