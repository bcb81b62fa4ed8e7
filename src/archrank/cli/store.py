"""The store's commands: ``archrank export`` (scores to a table), ``archrank merge`` (another store or a committed
table into this one) and ``archrank runs`` (what the store recorded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pandas as pd

from archrank.cli.options import fail, filters_from, open_store, selection_filters, store_option
from archrank.store import Store


@click.command("export")
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
            path = store.export(output, space=space_name, wide=wide, **filters_from(filters))
        except (ValueError, ImportError) as exc:
            raise fail(str(exc)) from None
    click.echo(f"wrote {path}")


@click.command("merge")
@click.argument("others", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False))
@store_option
def merge_cmd(others: tuple[Path, ...], store_path: str) -> None:
    """Merge results files OTHERS (e.g. a store written on a GPU machine or another node) into the store: new
    results are added, results already here are kept, failures here are replaced, runs come along. A ``.csv``,
    ``.csv.gz`` or ``.parquet`` file is a table a report commits: a scores table (what ``archrank export``
    writes) or an EcoNAS trainings table, so committed results rebuild a store on a new machine."""
    for other in others:  # before the store is opened: a mistyped name must not leave a new empty store behind
        if not other.is_file():
            raise fail(f"no {'table' if _is_table(other) else 'results file'} at {other}")
    with open_store(store_path) as store:
        for other in others:
            if _is_table(other):
                click.echo(_merge_table(store, other))
            else:
                click.echo(store.merge(other).summary())


def _is_table(path: Path) -> bool:
    """Whether ``path`` names a committed table (CSV or Parquet) rather than a store."""
    return path.name.lower().endswith((".csv", ".csv.gz", ".parquet", ".pq"))


def _merge_table(store: Store, path: Path) -> str:
    """Put the scores or EcoNAS trainings table at ``path`` into ``store``; one line saying what changed."""
    from archrank.econas.store import NUMBER_COLUMNS as TRAINING_NUMBERS
    from archrank.econas.store import TrainingStore
    from archrank.store.table import NUMBER_COLUMNS, REQUIRED_COLUMNS, read_table

    try:
        frame = read_table(path, numbers=NUMBER_COLUMNS | TRAINING_NUMBERS)
        if set(REQUIRED_COLUMNS) <= set(frame.columns):
            added, here = store.put_frame(frame)
            return f"merged {path}: {added} new scores, {here} already here (kept)"
        if "setting" not in frame.columns:
            lacking = ", ".join(c for c in REQUIRED_COLUMNS if c not in frame.columns)
            raise ValueError(f"not a scores table (what archrank export writes; it lacks {lacking}) and not a "
                             "trainings table (no setting column)")
        added, here = TrainingStore(store).put_frame(frame)
    except (ValueError, KeyError, SyntaxError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise fail(f"{path}: {exc}") from None
    return f"merged {path}: {added} new trainings, {here} already here (kept)"


@click.command("runs")
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
