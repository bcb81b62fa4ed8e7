"""Seconds per architecture for the default ensemble (``archrank.ENSEMBLE_PROXIES``) on each search space, CPU.

For every space: ``--n`` seeded architectures (``space.sample_many(n, seed=0)``), each built at the space's own
defaults and scored with every ensemble proxy in one ``archrank.score_detailed`` call on one fixed batch; the
figure is the wall time of build + scoring per architecture (median and mean), with the status of every
proxy. Data: CIFAR-10 images for the 32×32 spaces (Gaussian noise when the shared data is absent); the spaces
whose benchmark images are not available here (TransNAS-Bench-101: Taskonomy, 256×256) get Gaussian inputs of
their input size. NB201 runs alongside as the reference, so the last column is a ratio measured in one run.
Results go to ``docs/results/spaces/cost.md``.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/spaces_cost.py [--spaces a,b] [--n 5] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections import Counter
from pathlib import Path

import torch

import archrank
from archrank import config, get_space
from archrank.data import load_batch
from archrank.runner import build_seeded

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "spaces"
DEFAULT_SPACES = "nb201,nb101,nb301,macro,tnb101-micro,tnb101-macro"


def space_batch(space: archrank.SearchSpace, batch_size: int) -> tuple[tuple[torch.Tensor, torch.Tensor], str]:
    """The batch a space is scored on, and its name for the report."""
    shape = tuple(space.input_shape)
    classes = max(space.num_classes, 1)
    if shape == (3, 32, 32) and config.data_root() is not None:
        batch = load_batch("cifar10", None, batch_size=batch_size, seed=0)
        labels = batch.y % classes
        return (batch.x, labels), "CIFAR-10 train images"
    batch = load_batch("synthetic", batch_size=batch_size, seed=0, shape=shape, num_classes=classes)
    return (batch.x, batch.y), f"Gaussian noise {shape[1]}×{shape[2]}"


def time_space(name: str, n: int, batch_size: int) -> dict[str, object]:
    space = get_space(name)
    archs = space.sample_many(n, seed=0)
    batch, data = space_batch(space, batch_size)
    seconds, statuses = [], Counter()
    reasons: dict[str, str] = {}
    for i, arch in enumerate(archs):
        start = time.perf_counter()
        model = build_seeded(space, arch, seed=i, num_classes=space.num_classes)
        results = archrank.score_detailed(model, archrank.ENSEMBLE_PROXIES, batch=batch, seed=0)
        seconds.append(time.perf_counter() - start)
        for proxy, result in results.items():
            statuses[result.status] += 1
            if result.status != "ok" and result.reason:
                reasons.setdefault(proxy, result.reason)
        print(f"{name:14s} arch {i}: {seconds[-1]:.2f} s", flush=True)
    return {
        "space": name, "n": n, "batch": batch_size, "data": data, "median": statistics.median(seconds),
        "mean": statistics.fmean(seconds), "statuses": dict(statuses), "reasons": reasons,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default=DEFAULT_SPACES)
    parser.add_argument("--n", type=int, default=5, help="Architectures per space.")
    parser.add_argument("--batch-size", type=int, default=64, help="Batch size for the 32×32 spaces.")
    parser.add_argument("--large-batch-size", type=int, default=16,
                        help="Batch size for spaces with larger inputs (TransNAS-Bench-101: 256×256).")
    parser.add_argument("--threads", type=int, default=1, help="torch threads.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = [s.strip() for s in args.spaces.split(",") if s.strip()]
    rows: list[dict[str, object]] = []
    for name in names:
        large = tuple(get_space(name).input_shape)[1] > 32
        rows.append(time_space(name, args.n, args.large_batch_size if large else args.batch_size))
        out = write_report(rows, args, complete=len(rows) == len(names))
    print(out.read_text())


def write_report(rows: list[dict[str, object]], args: argparse.Namespace, complete: bool) -> Path:
    """``cost.md`` from the spaces timed so far (rewritten after each space, so a long run keeps its part)."""
    reference = next((r["median"] for r in rows if r["space"] == "nb201"), None)
    lines = [
        "# Seconds per architecture for the default ensemble, per search space (CPU)",
        "",
        f"Produced by `benchmarks/spaces_cost.py --spaces {args.spaces} --n {args.n} --batch-size "
        f"{args.batch_size} --large-batch-size {args.large_batch_size} --threads {args.threads}`. Ensemble: "
        f"{', '.join(archrank.ENSEMBLE_PROXIES)}, all in one `score_detailed` call per architecture; time = "
        "model build + scoring. Machine: "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} torch "
        "thread(s), **shared with other jobs** (2 cores), so absolute figures are noisy; ratios to NB201 come "
        f"from the same run. Small n ({args.n} seeded archs per space) because the machine is shared.",
        "",
        "| space | archs | batch | data | median s/arch | mean s/arch | × NB201 (median) | proxy results |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = "" if reference is None else f"{r['median'] / reference:.1f}"
        status = ", ".join(f"{k} {v}" for k, v in sorted(r["statuses"].items()))
        lines.append(f"| {r['space']} | {r['n']} | {r['batch']} | {r['data']} | {r['median']:.2f} | "
                     f"{r['mean']:.2f} | {ratio} | {status} |")
    for r in rows:
        for proxy, reason in r["reasons"].items():
            lines.append(f"\n- {r['space']} {proxy}: {reason}")
    if not complete:
        lines.append("\n(partial: the run was still going when this was written)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "cost.md"
    out.write_text("\n".join(lines) + "\n")
    return out


if __name__ == "__main__":
    main()
