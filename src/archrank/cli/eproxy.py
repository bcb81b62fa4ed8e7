"""Click commands of Eproxy (listed in ``archrank.cli.main.COMMANDS``): ``eproxy`` scores and evaluates a config
on a seeded sample of a space; ``dps`` runs Discrete Proxy Search (Li et al., arXiv 2210.09459). Both resume from
the store."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import torch

from archrank.cli.options import (
    data_option,
    device_option,
    fail,
    load_batch,
    load_truth_option,
    quiet_option,
    resolve_space,
    setup_torch,
    space_option,
    store_option,
    threads_option,
    workers_option,
)
from archrank.executors import Executor, executor_options, optional_executor

if TYPE_CHECKING:
    from archrank.spaces.base import SearchSpace

_LABELLED_SEED = 2210


def _bar(total: int, desc: str, quiet: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="arch", disable=quiet)


common = [
    space_option,
    data_option("cifar10"),
    click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True),
    click.option("--batch-seed", type=int, default=0, show_default=True),
    click.option("--seed", type=int, default=0, show_default=True, help="Model init, heads and barriers."),
    click.option("--truth", "truth_spec", default="auto", show_default=True, help="Ground truth (see archrank.bench)."),
    store_option,
    device_option,
    threads_option,
    quiet_option,
    workers_option,
    executor_options,
]


@dataclasses.dataclass(frozen=True)
class _Common:
    """The options both commands take (``common``), bundled so each command's signature lists only its own."""

    space_name: str
    data_spec: str
    batch_size: int
    batch_seed: int
    seed: int
    truth_spec: str
    store_path: str
    device: str
    threads: int | None
    quiet: bool
    workers: int
    executor_opts: dict[str, Any]

    def executor(self) -> Executor | None:
        try:
            return optional_executor(self.executor_opts, workers=self.workers, spawn=self.device.startswith("cuda"))
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None

    def batch(self, config: Any) -> Any:
        """The fixed batch of ``--data`` when ``config`` scores on data, else None; a bad spec is one error line."""
        if config.inputs != "batch":
            return None
        try:
            return load_batch(self.data_spec, max(self.batch_size, config.batch_size), self.batch_seed)
        except (ValueError, FileNotFoundError) as exc:
            raise click.ClickException(str(exc)) from None


_EXECUTOR_OPTIONS = ("executor_name", "ray_address", "cpus_per_task", "gpus_per_task")


def _with_common(func: Any) -> Any:
    """Add the ``common`` options to a command and hand their values to it as one ``common`` argument."""
    fields = [f.name for f in dataclasses.fields(_Common) if f.name != "executor_opts"]

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        shared = {name: kwargs.pop(name) for name in fields}
        executor_opts = {name: kwargs.pop(name) for name in _EXECUTOR_OPTIONS if name in kwargs}
        return func(**kwargs, common=_Common(**shared, executor_opts=executor_opts))

    for option in reversed(common):
        command = option(command)
    return command


