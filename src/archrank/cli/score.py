"""``archrank score`` and ``archrank rank``: score a selection of a space's architectures with zero-cost proxies into
the store (resumable, with a progress bar) and print the top of a ranking with how far to trust it."""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import pandas as pd
import torch

from archrank.cli.options import (
    data_kind,
    data_option,
    default_num_classes,
    device_option,
    fail,
    load_data,
    parse_int_list,
    parse_names,
    quiet_option,
    resolve_space,
    space_option,
    store_option,
    threads_option,
    workers_option,
)
from archrank.spaces import SearchSpace
from archrank.store import Store, StoreError

DEFAULT_TOP = 10


def select_archs(
    space: SearchSpace,
    all_archs: bool,
    sample: int | None,
    sample_seed: int,
    indices: str | None,
    archs_file: Path | None,
    with_truth: bool = False,
) -> list[Any]:
    """The architectures a command works on: all, a seeded sample, an index list, or a file of keys.

    ``with_truth`` draws from the architectures of the space's own ground-truth file instead of the whole space
    (``--all``: every one of them, in the file's order of keys; ``--sample N``: a seeded sample of them).
    An empty selection is an error, never a silent no-op."""
    chosen = sum([all_archs, sample is not None, indices is not None, archs_file is not None])
    if chosen != 1:
        raise ValueError("choose exactly one of --all, --sample N, --indices LIST, --archs-file FILE")
    if sample is not None and sample < 1:
        raise ValueError(f"--sample must be at least 1, got {sample}")
    if with_truth:
        if not (all_archs or sample is not None):
            raise ValueError("--with-truth goes with --all or --sample N")
        from archrank.bench.truth import load_truth

        keys = sorted(load_truth("auto", space).values.dropna().index)
        if sample is not None:
            if sample > len(keys):
                raise ValueError(f"--sample {sample}: the ground truth of {space.name} has {len(keys)} architectures")
            random.Random(sample_seed).shuffle(keys)  # a larger --sample extends a smaller one
            keys = sorted(keys[:sample])
        return [space.from_key(k) for k in keys]
    if all_archs:
        return list(space.enumerate())
    if sample is not None:
        return space.sample_many(sample, seed=sample_seed)
    if indices is not None:
        return [space.parse(i) for i in parse_int_list(indices, "index")]
    assert archs_file is not None
    lines = [ln.strip() for ln in archs_file.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise ValueError(f"{archs_file} lists no architecture")
    return [space.parse(line) for line in lines]


def scoring_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``score`` and ``rank``."""
    from archrank.executors import executor_options

    options = [
        space_option,
        click.option("--all", "all_archs", is_flag=True, help="Every architecture of the space."),
        click.option("--sample", type=int, default=None, help="A seeded uniform sample of N architectures."),
        click.option("--sample-seed", type=int, default=0, show_default=True, help="Seed of --sample."),
        click.option("--indices", default=None, help="Benchmark indices, e.g. 0,5,10-20."),
        click.option("--with-truth", is_flag=True,
                     help="With --all/--sample: only architectures of the space's own ground-truth file."),
        click.option("--archs-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
                     help="File with one architecture (string, index or tuple) per line."),
        click.option("--proxies", default=None,
                     help="Comma-separated proxy names or wildcards (default: the engine's default set)."),
        data_option(),
        click.option("--batch-size", type=click.IntRange(min=1), default=64, show_default=True),
        click.option("--num-classes", type=click.IntRange(min=1), default=None,
                     help="Classifier size (default: from --data)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the batch and the weights."),
        device_option,
        workers_option,
        executor_options,
        threads_option,
        store_option,
        quiet_option,
    ]
    return functools.reduce(lambda f, opt: opt(f), reversed(options), func)


def _run_scoring(opts: dict[str, Any]) -> tuple[SearchSpace, list[Any], list[str], Store, dict[str, Any]]:
    """Score the selected architectures into the store; returns what was scored and the keys of its results."""
    from archrank import proxies as proxy_engine
    from archrank.executors import executor_from_options
    from archrank.proxies import expand_proxy_names
    from archrank.runner import config_hashes, model_config, score_space, validate_device

    space = resolve_space(opts["space_name"])
    if opts["threads"]:
        torch.set_num_threads(opts["threads"])
    try:
        validate_device(opts["device"], check_available=opts.get("executor_name", "local") == "local")
        archs = select_archs(space, opts["all_archs"], opts["sample"], opts["sample_seed"], opts["indices"],
                             opts["archs_file"], opts["with_truth"])
        patterns = parse_names(opts["proxies"]) if opts["proxies"] is not None else list(proxy_engine.DEFAULT_PROXIES)
        names = expand_proxy_names(patterns)
        batch, batch_hash = load_data(opts["data_spec"], opts["batch_size"], opts["seed"], tuple(space.input_shape))
        executor = executor_from_options(opts, workers=opts["workers"], spawn=opts["device"].startswith("cuda"))
    except (ValueError, FileNotFoundError, ImportError) as exc:
        raise fail(str(exc)) from None
    kind = data_kind(opts["data_spec"])
    num_classes = opts["num_classes"] or default_num_classes(space, opts["data_spec"])
    try:
        store = Store(opts["store_path"])
    except StoreError as exc:
        raise fail(str(exc)) from None
    store.put_input(batch_hash, kind, {"data": opts["data_spec"], "batch_size": opts["batch_size"],
                                       "seed": opts["seed"], "shape": list(batch[0].shape[1:])})
    config = {"proxies": names, "data": opts["data_spec"], "batch_size": opts["batch_size"], "seed": opts["seed"],
              "num_classes": num_classes, "archs": len(archs)}
    run_id = store.start_run(opts["device"], extra=config, kind="score", space=space.name, config=config)
    status = "failed"
    try:
        summary = score_space(
            space, archs, names, store, batch, batch_hash=batch_hash, seed=opts["seed"], device=opts["device"],
            num_classes=num_classes, workers=opts["workers"], executor=executor, progress=not opts["quiet"],
            run_id=run_id,
        )
        status = "done"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    except ValueError as exc:
        raise fail(str(exc)) from None
    finally:
        executor.close()
        store.finish_run(run_id, status)
    click.echo(str(summary), err=True)
    selection = {"seed": opts["seed"], "batch": batch_hash, "device": opts["device"],
                 "config": config_hashes(names, model_config(space, num_classes, {}))}
    return space, archs, names, store, selection


ENSEMBLE = "ensemble"


def ranking_table(
    space: SearchSpace,
    archs: Sequence[Any],
    names: Sequence[str],
    store: Store,
    by: str,
    selection: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Scores of ``archs`` (one column per proxy), sorted by ``by`` (higher = predicted better).

    ``selection`` (seed, batch, device, config) picks exactly the results of one scoring setup, so results of
    other seeds or data in the same store never leak in. ``by="ensemble"`` adds and sorts by the default
    label-free aggregate of the scored ``ENSEMBLE_PROXIES`` that pass the label-free member checks
    (:func:`archrank.bench.members.select_members`); what was kept and dropped is in ``table.attrs["members"]``.
    """
    table = store.score_table(space.name, names, **(selection or {}))
    keys = [space.key(a) for a in archs]
    table = table.reindex(keys)
    if by == ENSEMBLE:
        from archrank.bench import ENSEMBLE_PROXIES
        from archrank.bench.members import robust_aggregate

        members = [p for p in ENSEMBLE_PROXIES if p in table.columns]
        if len(members) < 2:
            raise ValueError(f"--by ensemble needs at least two of {', '.join(ENSEMBLE_PROXIES)} among the proxies")
        values, chosen = robust_aggregate(table[members], members)
        table[ENSEMBLE] = values
        table.attrs["members"] = chosen.describe()
    if by not in table.columns:
        raise ValueError(f"cannot rank by {by!r}: scored proxies are {', '.join(table.columns)}")
    table = table.sort_values(by, ascending=False, na_position="last")
    if space.has_index:
        table.insert(0, "index", [space.index(space.from_key(k)) for k in table.index])
    return table


@click.command("score")
@scoring_options
def score_cmd(**opts: Any) -> None:
    """Score architectures of a space with zero-cost proxies into the store (resumes after interruption)."""
    _, _, _, store, _ = _run_scoring(opts)
    store.close()


@click.command("rank")
@scoring_options
@click.option(
    "--by",
    default=None,
    help="Proxy to rank by, or 'ensemble' for the default label-free ensemble (its proxies are then scored "
    "unless --proxies is given). Default: the first proxy scored.",
)
@click.option("--top", type=click.IntRange(min=1), default=DEFAULT_TOP, show_default=True, help="How many to print.")
def rank_cmd(by: str | None, top: int, **opts: Any) -> None:
    """Score architectures (like ``score``) and print the top of the ranking, then how far to trust it."""
    if by == ENSEMBLE and not opts["proxies"]:
        from archrank.bench import ENSEMBLE_PROXIES

        opts["proxies"] = ",".join(ENSEMBLE_PROXIES)
    space, archs, names, store, selection = _run_scoring(opts)
    with store:
        try:
            table = ranking_table(space, archs, names, store, by or names[0], selection)
        except ValueError as exc:
            raise fail(str(exc)) from None
    truth = _nb201_truth(space)
    truth_column = None
    if truth is not None:
        values, short = truth
        truth_column = f"test_acc ({short})"
        table[truth_column] = values.reindex(table.index).to_numpy()
    ranked_by = by or names[0]
    members = table.attrs.get("members")
    trust = _trust_line(space, table, ranked_by, truth_column)
    table.insert(0, "rank", range(1, len(table) + 1))
    table["architecture"] = table.index
    table.columns.name = None
    click.echo(f"top {min(top, len(table))} of {len(table)} architectures by {ranked_by} (higher = better):")
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 120,
                           "display.float_format", "{:.6g}".format):
        click.echo(table.head(top).to_string(index=False))
    if members:
        click.echo(f"ensemble members (label-free checks): {members}")
    if trust:
        click.echo(trust)


