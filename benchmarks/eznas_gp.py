"""Benchmark (b) of issue 6: an EZNAS GP run that fits this machine, and the held-out ρ of what it finds.

Fitness tasks: ``--tasks`` disjoint sets of ``--archs-per-task`` NB201 architectures (none of them in the held-out
sample of ``benchmarks/eznas_evaluate.py``), each with its own CIFAR-10 batch / initialisation / noise seed; fitness
is the minimum Kendall τ over tasks against ``cifar10_test_acc``. Statistics are the GP summary (4 samples,
8 channels, centred 8×8) and are cached; every evaluated program goes to the SQLite store, so re-running the same
command resumes the search. Afterwards the ``--top`` fittest programs (and EZNAS-A on the same summary) are scored on
the held-out sample (seed 0, statistics cached by ``eznas_evaluate.py``, streamed in chunks) and the report goes to
``docs/results/eznas/gp.md``; the fittest program is saved to ``docs/results/eznas/best_program.json``.

    nohup nice -n 10 .venv/bin/python benchmarks/eznas_gp.py --cache-dir /tmp/eznas_cache --db /tmp/eznas_gp.db &
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from archrank.bench.tables import load_nb201_cifar10
from archrank.eznas import EZNAS_A, GPConfig, Program, StatsBatch, evaluate, program_fitness, run_gp
from archrank.eznas.stats import STATS_FORMAT_VERSION
from archrank.eznas.store import EznasStore
from archrank.eznas.tasks import GP_SUMMARY, StatsSource, build_tasks, evaluation_sample
from archrank.spaces import get_space

RESULTS = Path("docs/results/eznas")


def held_out(
    programs: list[str], space, archs, table, source: StatsSource, seed: int, chunk: int = 50
) -> dict[str, tuple[float, float, float, int]]:
    """Spearman ρ and Kendall τ vs CIFAR-10 test accuracy, Spearman ρ vs validation accuracy, and #scored, of each
    program on ``archs`` (statistics streamed chunk by chunk)."""
    parsed = [Program.parse(p) for p in programs]
    scores = {p.text: [] for p in parsed}
    for start in range(0, len(archs), chunk):
        part = archs[start : start + chunk]
        batch = StatsBatch(source.network_stats(space, part, seed, progress=False))
        for p in parsed:
            scores[p.text].extend(evaluate(p, batch).tolist())
        print(f"held-out: {min(start + chunk, len(archs))}/{len(archs)}", flush=True)
    keys = [space.key(a) for a in archs]
    acc = table.loc[keys, "cifar10_test_acc"].to_numpy(dtype=float)
    valid = table.loc[keys, "cifar10_valid_acc"].to_numpy(dtype=float)
    out = {}
    for text, values in scores.items():
        v = np.asarray(values)
        ok = np.isfinite(v)
        if ok.sum() < 3 or np.ptp(v[ok]) == 0:
            out[text] = (math.nan, math.nan, math.nan, int(ok.sum()))
            continue
        rho = float(stats.spearmanr(v[ok], acc[ok]).statistic)
        tau = float(stats.kendalltau(v[ok], acc[ok]).statistic)
        rho_valid = float(stats.spearmanr(v[ok], valid[ok]).statistic)
        out[text] = (rho, tau, rho_valid, int(ok.sum()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", "--db", dest="db", default="/tmp/eznas_gp.db")
    parser.add_argument("--cache-dir", default="/tmp/eznas_cache")
    parser.add_argument("--tasks", type=int, default=3)
    parser.add_argument("--archs-per-task", type=int, default=40)
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--generations", type=int, default=30)
    parser.add_argument("--max-minutes", type=float, default=45.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-n", type=int, default=1000)
    parser.add_argument("--top", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-held-out", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    RESULTS.mkdir(parents=True, exist_ok=True)
    space = get_space("nb201")
    table = load_nb201_cifar10(space)
    source = StatsSource(summary=GP_SUMMARY, cache_dir=args.cache_dir)
    eval_archs = evaluation_sample(space, args.eval_n, 0)

    t0 = time.perf_counter()
    tasks, spec = build_tasks(space, table, source, n_tasks=args.tasks, per_task=args.archs_per_task,
                              exclude=eval_archs)  # fmt: skip
    spec["exclude"] = {"n": args.eval_n, "seed": 0}
    stats_seconds = time.perf_counter() - t0
    config = GPConfig(population=args.population, generations=args.generations, seed=args.seed,
                      max_seconds=60.0 * args.max_minutes)  # fmt: skip
    t1 = time.perf_counter()
    with EznasStore(args.db) as store:
        result = run_gp(tasks, config, store=store, fitness_spec=spec, top=args.top)
        counts = store.count_programs(result.fitness_key)
    gp_seconds = time.perf_counter() - t1
    reference = program_fitness(EZNAS_A, tasks)
    best = result.best
    held: dict[str, tuple[float, float, float, int]] = {}
    t2 = time.perf_counter()
    if not args.skip_held_out and best:
        held = held_out([r.program for r in best] + [EZNAS_A], space, eval_archs, table, source, seed=0)
    if best:
        top = held.get(best[0].program, (math.nan, math.nan, math.nan, 0))
        Program.parse(best[0].program).save(
            RESULTS / "best_program.json", fitness=best[0].fitness, per_task=list(best[0].per_task),
            summary=[GP_SUMMARY.max_samples, GP_SUMMARY.max_channels, GP_SUMMARY.max_spatial], grad_target="features",
            stats_version=STATS_FORMAT_VERSION, held_out={"n": top[3], "rho_test": top[0], "tau_test": top[1],
                                                          "rho_valid": top[2]},
        )  # fmt: skip

    held_seconds = time.perf_counter() - t2
    gens = result.history
    lines = [
        "# EZNAS: a genetic-programming run on this machine",
        "",
        f"Tasks: {args.tasks} disjoint sets of {args.archs_per_task} NB201 architectures (the only labelled benchmark "
        f"here is NB201 CIFAR-10, so tasks are subsets with their own batch/init/noise seeds 1..{args.tasks}, not "
        f"spaces or datasets), none in the {args.eval_n}-architecture held-out sample. Fitness: min over tasks of "
        "Kendall τ vs `cifar10_test_acc`. Statistics: GP summary (4 samples × 8 channels × centred 8×8), CIFAR-10 "
        f"batch of 16, reference initialisation, cached; statistics format version {STATS_FORMAT_VERSION} "
        "(`STATS_FORMAT_VERSION`; 2 and later include the issue 17 `input_grad` / `logdet` fixes).",
        "",
        f"GP (DEAP strongly-typed, varOr + elitist tournament μ+λ): population {args.population}, "
        f"{gens[-1].generation if gens else 0} of {args.generations} generations, cx 0.5 / mut 0.4, height limit 8, "
        f"seed {args.seed}; {sum(counts.values())} distinct programs evaluated ({counts.get('invalid', 0)} invalid). "
        f"GP wall time {sum(g.seconds for g in gens) / 60:.1f} min over all sessions (this session: statistics "
        f"{stats_seconds / 60:.1f} min, loaded from the cache when present; GP {gp_seconds / 60:.1f} min; held-out "
        f"statistics and scoring {held_seconds / 60:.1f} min); 1 thread, on 2 cores shared with other jobs"
        + ("" if result.completed else "; stopped by the time limit (re-run the command to resume)")
        + ".",
        "",
        "## Best programs (ranked by fitness; held-out = the seeded evaluation sample, never seen by the GP)",
        "",
        "| rank | fitness (min τ) | per-task τ | held-out ρ (test) | held-out τ (test) | held-out ρ (valid) "
        "| program |",
        "|---:|---:|---|---:|---:|---:|---|",
    ]
    for rank, rec in enumerate(best, 1):
        rho, tau, rho_v, _ = held.get(rec.program, (math.nan, math.nan, math.nan, 0))
        per = ", ".join(f"{v:.3f}" for v in rec.per_task)
        lines.append(f"| {rank} | {rec.fitness:.3f} | {per} | {rho:.3f} | {tau:.3f} | {rho_v:.3f} | `{rec.program}` |")
    rho, tau, rho_v, n = held.get(EZNAS_A, (math.nan, math.nan, math.nan, 0))
    per = ", ".join(f"{v:.3f}" for v in reference.per_task)
    lines.append(
        f"| EZNAS-A | {reference.fitness:.3f} | {per} | {rho:.3f} | {tau:.3f} | {rho_v:.3f} | `{EZNAS_A}` "
        "(same summary) |"
    )
    if best:
        top_rho, _, top_rho_v, _ = held.get(best[0].program, (math.nan, math.nan, math.nan, 0))
        lines += [
            "",
            f"Fittest program: `{best[0].program}` — held-out Spearman ρ {top_rho:.3f} vs test accuracy, "
            f"{top_rho_v:.3f} vs validation accuracy on {n} architectures (target ≥ 0.80).",
            "",
            "Use it as a proxy (same summary as in the search):",
            "",
            f'    create_proxy("eznas", program="{best[0].program}", max_samples=4, max_channels=8, max_spatial=8)',
        ]
    lines += ["", "## Best fitness per generation", "", "| generation | best fitness | new evaluations (cum.) |",
              "|---:|---:|---:|"]  # fmt: skip
    lines += [f"| {g.generation} | {g.best_fitness:.3f} | {g.n_evaluated} |" for g in gens]
    lines += ["", "Command: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/eznas_gp.py "
              f"--cache-dir {args.cache_dir} --db {args.db} --tasks {args.tasks} "
              f"--archs-per-task {args.archs_per_task} "
              f"--population {args.population} --generations {args.generations} "
              f"--max-minutes {args.max_minutes:g}`", ""]  # fmt: skip
    text = "\n".join(lines)
    (RESULTS / "gp.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
