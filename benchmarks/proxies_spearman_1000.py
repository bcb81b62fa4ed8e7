"""Benchmark 3: Spearman ρ of every proxy vs CIFAR-10 test accuracy on 1000 seeded NAS-Bench-201 architectures.

A fixed seeded sample of 1000 NB201 indices (``random.Random(seed).sample``) is scored, in the sampled (random)
order, with every proxy of the engine (the 13 of NAS-Bench-Suite-Zero, ZiCo, MeCo, SWAP and the four AZ-NAS
components) fused in one ``score`` call per architecture on one fixed CIFAR-10 batch (PyTorch default
initialisation drawn with seed = NB201 index). Results are appended to a JSONL cache, so the run is resumable,
and the markdown table (docs/proxies_spearman_nb201.md) is rewritten every ``--report-every`` architectures: a
partial run reports an unbiased random subset and says how many architectures it covers.
Also reported: the AZ-NAS aggregate Σ_i log(rank_i / m) of its four components (Lee & Ham, CVPR 2024), undefined
components ranked last as in the official code.

    nohup nice -n 10 .venv/bin/python benchmarks/proxies_spearman_1000.py [--n 1000] &
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
from archrank.bench import aggregate
from archrank.data import load_batch
from archrank.proxies import SUITE_ZERO_PROXIES, get_proxy_info, list_proxies, proxy_config_hash, score
from proxies_common import (
    JsonlCache,
    build_seeded,
    default_cache,
    finite,
    fmt,
    load_nb201_table,
    require_data_root,
    spearman,
)

AZ = ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity")
ISSUE_PROXIES = (*SUITE_ZERO_PROXIES, "zico", "meco", "swap", *AZ)


def az_aggregate(rows: list[dict]) -> list[float]:
    """AZ-NAS: Σ_i log(rank_i / m), ranks ascending (higher proxy → higher rank). A component that is NaN (a
    disconnected cell, an identity block: −inf in the official code) ranks below every defined value, as there."""
    values = {name: [r["values"].get(name, math.nan) for r in rows] for name in AZ}
    return [float(v) for v in aggregate(values, method="nonlinear", nan_policy="worst")]


def rescore_cached(cache: JsonlCache, indices: list[int], names: list[str], space, batch) -> None:
    """Recompute ``names`` for cached architectures (same model seed and batch), keeping their other proxies.

    Each row records the config hash (which includes the implementation version) of what was rescored, so an
    interrupted rescore resumes and a later implementation change is rescored again."""
    versions = {name: proxy_config_hash(name, {}) for name in names}
    for done, index in enumerate(indices, 1):
        row = cache.rows[str(index)]
        already = row.get("rescored", {})
        if isinstance(already, dict) and all(already.get(name) == versions[name] for name in names):
            continue  # done by an interrupted earlier rescore of the same implementation versions
        model = build_seeded(space, space.from_index(index), index)
        results = score(model, names, batch=batch, seed=0, detailed=True)
        payload = {k: v for k, v in row.items() if k not in ("key", "meta")}
        for field in ("values", "status", "seconds"):
            payload[field] = dict(payload[field])
        for name, res in results.items():
            payload["values"][name] = res.value
            payload["status"][name] = res.status
            payload["seconds"][name] = res.seconds
        previous = row.get("rescored", {})
        payload["rescored"] = {**(previous if isinstance(previous, dict) else {}), **versions}
        cache.add(str(index), payload)
        if done % 100 == 0:
            print(f"  rescored {done}/{len(indices)}", flush=True)


def write_report(path: Path, rows: list[dict], table: list[dict], args: argparse.Namespace, batch_hash: str) -> None:
    acc = [table[r["index"]]["cifar10_test_acc"] for r in rows]
    proxies = list(rows[0]["values"]) if rows else []
    entries = []
    for name in proxies:
        vals = [r["values"][name] for r in rows]
        rho, n = spearman(vals, acc)
        nan = sum(1 for r in rows if r["status"][name] == "nan")
        failed = sum(1 for r in rows if r["status"][name] == "failed")
        secs = statistics.median(r["seconds"][name] for r in rows)
        entries.append((name, rho, n, nan, failed, secs))
    if all(a in proxies for a in AZ) and rows:
        rho, n = spearman(az_aggregate(rows), acc)
        entries.append(("AZ-NAS aggregate (derived)", rho, n, 0, 0, math.nan))
    entries.sort(key=lambda e: -e[1] if finite(e[1]) else math.inf)
    wall = [r["wall"] for r in rows]
    lines = [
        "# Spearman ρ of every proxy vs CIFAR-10 test accuracy on NAS-Bench-201",
        "",
        f"`nice -n 10 .venv/bin/python benchmarks/proxies_spearman_1000.py --n {args.n} --seed {args.seed} "
        f"--batch-size {args.batch_size}`",
        "",
        f"**{len(rows)} of {args.n}** architectures scored"
        + (
            " (run still in progress or stopped early: an unbiased random subset of the sample)"
            if len(rows) < args.n
            else ""
        )
        + f". Sample: `random.Random({args.seed}).sample(range(15625), {args.n})`, scored in that order; CIFAR-10 "
        f"training batch of {args.batch_size} (`load_batch('cifar10', batch_size={args.batch_size}, seed=0)`, hash "
        f"`{batch_hash}`); PyTorch default initialisation with seed = NB201 index; all proxies fused in one "
        "`archrank.score` call per architecture; target `cifar10_test_acc` of `nb201_cifar10.csv`. ρ over the "
        "architectures where the proxy is finite (n); NaN/failed counts are shown, never replaced by numbers.",
        "",
        "| proxy | ρ vs test acc | n | nan | failed | median attributed s | orientation |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, rho, n, nan, failed, secs in entries:
        try:
            info = get_proxy_info(name)
            orient = "negated" if info.negated else "as defined"
        except KeyError:
            orient = "derived"
        lines.append(f"| {name} | {fmt(rho)} | {n} | {nan} | {failed} | {fmt(secs, 2)} | {orient} |")
    rescored = sorted({name for r in rows for name in r.get("rescored", [])})
    if rescored:
        lines += [
            "",
            "Rescored on the same architectures, seeds and batch after an implementation change: "
            f"{', '.join(rescored)} ({sum(1 for r in rows if r.get('rescored'))} of {len(rows)} architectures; "
            "their seconds are from the rescoring call, which ran these proxies alone).",
        ]
    if wall:
        lines += [
            "",
            f"Median wall time per architecture (all proxies fused, nice 10 on a shared 2-core machine): "
            f"{statistics.median(wall):.1f} s.",
        ]
    lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--proxies",
        default=",".join(ISSUE_PROXIES),
        help="comma-separated names or wildcards (default: the 20 proxies of the engine; '*' adds any proxy "
        "registered by other packages)",
    )
    parser.add_argument("--report-every", type=int, default=10)
    parser.add_argument("--limit", type=int, default=None, help="score at most this many new architectures")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument(
        "--rescore",
        default="",
        help="comma-separated names or wildcards: recompute these proxies for the cached architectures (after an "
        "implementation change) and keep everything else",
    )
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "proxies_spearman_nb201.md"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    root = require_data_root()
    table = load_nb201_table(root)
    space = archrank.get_space("nb201")
    indices = random.Random(args.seed).sample(range(len(space)), args.n)
    proxies = [p for pattern in args.proxies.split(",") for p in list_proxies(pattern)]
    batch = load_batch("cifar10", root, batch_size=args.batch_size, seed=0)
    meta = {"batch": batch.content_hash, "proxies": proxies, "v": 1}
    cache = JsonlCache(args.cache or default_cache(f"proxies_spearman_bs{args.batch_size}"), meta)
    rescore = [p for pattern in filter(None, args.rescore.split(",")) for p in list_proxies(pattern)]
    if rescore:
        rescore_cached(cache, [i for i in indices if str(i) in cache], rescore, space, batch)
    todo = [i for i in indices if str(i) not in cache]
    if args.limit is not None:
        todo = todo[: args.limit]
    print(f"{len(indices) - len(todo)} cached, {len(todo)} to score; cache {cache.path}", flush=True)

    def rows() -> list[dict]:
        return [cache.rows[str(i)] for i in indices if str(i) in cache]

    start = time.perf_counter()
    for done, index in enumerate(todo, 1):
        model = build_seeded(space, space.from_index(index), index)
        t0 = time.perf_counter()
        results = score(model, proxies, batch=batch, seed=0, detailed=True)
        cache.add(
            str(index),
            {
                "index": index,
                "wall": time.perf_counter() - t0,
                "values": {k: r.value for k, r in results.items()},
                "status": {k: r.status for k, r in results.items()},
                "seconds": {k: r.seconds for k, r in results.items()},
            },
        )
        if done % args.report_every == 0 or done == len(todo):
            write_report(args.out, rows(), table, args, batch.content_hash)
            rate = (time.perf_counter() - start) / done
            print(f"  {len(rows())}/{args.n} scored, {rate:.1f} s/arch, report updated", flush=True)
    if not todo:
        write_report(args.out, rows(), table, args, batch.content_hash)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
