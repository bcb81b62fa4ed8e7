"""Evaluate every proxy in a results store over NAS-Bench-201 and write the report under docs/results/.

The scores come from the store (``archrank score --all ...``); the ground truth defaults to the shared NB201
table (NATS-Bench CIFAR-10 test accuracy, all 15625 cells) and can be any ``--truth`` spec of
``archrank evaluate`` (``analog`` = the pip-installable analog-nasbench training). Prints the headline
figures, the leave-one-out table of the default ensemble, and where the best label-free aggregate lands
against the 0.88 target (published: AZ-NAS 0.913, VKDNW 0.919).

    python benchmarks/evaluate_nb201.py --store archrank.db [--truth auto] [--sample 3000] \\
        [--out docs/results/nb201_cifar10]
"""

from __future__ import annotations

import argparse
import json
import shlex
import time

from archrank.bench.pipeline import run_evaluation

TARGET = 0.88


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", required=True, help="SQLite results store with NB201 scores.")
    parser.add_argument("--truth", default="auto", help="Ground-truth spec (see `archrank evaluate --help`).")
    parser.add_argument("--metric", default=None, help="Truth column (default: cifar10_test_acc for the table).")
    parser.add_argument("--out", default="docs/results/nb201_cifar10", help="Report folder.")
    parser.add_argument("--sample", type=int, default=None, help="Seeded random sample of N scored archs.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bootstrap", type=int, default=1000, help="Bootstrap resamples.")
    parser.add_argument("--proxies", default=None, help="Comma-separated proxies (default: all in the store).")
    parser.add_argument("--note", action="append", default=[], help="A line for the report's notes (repeatable).")
    parser.add_argument("--title", default="Zero-cost proxies on NAS-Bench-201 (CIFAR-10)", help="Report title.")
    args = parser.parse_args()
    start = time.perf_counter()
    ev, truth, written = run_evaluation(
        args.store, args.out, space_name="nb201", truth_spec=args.truth, metric=args.metric,
        proxies=args.proxies.split(",") if args.proxies else None, sample=args.sample, sample_seed=args.seed,
        title=args.title, target=TARGET, notes=args.note, n_boot=args.bootstrap, seed=args.seed,
        command="python benchmarks/evaluate_nb201.py " + " ".join(
            f"--{k} {shlex.quote(str(v))}" for k, v in vars(args).items() if v not in (None, []) and k != "note"),
    )
    print(f"ground truth: {truth.source}")
    print(ev.metrics[["kind", "n_used", "n_missing", "spearman", "spearman_lo", "spearman_hi", "kendall"]]
          .sort_values("spearman", ascending=False).round(4).to_string())
    if not ev.ablation.empty:
        print("\nleave-one-out (default ensemble):\n" + ev.ablation.round(4).to_string())
    summary = json.loads((written["summary.json"]).read_text())
    verdict = "meets" if summary.get("label_free_meets_target") else "misses"
    print(f"\nbest label-free aggregate {summary['best_label_free']}: ρ = {summary['best_label_free_spearman']:.4f} "
          f"over {summary['n_archs']} archs — {verdict} the {TARGET} target")
    print(f"report: {written['report.html']}  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
