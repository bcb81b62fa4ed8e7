"""Agreement of archrank's proxies with NASLib's NAS-Bench-Suite-Zero scores on NAS-Bench-201 / CIFAR-10.

For the 725 architectures of ``suite_zero_nb201_cifar10.json`` (or a fixed seeded subset, ``--n``) every proxy
both sides share is scored fused on one fixed CIFAR-10 batch; reported per proxy: Spearman(ours, NASLib),
Spearman(ours, cifar10_test_acc) next to Spearman(NASLib, cifar10_test_acc), and an exactness check of params
and FLOPs. Writes docs/proxies_reference_agreement.md. Resumable: per-architecture results are appended to a
JSONL cache (``--cache``) and skipped on a rerun.

Batch size defaults to 32: NASLib's jacov values are ≤ −32.23 and jacov ≤ −N for N samples, and their nwot
magnitudes match N = 32, so the reference batch held 32 images.

    .venv/bin/python benchmarks/proxies_reference_agreement.py [--n 725] [--batch-size 32]
"""

from __future__ import annotations

import os

# Sleep instead of spinning while an OpenMP thread waits for its sibling: on a machine shared with other jobs a
# spinning thread burns the core the sibling needs (measured: 2-thread NB201 passes up to 50x slower). Must be set
# before torch loads its OpenMP runtime; it changes no result.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import random
import sys
import time
from pathlib import Path

import torch

import archrank
from archrank.data import load_batch
from archrank.proxies import SUITE_ZERO_PROXIES, score
from proxies_common import (
    JsonlCache,
    build_seeded,
    default_cache,
    finite,
    fmt,
    load_nb201_table,
    load_suite_zero,
    require_data_root,
    spearman,
)

