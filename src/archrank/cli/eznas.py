"""``archrank evolve``: the EZNAS genetic-programming search for new zero-cost proxies (NB201 CIFAR-10 tasks)."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import click

from archrank.cli.options import data_option, device_option, setup_torch, store_option, workers_option
from archrank.data.loader import canonical_name
from archrank.executors import executor_options, optional_executor
from archrank.eznas.gp import GPConfig, GPResult, run_gp
from archrank.eznas.program import Program
from archrank.eznas.stats import StatsConfig, Summary
from archrank.eznas.store import EznasStore
from archrank.eznas.tasks import (
    DEFAULT_EVAL_SAMPLE,
    DEFAULT_EVAL_SEED,
    GP_SUMMARY,
    StatsSource,
    build_tasks,
    evaluation_sample,
    fitness_architectures,
)

__all__ = ["evolve_cmd", "format_result"]


def format_result(result: GPResult, summary: Summary, grad_target: str) -> str:
    """The best programs as a small text table, with the proxy call that reproduces the best one."""
    lines = [f"run {result.run_id} (fitness key {result.fitness_key}): {result.n_evaluated} new evaluations"]
    if not result.best:
        return "\n".join([*lines, "no valid program yet"])
    lines.append(f"{'rank':>4}  {'fitness':>8}  {'per task':<24}  program")
    for rank, rec in enumerate(result.best, 1):
        tasks = ",".join("nan" if not math.isfinite(v) else f"{v:.3f}" for v in rec.per_task)
        lines.append(f"{rank:>4}  {rec.fitness:8.4f}  {tasks:<24}  {rec.program}")
    best = result.best[0].program
    lines.append(
        f'proxy: create_proxy("eznas", program="{best}", grad_target="{grad_target}", '
        f"max_samples={summary.max_samples}, max_channels={summary.max_channels}, max_spatial={summary.max_spatial})"
    )
    return "\n".join(lines)


@click.command("evolve")
@store_option
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".archrank_cache/eznas"),
    show_default=True,
    help="Per-architecture statistics cache.",
)
@data_option("cifar10")
@click.option("--batch-size", default=16, show_default=True, help="Data batch size for the statistics passes.")
@click.option("--tasks", "n_tasks", type=click.IntRange(min=1), default=3, show_default=True,
              help="Fitness tasks (disjoint NB201 subsets).")
@click.option("--archs-per-task", type=click.IntRange(min=2), default=40, show_default=True,
              help="Labelled architectures per task.")
@click.option("--task-seed", default=1, show_default=True, help="Seed of the task architecture draw.")
@click.option("--stats-seed", default=1, show_default=True, help="Task t uses seed stats_seed+t.")
@click.option(
    "--exclude-sample",
    default=DEFAULT_EVAL_SAMPLE,
    show_default=True,
    help="Size of the held-out evaluation sample kept out of every task (0: none).",
)
@click.option("--exclude-seed", default=DEFAULT_EVAL_SEED, show_default=True, help="Seed of the held-out sample.")
@click.option("--population", default=64, show_default=True)
@click.option("--generations", default=20, show_default=True)
@click.option("--cxpb", default=0.5, show_default=True, help="Crossover probability (DEAP varOr).")
@click.option("--mutpb", default=0.4, show_default=True, help="Mutation probability (DEAP varOr).")
@click.option("--tournament", default=3, show_default=True)
@click.option("--elite", default=2, show_default=True)
@click.option("--max-height", default=8, show_default=True, help="Static tree-height limit against bloat.")
@click.option("--metric", type=click.Choice(["kendall", "spearman"]), default="kendall", show_default=True)
@click.option("--seed", default=0, show_default=True, help="GP seed.")
@click.option("--max-minutes", type=float, default=None, help="Stop after the generation exceeding this (resumable).")
@click.option("--grad-target", type=click.Choice(["features", "logits"]), default="features", show_default=True)
@click.option("--max-samples", default=GP_SUMMARY.max_samples, show_default=True, help="Summary: samples kept.")
@click.option("--max-channels", default=GP_SUMMARY.max_channels, show_default=True, help="Summary: channels kept.")
@click.option("--max-spatial", default=GP_SUMMARY.max_spatial, show_default=True, help="Summary: centred window.")
@device_option
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="torch CPU threads (1 is fastest for small tensors).")
@click.option("--top", default=10, show_default=True, help="How many of the best programs to report.")
@click.option(
    "--save-best",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the best program to this JSON file (Program.load reads it).",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@workers_option
@executor_options
def evolve_cmd(
    store_path: str,
    cache_dir: Path,
    data_spec: str,
    batch_size: int,
    n_tasks: int,
    archs_per_task: int,
    task_seed: int,
    stats_seed: int,
    exclude_sample: int,
    exclude_seed: int,
    population: int,
    generations: int,
    cxpb: float,
    mutpb: float,
    tournament: int,
    elite: int,
    max_height: int,
    metric: str,
    seed: int,
    max_minutes: float | None,
    grad_target: str,
    max_samples: int,
    max_channels: int,
    max_spatial: int,
    device: str,
    threads: int,
    top: int,
    save_best: Path | None,
    progress: bool,
    workers: int,
    **executor_opts: Any,
) -> None:
    """Evolve zero-cost proxies (EZNAS, Akhauri et al., NeurIPS 2022) by strongly-typed GP on NB201 CIFAR-10.

    Fitness is the minimum over tasks of the rank correlation with CIFAR-10 test accuracy; tasks are disjoint
    NB201 subsets (the only labelled benchmark here), none of them in the held-out sample. Statistics are cached,
    every evaluated program is stored in --store, and re-running the same command resumes the run.
    """

    from archrank.bench.tables import load_nb201_cifar10
    from archrank.spaces import get_space

    setup_torch(threads, device)
    dataset, _, data_root = data_spec.partition(":")
    try:
        canonical_name(dataset)  # an unknown data set is refused here, not after the GP has set up its tasks
        gp_config = GPConfig(
            population=population,
            generations=generations,
            cxpb=cxpb,
            mutpb=mutpb,
            tournament=tournament,
            elite=elite,
            max_height=max_height,
            metric=metric,
            seed=seed,
            init_max_height=min(4, max_height),
            max_seconds=None if max_minutes is None else 60.0 * max_minutes,
        )
        summary = Summary(max_samples, max_channels, max_spatial)
        source = StatsSource(
            dataset.lower(), data_root or None, batch_size, StatsConfig(grad_target=grad_target), summary,
            cache_dir, device,
        )
        executor = optional_executor(executor_opts, workers=workers, spawn=device.startswith("cuda"))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    space = get_space("nb201")
    try:
        table = load_nb201_cifar10(space)
    except (FileNotFoundError, ValueError) as exc:
        raise click.ClickException(f"NB201 ground truth unavailable: {exc}") from None
    try:  # more architectures (held out or per task) than NB201 has is one error line
        exclude = evaluation_sample(space, exclude_sample, exclude_seed) if exclude_sample > 0 else []
        fitness_architectures(space, n_tasks, archs_per_task, task_seed, exclude)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    with executor or contextlib.nullcontext():
        try:  # too many architectures whose statistics failed is one error line
            tasks, spec = build_tasks(
                space,
                table,
                source,
                n_tasks=n_tasks,
                per_task=archs_per_task,
                task_seed=task_seed,
                stats_seed=stats_seed,
                exclude=exclude,
                progress=progress,
                executor=executor,
            )
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    for task in tasks:
        for key, reason in task.meta.get("failed", {}).items():
            click.echo(f"{task.name}: {key} left out, its statistics failed: {reason}", err=True)
    spec["exclude"] = {"n": exclude_sample, "seed": exclude_seed}
    with EznasStore(store_path) as store:
        result = run_gp(tasks, gp_config, store=store, fitness_spec=spec, progress=progress, top=top)
        counts = store.count_programs(result.fitness_key)
    click.echo(format_result(result, summary, grad_target))
    click.echo(f"stored programs under this fitness: {counts.get('ok', 0)} valid, {counts.get('invalid', 0)} invalid")
    if not result.completed:
        click.echo("time limit reached: run the same command again to resume")
    if save_best is not None and result.best:
        best = result.best[0]
        Program.parse(best.program).save(
            save_best,
            fitness=best.fitness,
            per_task=list(best.per_task),
            fitness_key=result.fitness_key,
            grad_target=grad_target,
            summary=[max_samples, max_channels, max_spatial],
        )
        click.echo(f"best program written to {save_best}")
