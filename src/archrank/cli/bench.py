"""``archrank evaluate``: score table from the store + a ground truth -> tables, figures, one HTML report.

:data:`evaluate_cmd` is a plain click command (the main CLI registers it); importing this module has no side
effects. The pipeline itself is :func:`archrank.bench.pipeline.run_evaluation`, for scripts and benchmarks.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Any

import click
import pandas as pd

from archrank.bench.ensemble import LABEL_FREE_METHODS
from archrank.bench.evaluate import DEFAULT_KS
from archrank.bench.pipeline import run_evaluation
from archrank.bench.report import headline, terminal_table
from archrank.cli.options import fail, filters_from, parse_int_list
from archrank.spaces import get_space
from archrank.store import DEFAULT_PATH, Store


def _percents(text: str, name: str) -> list[float]:
    """``"1,5,10"`` (percent) -> [0.01, 0.05, 0.1]."""
    try:
        values = [float(v.strip().rstrip("%")) / 100.0 for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"{name} takes comma-separated percentages, e.g. 1,5,10") from None
    if not values or any(not 0 < v <= 1 for v in values):
        raise click.BadParameter(f"{name}: each value must be a percentage in (0, 100]")
    return values


def _ints(text: str, name: str) -> list[int]:
    """Label counts like ``10,20,50`` (the one integer-list parser); ``''`` means none."""
    if not text.strip():
        return []
    try:
        return parse_int_list(text, name.lstrip("-"))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("evaluate")
@click.option("--store", "store_path", default=DEFAULT_PATH, show_default=True, help="SQLite results file.")
@click.option("--space", "space_name", default="nb201", show_default=True, help="Search space name.")
@click.option("--truth", "truth_spec", default="auto", show_default=True,
              help="Ground truth: auto | nb201-csv[:PATH] | csv:PATH:ARCHCOL[:METRIC] | suite-zero:PATH | analog |"
                   " naslib:PATH | nb201-api:PATH | store:SOURCE. auto = the shared NB201 table when present,"
                   " else analog-nasbench.")
@click.option("--metric", default=None, help="Truth column (default per source, e.g. cifar10_test_acc).")
@click.option("--proxies", default=None, help="Comma-separated proxies (default: all in the store).")
@click.option("--ensemble", "ensemble", default=None,
              help="Comma-separated proxies of the label-free ensemble (default: ENSEMBLE_PROXIES in the store).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=Path("evaluation"),
              show_default=True, help="Folder for table.md/csv, PNGs and report.html.")
@click.option("--bootstrap", "n_boot", type=int, default=1000, show_default=True,
              help="Bootstrap resamples for confidence intervals (0 = none).")
@click.option("--topk", default="1,5,10", show_default=True, help="Top-k precision columns, in percent of the archs.")
@click.option("--labels", "label_ks", default=",".join(map(str, DEFAULT_KS)), show_default=True,
              help="k values for combinations learned from k labelled archs ('' = skip).")
@click.option("--repeats", "label_repeats", type=int, default=20, show_default=True, help="Draws per k.")
@click.option("--nan-policy", type=click.Choice(["omit", "worst"]), default="omit", show_default=True,
              help="Missing scores: drop the pair (omit) or rank the arch last (worst). Always reported.")
@click.option("--sample", type=int, default=None, help="Evaluate a seeded random sample of N scored archs.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of bootstrap, label draws, --sample.")
@click.option("--target", type=float, default=None, help="Reference ρ drawn on the figures (e.g. 0.88).")
@click.option("--title", default=None, help="Report title.")
@click.option("--score-seed", type=int, default=None, help="Only scores computed with this seed.")
@click.option("--data", "data_spec", default=None, help="Only scores on this data kind (e.g. cifar10, synthetic).")
@click.option("--batch", "batch_hash", default=None, help="Only scores on this batch (its content hash).")
@click.option("--device", default=None, help="Only scores computed on this device.")
@click.option("--latest", is_flag=True, help="Where several seeds/data/devices/configs match, take the newest.")
@click.option("--all-spaces", is_flag=True,
              help="Evaluate every space the store has scores for (its own benchmark truth) into one cross-space "
              "report in --out, with the scores behind it (scores_<space>.csv.gz; archrank merge reads them back).")
def evaluate_cmd(
    store_path: str, space_name: str, truth_spec: str, metric: str | None, proxies: str | None,
    ensemble: str | None, out_dir: Path, n_boot: int, topk: str, label_ks: str, label_repeats: int,
    nan_policy: str, sample: int | None, seed: int, target: float | None, title: str | None,
    score_seed: int | None, data_spec: str | None, batch_hash: str | None, device: str | None, latest: bool,
    all_spaces: bool,
) -> None:
    """Measure how well each proxy (and their ensembles) ranks architectures against a ground truth.

    Reads the score table from the store, writes table.md, table.csv, figures and a self-contained
    report.html into --out, and prints the table.
    """
    names = [p.strip() for p in proxies.split(",") if p.strip()] if proxies else None
    filters = filters_from({"seed": score_seed, "data_spec": data_spec, "batch_hash": batch_hash, "device": device,
                            "latest": latest})
    if all_spaces:
        ignored = _given_options("space_name", "truth_spec", "metric", "ensemble", "topk", "sample", "title",
                                 "target")
        if ignored:
            raise fail(f"--all-spaces evaluates every space against its own benchmark with the default ensembles: "
                       f"{', '.join(ignored)} cannot be used with it")
        _evaluate_all_spaces(store_path, out_dir, names, filters, n_boot=n_boot, seed=seed,
                             label_ks=_ints(label_ks, "--labels"), label_repeats=label_repeats, nan_policy=nan_policy)
        return
    sets = {"default": [p.strip() for p in ensemble.split(",") if p.strip()]} if ensemble else None
    try:
        ev, truth, written = run_evaluation(
            store_path, out_dir, space_name=space_name, truth_spec=truth_spec, metric=metric, proxies=names,
            ensemble_sets=sets, sample=sample, sample_seed=seed, title=title, target=target,
            command=" ".join(["archrank", *map(shlex.quote, sys.argv[1:])]),
            n_boot=n_boot, topk=_percents(topk, "--topk"), label_ks=_ints(label_ks, "--labels"),
            label_repeats=label_repeats, nan_policy=nan_policy, methods=LABEL_FREE_METHODS, seed=seed,
            score_filters=filters,
        )
    except (ValueError, FileNotFoundError, ImportError, KeyError) as exc:
        raise fail(exc) from None
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        click.echo(f"Ground truth: {truth.source}")
        click.echo(terminal_table(ev))
    head = headline(ev, target)
    click.echo(f"\nbest proxy {head['best_proxy']} ρ={head['best_proxy_spearman']:.3f}; best label-free ensemble "
               f"{head['best_label_free']} ρ={head['best_label_free_spearman']:.3f}")
    if "best_learned_k" in head:
        click.echo(f"learned from {head['best_learned_k']} labels ({head['best_learned_model']}): "
                   f"ρ={head['best_learned_spearman_mean']:.3f} on the held-out archs")
    for note in ev.notes:
        click.echo(f"note: {note}")
    click.echo(f"report: {written['report.html']}")


def _given_options(*names: str) -> list[str]:
    """The options among parameters ``names`` of the running command that the user gave (not left at default)."""
    ctx = click.get_current_context()
    flags = {p.name: p.opts[0] for p in ctx.command.params}
    return [flags[n] for n in names if ctx.get_parameter_source(n) is click.core.ParameterSource.COMMANDLINE]


def _evaluate_all_spaces(
    store_path: str, out_dir: Path, proxies: list[str] | None, filters: dict[str, Any], **options: Any
) -> None:
    """``evaluate --all-spaces``: every registered space with scores in the store, against its own benchmark."""
    from archrank.bench.cross_space import (
        evaluate_space,
        evaluation_truths,
        reference_table,
        what_to_use,
        write_cross_space_report,
    )
    from archrank.spaces import list_spaces

    filters = {("score_seed" if k == "seed" else k): v for k, v in filters.items()}
    evaluations, references = {}, {}
    try:
        with Store(store_path, create=False) as store:
            spaces = [s for s in store.spaces() if s in list_spaces()]
            for name in spaces:
                space = get_space(name)
                for label, spec in evaluation_truths(space):
                    try:
                        ev = evaluate_space(store, space, spec, proxies, **filters, **options)
                    except (ValueError, FileNotFoundError, ImportError, KeyError) as exc:
                        click.echo(f"{label}: skipped ({exc})", err=True)
                        continue
                    evaluations[label] = ev
                    task = label.partition("/")[2] or None
                    references[label] = reference_table(ev, space, task)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if not evaluations:
        raise click.ClickException(f"no space of {store_path} could be evaluated")
    command = " ".join(["archrank", *map(shlex.quote, sys.argv[1:])])
    ks = list(options.get("label_ks") or [])
    labels = 20 if 20 in ks or not ks else max(k for k in ks if k <= 20) if min(ks) <= 20 else min(ks)
    written = write_cross_space_report(evaluations, out_dir, command=command, labels=labels,
                                       references=references)
    with Store(store_path, create=False) as store:  # the scores behind the report, so a commit can rebuild it
        for name in dict.fromkeys(label.partition("/")[0] for label in evaluations):
            store.export(out_dir / f"scores_{name}.csv.gz", space=name)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        click.echo(what_to_use(evaluations, labels).to_string(float_format=lambda v: f"{v:.3f}"))
    click.echo(f"wrote {written['report.html']}")