SHARED = tuple(p for p in SUITE_ZERO_PROXIES if p != "zen")  # the reference file has no zen scores
SENTINEL = -1e8  # NASLib's replacement for a failed score


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=725, help="architectures (a seeded subset when < 725)")
    parser.add_argument("--subset-seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--data-seed", type=int, default=0)
    parser.add_argument("--init-seed", type=int, default=0, help="network init seed = this + NB201 index")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument(
        "--out", type=Path, default=Path(__file__).resolve().parents[1] / "docs" / "proxies_reference_agreement.md"
    )
    parser.add_argument("--no-write", action="store_true", help="print only, do not write the markdown")
    parser.add_argument(
        "--replicate",
        action="store_true",
        help="also score with another batch (data seed + 1) and another initialisation (init seed + 100003): "
        "ρ(ours, ours′) is the agreement that batch and initialisation alone allow",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    root = require_data_root()
    table = load_nb201_table(root)
    reference = load_suite_zero(root)
    space = archrank.get_space("nb201")
    keys = sorted(reference)
    if args.n < len(keys):
        keys = sorted(random.Random(args.subset_seed).sample(keys, args.n))

    def run(data_seed: int, init_seed: int) -> list[dict]:
        batch = load_batch("cifar10", root, batch_size=args.batch_size, seed=data_seed)
        meta = {
            "batch": batch.content_hash,
            "batch_size": args.batch_size,
            "init_seed": init_seed,
            "proxies": list(SHARED),
            "v": 1,
        }
        cache = JsonlCache(args.cache or default_cache(f"proxies_agreement_bs{args.batch_size}"), meta)
        print(f"{len(keys)} architectures, batch {batch.content_hash} (N={args.batch_size}), init seed {init_seed}")
        todo = [k for k in keys if k not in cache]
        start = time.perf_counter()
        for i, key in enumerate(todo, 1):
            arch = space.parse(key)
            index = space.index(arch)
            model = build_seeded(space, arch, init_seed + index)
            t0 = time.perf_counter()
            results = score(model, SHARED, batch=batch, seed=0, device=args.device, detailed=True)
            elapsed = time.perf_counter() - t0
            cache.add(
                key,
                {
                    "index": index,
                    "seconds": elapsed,
                    "values": {k: r.value for k, r in results.items()},
                    "status": {k: r.status for k, r in results.items()},
                },
            )
            if i % 10 == 0 or i == len(todo):
                rate = (time.perf_counter() - start) / i
                left = rate * (len(todo) - i) / 60
                print(f"  {i}/{len(todo)} scored, {rate:.2f} s/arch, ~{left:.1f} min left", flush=True)
        return [cache.rows[k] for k in keys], batch.content_hash

    rows, batch_hash = run(args.data_seed, args.init_seed)
    replica = run(args.data_seed + 1, args.init_seed + 100_003)[0] if args.replicate else None
    acc = [table[r["index"]]["cifar10_test_acc"] for r in rows]
    lines = []
    header = (
        "| proxy | n | ρ(ours, NASLib) | ρ(ours, test acc) | ρ(NASLib, test acc) | our nan/failed | NASLib failed |"
    )
    if replica is not None:
        header += " ρ(ours, ours′) |"
    lines += [header, "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if replica is not None else "")]
    summary = {}
    for proxy in SHARED:
        ours = [r["values"][proxy] for r in rows]
        theirs = [reference[k].get(proxy, float("nan")) for k in keys]
        theirs = [v if finite(v) and v != SENTINEL else float("nan") for v in theirs]
        rho_ref, n_ref = spearman(ours, theirs)
        rho_ours, _ = spearman(ours, acc)
        rho_theirs, _ = spearman(theirs, acc)
        bad_ours = sum(1 for r in rows if r["status"][proxy] != "ok")
        bad_theirs = sum(1 for v in theirs if not finite(v))
        summary[proxy] = (rho_ref, rho_ours, rho_theirs)
        line = (
            f"| {proxy} | {n_ref} | {fmt(rho_ref)} | {fmt(rho_ours)} | {fmt(rho_theirs)} | {bad_ours} | {bad_theirs} |"
        )
        if replica is not None:
            line += f" {fmt(spearman(ours, [r['values'][proxy] for r in replica])[0])} |"
        lines.append(line)

    exact = {}
    for proxy, column, scale in (("params", "params_M", 1e6), ("flops", "flops_M", 1e6)):
        ours_m = [r["values"][proxy] / scale for r in rows]
        theirs = [reference[k].get(proxy, float("nan")) for k in keys]
        table_m = [table[r["index"]][column] for r in rows]
        same_ref = sum(1 for a, b in zip(ours_m, theirs, strict=True) if finite(b) and round(a, 6) == round(b, 6))
        same_tab = sum(1 for a, b in zip(ours_m, table_m, strict=True) if round(a, 6) == round(b, 6))
        exact[proxy] = (same_ref, same_tab, len(rows))

    seconds = [r["seconds"] for r in rows]
    print("\n".join(lines))
    for proxy, (same_ref, same_tab, n) in exact.items():
        print(f"{proxy}: {same_ref}/{n} equal NASLib's value, {same_tab}/{n} equal the NB201 table (in millions)")
    print(f"fused scoring of the 12 proxies: median {sorted(seconds)[len(seconds) // 2]:.2f} s/arch")

    if not args.no_write:
        doc = [
            "# Agreement with NAS-Bench-Suite-Zero (NASLib) on NAS-Bench-201 / CIFAR-10",
            "",
            f"Generated by `benchmarks/proxies_reference_agreement.py --n {args.n} --batch-size {args.batch_size}` "
            f"on {len(rows)} of the 725 architectures of `suite_zero_nb201_cifar10.json`"
            + (" (a fixed seeded subset)" if len(rows) < 725 else "")
            + ".",
            "",
            f"Our side: one fixed CIFAR-10 training batch of {args.batch_size} images "
            f"(`load_batch('cifar10', batch_size={args.batch_size}, seed={args.data_seed})`, content hash "
            f"`{batch_hash}`), PyTorch default initialisation drawn with seed {args.init_seed} + NB201 index, "
            "all 12 proxies fused in one `archrank.score` call per architecture. NASLib's side: its stored scores "
            "(another random batch, another random initialisation per architecture). Spearman ρ is computed over "
            "the architectures where both values are finite; NASLib's failure sentinel −1e8 and −inf count as "
            "failed. Test accuracy: `cifar10_test_acc` of `nb201_cifar10.csv`."
            + (
                " ρ(ours, ours′): our scores against our own scores with another batch (data seed + 1) and another "
                "initialisation — how much agreement batch and initialisation alone allow."
                if replica is not None
                else ""
            ),
            "",
            *lines,
            "",
            "Exactness of the cost proxies (compared in millions, rounded to 6 decimals as NASLib stores them):",
            "",
        ]
        for proxy, (same_ref, same_tab, n) in exact.items():
            doc.append(f"- `{proxy}`: {same_ref}/{n} equal NASLib's value; {same_tab}/{n} equal the NB201 table.")
        doc += [
            "",
            f"Median fused time for the 12 proxies: {sorted(seconds)[len(seconds) // 2]:.2f} s per architecture "
            f"({args.threads} CPU threads, batch {args.batch_size}; shared 2-core machine).",
            "",
            "See docs/proxies.md for why some agreements are below 0.9.",
            "",
        ]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(doc))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
