"""Eproxy on NAS-Bench-201 / CIFAR-10: Spearman and Kendall vs test accuracy on a fixed seeded sample, and seconds
per architecture (issue 5). Resumable: every architecture's score is stored in SQLite as soon as it is computed;
rerun the same command to continue, or pass --report-only to tabulate whatever has finished.

    nice -n 10 .venv/bin/python benchmarks/eproxy_nb201.py --configs default,default-synthetic \
        --sample 1000 --exclude-dps nb201-dps --store /work/eproxy_runs/eproxy.db --out docs/results/eproxy

Each config is evaluated on the first --sample architectures of ``space.sample_many(seed=--sample-seed)`` that are
not labelled architectures of the named DPS runs, in that fixed order, so a partial run is a seeded random subset.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from pathlib import Path

import torch

from archrank import get_space
from archrank.bench.metrics import bootstrap_ci, spearman
from archrank.bench.tables import load_nb201_cifar10
from archrank.data import load_batch
from archrank.eproxy.evaluate import labelled_keys, rank_metrics, sample_eval_archs, score_archs, undefined_last
from archrank.eproxy.presets import resolve_config
from archrank.eproxy.store import EproxyStore


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="default,default-synthetic", help="Comma-separated presets or JSON files.")
    p.add_argument("--labels", default="", help="Comma-separated labels for the configs (default: the specs).")
    p.add_argument("--sample", type=int, default=1000)
    p.add_argument("--sample-seed", type=int, default=0)
    p.add_argument("--exclude-dps", default="", help="Comma-separated DPS run names whose labelled archs to exclude.")
    p.add_argument("--exclude-file", default="", help="File of arch keys to exclude (e.g. the pilot archs).")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-seed", type=int, default=0)
    p.add_argument("--store", default="eproxy.db")
    p.add_argument("--out", default="docs/results/eproxy")
    p.add_argument("--threads", type=int, default=1, help="1 is fastest on a shared, loaded machine.")
    p.add_argument("--device", default="cpu")
    p.add_argument("--report-every", type=int, default=50)
    p.add_argument("--report-only", action="store_true")
    return p.parse_args()


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    space = get_space("nb201")
    truth = load_nb201_cifar10(space)["cifar10_test_acc"]
    batch = load_batch("cifar10", None, batch_size=16, seed=args.batch_seed)
    specs = [s for s in args.configs.split(",") if s]
    labels = [s for s in args.labels.split(",") if s] or specs
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    with EproxyStore(args.store) as store:
        excluded: set[str] = set()
        for run in filter(None, args.exclude_dps.split(",")):
            info = store.dps_run(run)
            if info is None:
                raise SystemExit(f"no DPS run {run!r} in {args.store}")
            excluded |= {k for k, _ in info["labelled"]}
        if args.exclude_file:
            lines = Path(args.exclude_file).read_text().splitlines()
            excluded |= {ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")}
        for spec in specs:  # DPS result files name their labelled archs
            excluded |= labelled_keys(spec)
        archs = sample_eval_archs(space, args.sample, args.sample_seed, excluded)
        keys = [space.key(a) for a in archs]
        for spec, label in zip(specs, labels, strict=True):
            config = resolve_config(spec)
            if args.report_only:
                done = store.scores("nb201", config.key, args.seed, _digest(config, batch), keys)
                scored = [k for k in keys if k in done]
                records = done
            else:
                start = time.time()

                def report(i: int, rec: dict, label: str = label, start: float = start) -> None:
                    if (i + 1) % args.report_every == 0:
                        print(f"[{label}] {i + 1}/{len(archs)} archs, {time.time() - start:.0f}s", flush=True)

                records = score_archs(
                    space, archs, config, batch, seed=args.seed, device=args.device, store=store, progress=report
                )
                scored = keys
            rows.append(_row(label, spec, config, scored, records, truth))
            print(json.dumps(rows[-1]), flush=True)
    meta = {
        "sample": args.sample,
        "sample_seed": args.sample_seed,
        "excluded_dps_runs": args.exclude_dps,
        "excluded_file": args.exclude_file,
        "excluded_archs": len(excluded),
        "seed": args.seed,
        "batch": f"cifar10 train, 16 images, seed {args.batch_seed} (shared 5085-image subset)",
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    (out / "nb201_results.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    (out / "nb201_results.md").write_text(_markdown(rows, meta))


def _digest(config, batch) -> str:
    from archrank.eproxy.evaluate import input_hash

    return input_hash(config, batch)


def _row(label: str, spec: str, config, keys: list[str], records: dict, truth) -> dict:
    ok = [k for k in keys if records[k]["status"] == "ok"]
    values = undefined_last([records[k]["value"] if records[k]["status"] == "ok" else math.nan for k in keys])
    acc = [float(truth.loc[k]) for k in keys]
    metrics = rank_metrics([records[k]["value"] if records[k]["status"] == "ok" else math.nan for k in keys], acc)
    secs = [records[k]["seconds"] for k in keys if records[k]["seconds"] is not None]
    lo, hi = bootstrap_ci(spearman, values, acc, n_resamples=1000) if len(keys) > 2 else (math.nan, math.nan)
    return {
        "label": label,
        "config": spec,
        "config_key": config.key,
        "inputs": config.inputs,
        "n": len(keys),
        "ok": len(ok),
        "undefined_ranked_last": len(keys) - len(ok),
        "spearman": metrics["spearman"],
        "spearman_ci95": [lo, hi],
        "kendall": metrics["kendall"],
        "spearman_defined_only": metrics["spearman_defined"],
        "kendall_defined_only": metrics["kendall_defined"],
        "seconds_per_arch_mean": sum(secs) / max(1, len(secs)),
        "seconds_per_arch_median": sorted(secs)[len(secs) // 2] if secs else math.nan,
    }


def _markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        "# Eproxy on NAS-Bench-201 (CIFAR-10 test accuracy)",
        "",
        f"Sample: first N of a seeded sample (seed {meta['sample_seed']}) excluding {meta['excluded_archs']} DPS-"
        f"labelled / pilot archs; model/head seed {meta['seed']}; batch: {meta['batch']}; torch {meta['torch']}, "
        f"{meta['threads']} thread(s) on a shared 2-core machine.",
        "",
        "Undefined values (architectures whose features do not depend on the input) are ranked last; the last two",
        "metric columns omit them instead.",
        "",
        "| config | inputs | N | undefined | Spearman ρ (95% CI) | Kendall τ | ρ defined only | τ defined only "
        "| s/arch mean | s/arch median |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lo, hi = r["spearman_ci95"]
        lines.append(
            f"| {r['label']} | {r['inputs']} | {r['n']} | {r['undefined_ranked_last']} | {r['spearman']:.3f} "
            f"({lo:.3f}–{hi:.3f}) | {r['kendall']:.3f} | {r['spearman_defined_only']:.3f} | "
            f"{r['kendall_defined_only']:.3f} | {r['seconds_per_arch_mean']:.2f} | {r['seconds_per_arch_median']:.2f} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
