"""The ``archrank`` command line: list spaces and proxies, describe an architecture, score/rank a space into
the store (resumable, with a progress bar), and export results."""

from __future__ import annotations

import functools
import importlib
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import pandas as pd
import torch

from archrank.cli_options import (
    data_kind,
    data_option,
    default_num_classes,
    device_option,
    fail,
    filters_from,
    load_data,
    open_store,
    parse_int_list,
    parse_names,
    quiet_option,
    resolve_space,
    selection_filters,
    space_option,
    store_option,
    threads_option,
    workers_option,
)
from archrank.spaces import SearchSpace, get_space, list_spaces
from archrank.store import Store, StoreError

DEFAULT_TOP = 10
_fail = fail
_space = resolve_space


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

    space = _space(opts["space_name"])
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
        raise _fail(str(exc)) from None
    kind = data_kind(opts["data_spec"])
    num_classes = opts["num_classes"] or default_num_classes(space, opts["data_spec"])
    try:
        store = Store(opts["store_path"])
    except StoreError as exc:
        raise _fail(str(exc)) from None
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
        raise _fail(str(exc)) from None
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


# Commands that live with their feature packages, imported only when used (keeps `archrank --help` fast).
LAZY_COMMANDS: dict[str, str] = {
    "evaluate": "archrank.bench.cli:evaluate_cmd",
    "search": "archrank.search.cli:search_cmd",
    "evolve": "archrank.eznas.cli:evolve_cmd",
    "consistency": "archrank.econas.cli:consistency_cmd",
    "train": "archrank.econas.cli:train_cmd",
    "econas-search": "archrank.econas.cli:econas_search_cmd",
    "econas-data": "archrank.econas.cli:econas_data_cmd",
    "eproxy": "archrank.eproxy.cli:eproxy_cmd",
    "dps": "archrank.eproxy.cli:dps_cmd",
}


class LazyGroup(click.Group):
    """A click group whose feature commands are imported on first use (``name -> "module:attribute"``)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY_COMMANDS])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module_name, _, attribute = LAZY_COMMANDS[cmd_name].partition(":")
            command = getattr(importlib.import_module(module_name), attribute)
            return command
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="archrank")
def main() -> None:
    """archrank: rank neural architectures without training them."""


@main.command("spaces")
def spaces_cmd() -> None:
    """List the registered search spaces, their sizes and their ground truth (present or missing)."""
    from archrank.bench.truth_spaces import source_path

    for name in list_spaces():
        space = get_space(name)
        size = "open-ended" if space.size is None else f"{space.size} architectures"
        sources = space.truth_sources()
        truth = ", ".join(f"{s.name} ({'present' if source_path(s) else 'missing'})" for s in sources[:3])
        more = f" +{len(sources) - 3} more" if len(sources) > 3 else ""
        click.echo(f"{name}\t{size}\tground truth: {truth + more if sources else 'none'}")


@main.command("proxies")
@click.argument("pattern", default="*")
def proxies_cmd(pattern: str) -> None:
    """List registered proxies (optionally filtered by a wildcard PATTERN) with their orientation."""
    from archrank import proxies as proxy_engine

    names = proxy_engine.list_proxies(pattern)
    if not names:
        raise _fail(f"no proxy matches {pattern!r}; `archrank proxies` lists them all")
    for name in names:
        info = proxy_engine.get_proxy_info(name)
        flags = "negated" if info.negated else "raw"
        click.echo(f"{name:18s} higher-is-better ({flags}){'  data' if info.needs_data else ''}")


@main.command("describe")
@click.argument("arch")
@click.option("--space", "space_name", default="nb201", show_default=True)
def describe_cmd(arch: str, space_name: str) -> None:
    """Describe ARCH (any reference the space accepts: its string, a benchmark index or key, a NASLib code):
    names, keys, params and FLOPs at the space's defaults, and the benchmark accuracy when its file is present."""
    from archrank.bench.truth_spaces import available_sources, load_space_truth
    from archrank.proxies.cost import count_flops, count_params

    space = _space(space_name)
    try:
        a = space.parse(arch)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    model = space.build(a)
    rows: list[tuple[str, Any]] = list(space.describe(a))
    rows.append(("input (C, H, W) / classes", f"{space.input_shape} / {space.num_classes}"))
    rows.append(("params (M)", f"{count_params(model) / 1e6:.6f}"))
    rows.append(("FLOPs (M, NASLib convention)", f"{count_flops(model, space.input_shape) / 1e6:.6f}"))
    present = available_sources(space)
    if present:
        truth = load_space_truth(space, present[0].name)
        key = space.key(a)
        value = truth.values.get(key)
        if value is None:  # another way of writing the same architecture (e.g. an isomorphic NB101 cell)
            same = [k for k in truth.values.index if space.canonical(space.from_key(k)) == space.canonical(a)]
            value = truth.values[same[0]] if same else None
        shown = "not in the file" if value is None else f"{value:.4f}"
        rows.append((f"{truth.label}", f"{shown}  [{truth.source}]"))
    for label, value in rows:
        click.echo(f"{label:30s} {value}")


