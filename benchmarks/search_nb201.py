"""Proxy-guided search on NAS-Bench-201 CIFAR-10 with the benchmark table as oracle.

For each algorithm (random, rea, reinforce, predictor) and each variant (plain, +warmup, +warmup+move; random
search has no mutation, so no move variant) run ``--seeds`` seeds and report

1. the median number of trained architectures until the incumbent (best by validation so far) is in the top
   0.1 % of the space by test accuracy (also: until any trained architecture is), with the simulated cost;
2. the median test accuracy of the incumbent after 50 / 100 / 300 trained architectures;

and plot median / inter-quartile trajectories against trained architectures and simulated cost. Each run
continues past 300 queries only until it reaches the top 0.1 %, at most ``--max-budget`` queries.

Proxy: ``--proxy params`` / ``flops`` come from the table's ``params_M`` / ``flops_M`` columns (charged
``--proxy-seconds`` per architecture scored; computing either for one NB201 cell takes about 0.01 s on one CPU
thread). Any engine proxy works once its scores for the whole space are in a results store, e.g.
``archrank score --space nb201 --all --proxies synflow --store scores.db`` then
``--scores-store scores.db --proxy synflow`` (charged the seconds recorded with each score).

    nice -n 10 python benchmarks/search_nb201.py --proxy params --seeds 30 --workers 2
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from archrank import config, get_space, search
from archrank.search.history import History
from archrank.search.plots import plot_trajectories, trajectories_frame
from archrank.search.run import DEFAULT_MOVE_RANDOM_PROB

ALGORITHMS = ("random", "rea", "reinforce", "predictor")
VARIANTS = ("plain", "+warmup", "+warmup+move")
REPORT_STEPS = (50, 100, 300)
TOP_FRACTION = 0.001


@dataclass(frozen=True)
class Job:
    algorithm: str
    variant: str
    seed: int


class ReachedTop:
    """``until`` callback: stop once ``min_steps`` are done and the incumbent is in the top (incremental)."""

    def __init__(self, threshold: float, min_steps: int) -> None:
        self.threshold, self.min_steps = threshold, min_steps
        self.seen, self.best_valid, self.reached = 0, -math.inf, False

    def __call__(self, hist: History) -> bool:
        for query in hist.queries[self.seen :]:
            if query.valid > self.best_valid:
                self.best_valid = query.valid
                self.reached = query.test >= self.threshold
        self.seen = len(hist.queries)
        return self.reached and self.seen >= self.min_steps


# worker state, set once per process by _init (the table and the proxy are loaded once per worker)
_STATE: dict[str, Any] = {}


def _init(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    space = get_space("nb201")
    oracle = search.TableOracle.nb201_cifar10(space, args.data)
    if args.scores_store:
        scorer: search.ProxyScorer = search.TableScorer.from_store(args.scores_store, space, args.proxy)
    else:
        scorer = search.resolve_scorer(args.proxy, space, oracle, table_seconds=args.proxy_seconds)
        if not isinstance(scorer, search.TableScorer):
            raise SystemExit(f"--proxy {args.proxy} is not a table column; give --scores-store with its scores")
    _STATE.update(space=space, oracle=oracle, scorer=scorer, args=args,
                  threshold=oracle.top_threshold(TOP_FRACTION))


def fresh_scorer() -> search.ProxyScorer:
    """A copy of the loaded scorer with an empty cache and cost meter (one per run)."""
    return _STATE["scorer"].fork()


def run_job(job: Job) -> tuple[Job, History, float]:
    args = _STATE["args"]
    kwargs: dict[str, Any] = {}
    if job.variant != "plain":
        kwargs["warmup"] = (args.proxy, args.warmup_n)
    if job.variant == "+warmup+move":
        kwargs["move"] = args.proxy
    start = time.perf_counter()
    hist = search.run(
        _STATE["space"], job.algorithm, _STATE["oracle"], budget=args.max_budget, seed=job.seed,
        proxy_scorer=fresh_scorer(), move_random_prob=args.move_random_prob,
        until=ReachedTop(_STATE["threshold"], max(REPORT_STEPS)), **kwargs,
    )
    return job, hist, time.perf_counter() - start


def incumbent_at(hist: History, steps: Sequence[int]) -> list[float]:
    test = hist.incumbent()[1]
    return [float(test[min(s, len(test)) - 1]) for s in steps]


def fmt_count(values: Sequence[float], cap: int) -> str:
    arr = np.array(values, dtype=float)
    reached = int(np.sum(np.isfinite(arr)))
    med = float(np.median(arr))
    q25, q75 = np.percentile(arr, [25, 75])
    text = f">{cap}" if not math.isfinite(med) else f"{med:.0f}"
    iqr = f"{q25:.0f}–{q75:.0f}" if math.isfinite(q75) else f"{q25:.0f}–>{cap}" if math.isfinite(q25) else "—"
    return f"{text} ({iqr}){'' if reached == len(arr) else f' [{reached}/{len(arr)} reached]'}"


def summarise(results: list[tuple[Job, History, float]], threshold: float, cap: int) -> dict[str, Any]:
    rows = []
    for job, hist, seconds in results:
        inc = hist.first_reach(threshold)
        anyq = hist.first_reach(threshold, incumbent=False)
        cost = hist.queries[inc - 1].cumulative_cost_s / 3600 if inc else math.inf
        rows.append({"algorithm": job.algorithm, "variant": job.variant, "seed": job.seed,
                     "reach_incumbent": inc or math.inf, "reach_any": anyq or math.inf, "reach_cost_h": cost,
                     **{f"acc@{s}": v for s, v in zip(REPORT_STEPS, incumbent_at(hist, REPORT_STEPS), strict=True)},
                     "trained": len(hist), "stopped": hist.stopped, "wall_s": seconds})
    frame = pd.DataFrame(rows)
    reach, accs = [], []
    for algorithm in ALGORITHMS:
        for variant in VARIANTS:
            part = frame[(frame["algorithm"] == algorithm) & (frame["variant"] == variant)]
            if part.empty:
                continue
            reach.append({"algorithm": algorithm, "variant": variant, "n": len(part),
                          "median_reach_incumbent": float(np.median(part["reach_incumbent"])),
                          "reach_incumbent": fmt_count(part["reach_incumbent"].tolist(), cap),
                          "reach_any": fmt_count(part["reach_any"].tolist(), cap),
                          "cost_h": float(np.median(part["reach_cost_h"]))})
            accs.append({"algorithm": algorithm, "variant": variant,
                         **{f"acc@{s}": float(np.median(part[f"acc@{s}"])) for s in REPORT_STEPS}})
    return {"runs": frame, "reach": pd.DataFrame(reach), "acc": pd.DataFrame(accs)}


def markdown(summary: dict[str, Any], args: argparse.Namespace, threshold: float, proxy_note: str,
             plots: list[Path], wall: float, command: str) -> str:
    reach, acc = summary["reach"], summary["acc"]
    base = reach[(reach["algorithm"] == "rea") & (reach["variant"] == "plain")]["median_reach_incumbent"]
    base_value = float(base.iloc[0]) if len(base) else math.nan
    lines = [
        f"# Proxy-guided search on NAS-Bench-201 CIFAR-10 — proxy `{args.proxy}`",
        "",
        f"Generated by `benchmarks/search_nb201.py` in {wall / 60:.1f} min. Command:",
        "",
        f"    {command}",
        "",
        "Setup",
        "",
        "- Oracle: the shared NB201 CIFAR-10 table (15625 cells): `cifar10_valid_acc` is searched, `cifar10_test_acc`"
        " reported, `cifar10valid_train_time_200ep_s` is the cost of one trained architecture.",
        f"- Proxy: {proxy_note} Warmup scores {args.warmup_n} random cells and seeds the algorithm with the best;"
        f" move proposal takes the best-scored untrained neighbour, a random one with probability"
        f" {args.move_random_prob}.",
        "- Algorithms (defaults of `archrank.search`): random search; regularised evolution with population 10,"
        " tournament 3 (the NB201/NATS-Bench REA baseline); REINFORCE, factorised categorical controller, Adam lr"
        " 0.01, EMA baseline 0.9 (warmup also pretrains it on the proxy ranks of the pool; move = proxy picks among"
        " 10 policy samples); BANANAS-like predictor: ensemble of 5 MLPs on one-hot encodings, rank-normalised"
        " targets, Thompson sampling over mutated + random candidates, batches of 10 (move = candidate pool cut to"
        " its proxy-best half).",
        f"- {args.seeds} seeds per variant. Top 0.1 % = the best {math.ceil(TOP_FRACTION * 15625)} cells by test"
        f" accuracy (test ≥ {threshold:.2f} %). A run goes past 300 queries only until it reaches that, at most"
        f" {args.max_budget}. An architecture already trained is never trained (or counted) twice.",
        "",
        "## Trained architectures until the top 0.1 % (median, IQR in brackets)",
        "",
        "\"incumbent\": the best-by-validation architecture so far is in the top 0.1 % by test accuracy (what a"
        " search would return); \"any\": some trained architecture is; [k/n reached]: seeds that got there within the"
        " cap (the others count as never). Cost: median simulated GPU-hours until \"incumbent\", proxy seconds"
        " included. Speed-up: plain REA's median divided by the row's median (incumbent column).",
        "",
        "| algorithm | variant | incumbent in top 0.1 % | any query in top 0.1 % | cost (h) | speed-up vs plain REA |",
        "|---|---|---|---|---|---|",
    ]
    for row in reach.itertuples():
        ratio = base_value / row.median_reach_incumbent if math.isfinite(row.median_reach_incumbent) else math.nan
        speed = f"{ratio:.1f}×" if math.isfinite(ratio) else "—"
        cost = f"{row.cost_h:.0f}" if math.isfinite(row.cost_h) else "—"
        lines.append(f"| {row.algorithm} | {row.variant} | {row.reach_incumbent} | {row.reach_any} | {cost} |"
                     f" {speed} |")
    lines += [
        "",
        "## Test accuracy of the incumbent after N trained architectures (median over seeds, %)",
        "",
        "| algorithm | variant | " + " | ".join(f"N={s}" for s in REPORT_STEPS) + " |",
        "|---|---|" + "---|" * len(REPORT_STEPS),
    ]
    for rec in acc.to_dict("records"):
        values = " | ".join(f"{rec[f'acc@{s}']:.2f}" for s in REPORT_STEPS)
        lines.append(f"| {rec['algorithm']} | {rec['variant']} | {values} |")
    best = reach[reach["variant"] == "+warmup+move"]
    target = [f"{r.algorithm} {base_value / r.median_reach_incumbent:.1f}×" for r in best.itertuples()
              if math.isfinite(r.median_reach_incumbent)]
    lines += [
        "",
        f"Target (warmup+move ≥ 4× fewer trained architectures than plain REA, plain REA median = {base_value:.0f}):"
        f" {', '.join(target) if target else 'not reached'}.",
        "",
        "## Plots",
        "",
        "Median line and inter-quartile band of the incumbent's test accuracy over seeds (first 300 queries).",
        "",
    ]
    lines += [f"![{p.stem}]({p.name})" for p in plots]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--proxy", default="params", help="params, flops, or a proxy in --scores-store")
    parser.add_argument("--scores-store", default=None, help="results store with whole-space scores of --proxy")
    parser.add_argument("--proxy-seconds", type=float, default=0.02, help="cost per table-column proxy score (s)")
    parser.add_argument("--seeds", type=int, default=30)
    parser.add_argument("--warmup-n", type=int, default=3000)
    parser.add_argument("--move-random-prob", type=float, default=DEFAULT_MOVE_RANDOM_PROB)
    parser.add_argument("--max-budget", type=int, default=2000)
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--data", default=None, help="NB201 CIFAR-10 CSV (default: the shared data)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("docs/results/search"))
    args = parser.parse_args(argv)
    if args.data is None:
        args.data = str(config.data_file("nb201", "nb201_cifar10.csv"))

    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    jobs = [Job(a, v, s) for a in algorithms for v in VARIANTS for s in range(args.seeds)
            if not (a == "random" and v == "+warmup+move")]
    start = time.perf_counter()
    _init(args)
    threshold = _STATE["threshold"]
    scorer = _STATE["scorer"]
    coverage = int(np.isfinite(scorer.values.reindex(_STATE["oracle"].frame.index).to_numpy(dtype=float)).sum())
    if args.scores_store:
        proxy_note = (f"`{args.proxy}` scores from the results store `{args.scores_store}` ({coverage} of 15625 cells"
                      " scored), each charged the seconds recorded with it.")
    else:
        proxy_note = (f"`{args.proxy}` from the table's `{scorer.values.name}` column (available for all 15625 cells;"
                      f" no engine proxy was used), charged {args.proxy_seconds} s per cell scored.")
    results = []
    if args.workers > 1:
        with ProcessPoolExecutor(args.workers, initializer=_init, initargs=(args,)) as pool:
            for i, result in enumerate(pool.map(run_job, jobs, chunksize=4), 1):
                results.append(result)
                print(f"\r{i}/{len(jobs)} runs", end="", file=sys.stderr, flush=True)
    else:
        for i, job in enumerate(jobs, 1):
            results.append(run_job(job))
            print(f"\r{i}/{len(jobs)} runs", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    wall = time.perf_counter() - start
    summary = summarise(results, threshold, args.max_budget)

    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"nb201_{args.proxy}"
    plots: list[Path] = []
    for algorithm in algorithms:
        groups = {f"{algorithm} {v}": [h for j, h, _ in results if j.algorithm == algorithm and j.variant == v]
                  for v in VARIANTS}
        frame = trajectories_frame({k: v for k, v in groups.items() if v})
        frame = frame[frame["step"] <= max(REPORT_STEPS)]
        plots += plot_trajectories(frame, args.out, prefix=f"{stem}_{algorithm}", threshold=threshold,
                                   title=f"NB201 CIFAR-10, {algorithm}, proxy {args.proxy}",
                                   max_steps=max(REPORT_STEPS))
    summary["runs"].to_csv(args.out / f"{stem}_runs.csv", index=False)
    command = "python benchmarks/search_nb201.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(summary, args, threshold, proxy_note, plots, wall, command.strip())
    (args.out / f"{stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