def _setup(common: _Common, config_spec: str) -> tuple[SearchSpace, Any, Any]:
    """Torch threads, the space, the Eproxy config named by ``config_spec`` and the ground truth, or one error line."""
    from archrank.eproxy.presets import resolve_config

    setup_torch(common.threads, common.device)
    space = resolve_space(common.space_name)
    try:
        config = resolve_config(config_spec)
    except (KeyError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    return space, config, load_truth_option(common.truth_spec, space)


@click.command("eproxy")
@click.option(
    "--config",
    "config_spec",
    default="default",
    show_default=True,
    help="Preset name (default, default-synthetic, ...) or a JSON file saved by dps.",
)
@click.option("--sample", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Seeded sample of N architectures.")
@click.option("--sample-seed", type=int, default=0, show_default=True)
@click.option("--exclude-dps", "exclude_runs", multiple=True, help="Exclude the labelled archs of this DPS run.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Write scores.csv and summary.json here.",
)
@_with_common
def eproxy_cmd(
    config_spec: str,
    sample: int,
    sample_seed: int,
    exclude_runs: tuple[str, ...],
    out_dir: Path | None,
    common: _Common,
) -> None:
    """Score a seeded sample of a space with one Eproxy config (resumable) and report Spearman/Kendall against
    the ground truth and the seconds per architecture."""
    from archrank.eproxy.evaluate import labelled_keys, rank_metrics, sample_eval_archs, score_archs
    from archrank.eproxy.store import EproxyStore

    space, config, truth = _setup(common, config_spec)
    batch = common.batch(config)
    with EproxyStore(common.store_path) as store:
        excluded = labelled_keys(config_spec)  # a DPS result file names its labelled archs: never evaluate on them
        for run in exclude_runs:
            info = store.dps_run(run)
            if info is None:
                raise click.ClickException(f"no DPS run {run!r} in {common.store_path}")
            excluded |= {k for k, _ in info["labelled"]}
        try:
            archs = sample_eval_archs(space, sample, sample_seed, excluded)
        except ValueError as exc:  # more architectures than the space holds outside the excluded ones
            raise fail(exc) from None
        bar = _bar(len(archs), f"eproxy {config.key}", common.quiet)
        start = time.time()
        scores = score_archs(
            space,
            archs,
            config,
            batch,
            seed=common.seed,
            device=common.device,
            store=store,
            progress=lambda i, rec: bar.update(1),
            executor=common.executor(),
        )
        bar.close()
    keys = [space.key(a) for a in archs]
    values = [scores[k]["value"] for k in keys]
    acc = [float(truth.values.get(k, math.nan)) for k in keys]
    metrics = rank_metrics(values, acc)
    seconds = [scores[k]["seconds"] for k in keys if scores[k]["seconds"] is not None]
    summary = {
        "config": config_spec,
        "config_key": config.key,
        "space": space.name,
        "sample": sample,
        "sample_seed": sample_seed,
        "excluded": len(excluded),
        "seed": common.seed,
        "data": common.data_spec,
        "truth": truth.source,
        "spearman": metrics["spearman"],
        "kendall": metrics["kendall"],
        "ok": sum(1 for k in keys if scores[k]["status"] == "ok"),
        "seconds_per_arch_mean": sum(seconds) / max(1, len(seconds)),
        "threads": torch.get_num_threads(),
        "wall_s": time.time() - start,
    }
    click.echo(json.dumps(summary, indent=2))
    if out_dir is not None:
        import pandas as pd

        out_dir.mkdir(parents=True, exist_ok=True)
        rows = [{"arch": k, "accuracy": a, **scores[k]} for k, a in zip(keys, acc, strict=True)]
        pd.DataFrame(rows).to_csv(out_dir / "scores.csv", index=False)
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


@click.command("dps")
@click.option("--labelled", type=int, default=20, show_default=True, help="Number of labelled architectures.")
@click.option("--labelled-seed", type=int, default=_LABELLED_SEED, show_default=True)
@click.option("--budget", type=int, default=200, show_default=True, help="Proposals (configs) in total.")
@click.option("--population", type=int, default=40, show_default=True)
@click.option("--tournament", type=int, default=10, show_default=True)
@click.option("--mutate-ratio", type=float, default=0.2, show_default=True)
@click.option("--search-seed", type=int, default=0, show_default=True, help="Seed of the evolution.")
@click.option(
    "--base",
    "base_spec",
    default="default",
    show_default=True,
    help="Config supplying the fields DPS does not search (steps, inputs, ...).",
)
@click.option("--run-name", default="dps", show_default=True, help="Name of the run in the store (resume key).")
@click.option("--start-from", default="base", show_default=True,
              help="First proposal: 'base' (the --base config), a preset or JSON file, or 'none' (as in the paper).")
@click.option("--select", "selection", type=click.Choice(["confident", "fittest"]), default="confident",
              show_default=True,
              help="Result: the fittest proposal that beats --start-from in --confidence of bootstrap resamples of "
                   "the labelled set (else --start-from), or the fittest proposal (the paper).")
@click.option("--confidence", type=float, default=0.95, show_default=True)
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Write the best config as JSON here (usable as --config / create_proxy(config=...)).",
)
@_with_common
def dps_cmd(
    labelled: int,
    labelled_seed: int,
    budget: int,
    population: int,
    tournament: int,
    mutate_ratio: float,
    search_seed: int,
    base_spec: str,
    run_name: str,
    start_from: str,
    selection: str,
    confidence: float,
    out_path: Path | None,
    common: _Common,
) -> None:
    """Discrete Proxy Search: evolve Eproxy's configuration to maximise the Spearman correlation on a few labelled
    architectures, starting from --start-from and keeping it unless a proposal beats it confidently (--select).
    Every proposal is stored; rerun the same command to resume (or with a larger --budget to continue). The
    labelled architectures are recorded; exclude them later with ``eproxy --exclude-dps RUN``."""
    from archrank.eproxy.dps import run_dps
    from archrank.eproxy.dps_space import DPSSpace

    space, base, truth = _setup(common, base_spec)
    try:
        drawn = space.sample_many(labelled * 4, seed=labelled_seed)
    except ValueError as exc:  # more than the space holds
        raise fail(exc) from None
    archs = [a for a in drawn if space.key(a) in truth.values.index]
    if len(archs) < labelled:
        raise click.ClickException(f"only {len(archs)} labelled architectures found in the ground truth")
    pairs = [(a, float(truth.values.loc[space.key(a)])) for a in archs[:labelled]]
    try:
        result = run_dps(
            space,
            pairs,
            store_path=common.store_path,
            run_name=run_name,
            batch=common.batch(base),
            dps_space=DPSSpace(base=base, mutate_ratio=mutate_ratio),
            budget=budget,
            population=population,
            tournament=tournament,
            seed=search_seed,
            eval_seed=common.seed,
            device=common.device,
            start_from=None if start_from == "none" else start_from,
            select=selection,
            confidence=confidence,
            executor=common.executor(),
            progress=not common.quiet,
            out=out_path,
        )
    except (ValueError, KeyError, FileNotFoundError) as exc:
        raise fail(exc) from None
    best, fittest = result.best, result.fittest
    if fittest is not None and fittest is not best:
        click.echo(f"fittest proposal: {fittest.fitness:.4f} at step {fittest.step} (not confidently better than "
                   f"the start: kept step {best.step})")
    click.echo(f"chosen config (Spearman on {len(pairs)} labelled): {best.fitness:.4f} at step {best.step}")
    click.echo(json.dumps(best.config.to_dict(), indent=2))