def _trust_line(space: SearchSpace, table: pd.DataFrame, by: str, truth_column: str | None) -> str | None:
    """One line: Spearman of the printed ranking against the ground truth shown, on these cells, next to params'."""
    from archrank.bench.metrics import spearman
    from archrank.proxies.cost import count_params

    if truth_column is None or len(table) < 3:
        return None
    truth = table[truth_column].to_numpy(dtype=float)
    ours = spearman(table[by].to_numpy(dtype=float), truth)
    params = [count_params(space.build(space.from_key(k))) for k in table.index]
    baseline = spearman(params, truth)
    name = truth_column.partition("(")[2].rstrip(")")
    return (f"how far to trust this: Spearman ρ {ours:.3f} between {by} and {name} test accuracy on these "
            f"{len(table)} cells (parameter count alone: {baseline:.3f})")


def _nb201_truth(space: SearchSpace) -> tuple[pd.Series, str] | None:
    """Trained accuracies to print beside an NB201 ranking, with a short name of their table, or None.

    The built-in default ground truth (``--truth auto`` of ``evaluate``): the shared NB201 table when the data
    folder is present, else the pip-installable ``analog-nasbench`` training (the ``groundtruth`` extra).
    """
    from archrank.bench.truth import load_truth

    if space.name != "nb201":
        return None
    try:
        truth = load_truth("auto", space)
    except (ImportError, FileNotFoundError, ValueError):
        return None
    short = "analog-nasbench" if truth.source.startswith("analog") else "NB201 table"
    return truth.values, short