@main.command("score")
@scoring_options
def score_cmd(**opts: Any) -> None:
    """Score architectures of a space with zero-cost proxies into the store (resumes after interruption)."""
    _, _, _, store, _ = _run_scoring(opts)
    store.close()


@main.command("rank")
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
            raise _fail(str(exc)) from None
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


@main.command("export")
@click.argument("output", type=click.Path(path_type=Path, dir_okay=False))
@store_option
@click.option("--space", "space_name", default=None, help="Only this space (a wide export of a store holding one "
              "space infers it).")
@click.option("--wide", is_flag=True, help="One row per architecture, one column per proxy.")
@selection_filters
def export_cmd(output: Path, store_path: str, space_name: str | None, wide: bool, **filters: Any) -> None:
    """Export scores from the store to OUTPUT (.csv or .parquet)."""
    with open_store(store_path, create=False) as store:
        try:
            path = store.export(output, space=space_name, wide=wide, **(filters_from(filters) if wide else {}))
        except (ValueError, ImportError) as exc:
            raise _fail(str(exc)) from None
    click.echo(f"wrote {path}")


@main.command("merge")
@click.argument("others", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@store_option
def merge_cmd(others: tuple[Path, ...], store_path: str) -> None:
    """Merge results files OTHERS (e.g. a store written on a GPU machine or another node) into the store: new
    results are added, results already here are kept, failures here are replaced, runs come along. A ``.csv``,
    ``.csv.gz`` or ``.parquet`` file is a table a report commits: a scores table (what ``archrank export``
    writes) or an EcoNAS trainings table, so committed results rebuild a store on a new machine."""
    with open_store(store_path) as store:
        for other in others:
            if other.name.lower().endswith((".csv", ".csv.gz", ".parquet", ".pq")):
                click.echo(_merge_table(store, other))
            else:
                click.echo(store.merge(other).summary())


def _merge_table(store: Store, path: Path) -> str:
    """Put the scores or EcoNAS trainings table at ``path`` into ``store``; one line saying what changed."""
    from archrank.econas.store import TrainingStore
    from archrank.store.table import REQUIRED_COLUMNS

    if not path.is_file():
        raise _fail(f"no table at {path}")
    try:
        frame = pd.read_parquet(path) if path.name.lower().endswith((".parquet", ".pq")) else pd.read_csv(path)
        if set(REQUIRED_COLUMNS) <= set(frame.columns):
            added, here = store.put_frame(frame)
            return f"merged {path}: {added} new scores, {here} already here (kept)"
        if "setting" not in frame.columns:
            lacking = ", ".join(c for c in REQUIRED_COLUMNS if c not in frame.columns)
            raise ValueError(f"not a scores table (what archrank export writes; it lacks {lacking}) and not a "
                             "trainings table (no setting column)")
        added, here = TrainingStore(store).put_frame(frame)
    except (ValueError, KeyError, SyntaxError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise _fail(f"{path}: {exc}") from None
    return f"merged {path}: {added} new trainings, {here} already here (kept)"


@main.command("runs")
@store_option
@click.option("--kind", default=None, help="Only runs of this kind (score, search, dps, evolve, train, ...).")
def runs_cmd(store_path: str, kind: str | None) -> None:
    """Show every run recorded in the store (scoring, searches, DPS, GP runs, trainings) and result counts."""
    with open_store(store_path, create=False) as store:
        runs = store.runs(kind=kind)
        if runs.empty:
            click.echo("no runs recorded" + (f" of kind {kind}" if kind else ""))
        else:
            runs["started"] = pd.to_datetime(runs["started_at"], unit="s").dt.strftime("%Y-%m-%d %H:%M:%S")
            runs["minutes"] = ((runs["ended_at"] - runs["started_at"]) / 60).round(1)
            columns = ["run_id", "kind", "name", "space", "status", "started", "minutes", "device", "measurements",
                       "trials"]
            with pd.option_context("display.width", 250, "display.max_colwidth", 40):
                click.echo(runs[columns].to_string(index=False))
        click.echo(f"results: {store.count()}")


if __name__ == "__main__":
    main()
