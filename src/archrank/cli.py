"""The ``archrank`` command line: list spaces and proxies, describe an architecture, score/rank a space into
the store (resumable, with a progress bar), and export results."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click
import pandas as pd
import torch

from archrank.spaces import SearchSpace, get_space, list_spaces
from archrank.store import DEFAULT_PATH, Store

DEFAULT_TOP = 10


def _fail(message: str) -> click.ClickException:
    return click.ClickException(message)


def _space(name: str) -> SearchSpace:
    try:
        return get_space(name)
    except KeyError as exc:
        raise _fail(str(exc.args[0])) from None


def parse_indices(text: str) -> list[int]:
    """``"1,5,10-12"`` -> [1, 5, 10, 11, 12]."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
        except ValueError:
            raise ValueError(f"bad index list item {part!r}: use numbers and ranges like 3,7,10-20") from None
    return out


def select_archs(
    space: SearchSpace,
    all_archs: bool,
    sample: int | None,
    sample_seed: int,
    indices: str | None,
    archs_file: Path | None,
) -> list[Any]:
    """The architectures a command works on: all, a seeded sample, an index list, or a file of keys."""
    chosen = sum([all_archs, sample is not None, indices is not None, archs_file is not None])
    if chosen != 1:
        raise ValueError("choose exactly one of --all, --sample N, --indices LIST, --archs-file FILE")
    if all_archs:
        return list(space.enumerate())
    if sample is not None:
        return space.sample_many(sample, seed=sample_seed)
    if indices is not None:
        return [space.parse(i) for i in parse_indices(indices)]
    assert archs_file is not None
    lines = [ln.strip() for ln in archs_file.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return [space.parse(line) for line in lines]


def load_data(spec: str, batch_size: int, seed: int) -> tuple[tuple[torch.Tensor, torch.Tensor], str]:
    """Batch and its hash from ``cifar10[:DIR]``, ``cifar100[:DIR]``, ``imagenet16-120[:DIR]``,
    ``synthetic[:KIND]`` or ``auto`` (CIFAR-10 from the shared data when present, else Gaussian noise)."""
    from archrank import config, data

    name, _, arg = spec.partition(":")
    name = name.lower()
    if name == "auto":
        name, arg = ("cifar10", "") if config.data_root() is not None else ("synthetic", "gaussian")
    if name == "synthetic":
        batch = data.load_batch("synthetic", batch_size=batch_size, seed=seed, kind=arg or "gaussian")
    else:
        batch = data.load_batch(name, root=arg or None, batch_size=batch_size, seed=seed)
    return (batch.x, batch.y), batch.content_hash


def scoring_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``score`` and ``rank``."""
    options = [
        click.option("--space", "space_name", default="nb201", show_default=True, help="Search space name."),
        click.option("--all", "all_archs", is_flag=True, help="Every architecture of the space."),
        click.option("--sample", type=int, default=None, help="A seeded uniform sample of N architectures."),
        click.option("--sample-seed", type=int, default=0, show_default=True, help="Seed of --sample."),
        click.option("--indices", default=None, help="Benchmark indices, e.g. 0,5,10-20."),
        click.option("--archs-file", type=click.Path(path_type=Path, exists=True, dir_okay=False), default=None,
                     help="File with one architecture (string, index or tuple) per line."),
        click.option("--proxies", default=None,
                     help="Comma-separated proxy names or wildcards (default: the engine's default set)."),
        click.option("--data", "data_spec", default="auto", show_default=True,
                     help="cifar10[:DIR], cifar100[:DIR], imagenet16-120[:DIR], synthetic[:gaussian|ones], auto."),
        click.option("--batch-size", type=int, default=64, show_default=True),
        click.option("--num-classes", type=int, default=None, help="Classifier size (default: from --data)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Seed of the batch and the weights."),
        click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N."),
        click.option("--workers", type=int, default=1, show_default=True, help="Parallel worker processes."),
        click.option("--threads", type=int, default=None, help="torch threads in this process."),
        click.option("--store", "store_path", default=DEFAULT_PATH, show_default=True, help="SQLite results file."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
    ]
    return functools.reduce(lambda f, opt: opt(f), reversed(options), func)


NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120, "synthetic": 10, "auto": 10}


def _run_scoring(opts: dict[str, Any]) -> tuple[SearchSpace, list[Any], list[str], Store]:
    from archrank import proxies as proxy_engine
    from archrank.runner import expand_proxies, score_space

    space = _space(opts["space_name"])
    if opts["threads"]:
        torch.set_num_threads(opts["threads"])
    if opts["device"].startswith("cuda") and not torch.cuda.is_available():
        raise _fail(f"--device {opts['device']}: CUDA is not available on this machine")
    try:
        archs = select_archs(space, opts["all_archs"], opts["sample"], opts["sample_seed"], opts["indices"],
                             opts["archs_file"])
        patterns = opts["proxies"].split(",") if opts["proxies"] else list(proxy_engine.DEFAULT_PROXIES)
        names = expand_proxies([p.strip() for p in patterns if p.strip()])
        batch, batch_hash = load_data(opts["data_spec"], opts["batch_size"], opts["seed"])
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    dataset = opts["data_spec"].partition(":")[0].lower()
    num_classes = opts["num_classes"] or NUM_CLASSES.get(dataset, 10)
    store = Store(opts["store_path"])
    run_id = store.start_run(opts["device"], extra={"proxies": names, "data": opts["data_spec"]})
    summary = score_space(
        space, archs, names, store, batch, batch_hash=batch_hash, seed=opts["seed"], device=opts["device"],
        num_classes=num_classes, workers=opts["workers"], progress=not opts["quiet"], run_id=run_id,
    )
    click.echo(str(summary), err=True)
    return space, archs, names, store


ENSEMBLE = "ensemble"


def ranking_table(
    space: SearchSpace, archs: Sequence[Any], names: Sequence[str], store: Store, by: str
) -> pd.DataFrame:
    """Scores of ``archs`` (one column per proxy), sorted by ``by`` (higher = predicted better).

    ``by="ensemble"`` adds and sorts by the default label-free aggregate of the scored ``ENSEMBLE_PROXIES``.
    """
    table = store.score_table(space.name, names)
    keys = [space.key(a) for a in archs]
    table = table.reindex(keys)
    if by == ENSEMBLE:
        from archrank.bench import ENSEMBLE_PROXIES, aggregate

        members = [p for p in ENSEMBLE_PROXIES if p in table.columns]
        if len(members) < 2:
            raise ValueError(f"--by ensemble needs at least two of {', '.join(ENSEMBLE_PROXIES)} among the proxies")
        table[ENSEMBLE] = aggregate({p: table[p].to_numpy() for p in members})
    if by not in table.columns:
        raise ValueError(f"cannot rank by {by!r}: scored proxies are {', '.join(table.columns)}")
    table = table.sort_values(by, ascending=False, na_position="last")
    index_of = getattr(space, "index", None)
    if index_of is not None:
        table.insert(0, "index", [index_of(space.from_key(k)) for k in table.index])
    return table


# Commands that live with their feature packages, imported only when used (keeps `archrank --help` fast).
LAZY_COMMANDS: dict[str, str] = {
    "evaluate": "archrank.bench.cli:evaluate_cmd",
    "search": "archrank.search.cli:search_cmd",
    "evolve": "archrank.eznas.cli:evolve_cmd",
    "consistency": "archrank.econas.cli:consistency_cmd",
    "train": "archrank.econas.cli:train_cmd",
    "econas-search": "archrank.econas.cli:econas_search_cmd",
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
    """List the registered search spaces and their sizes."""
    for name in list_spaces():
        click.echo(f"{name}\t{len(get_space(name))} architectures")


@main.command("proxies")
@click.argument("pattern", default="*")
def proxies_cmd(pattern: str) -> None:
    """List registered proxies (optionally filtered by a wildcard PATTERN) with their orientation."""
    from archrank import proxies as proxy_engine

    for name in proxy_engine.list_proxies(pattern):
        info = proxy_engine.get_proxy_info(name)
        flags = "negated" if info.negated else "raw"
        click.echo(f"{name:18s} higher-is-better ({flags}){'  data' if info.needs_data else ''}")


@main.command("describe")
@click.argument("arch")
@click.option("--space", "space_name", default="nb201", show_default=True)
def describe_cmd(arch: str, space_name: str) -> None:
    """Describe ARCH (an arch string, a benchmark index or a NASLib tuple): names, keys, params, FLOPs."""
    from archrank.proxies.cost import count_flops, count_params

    space = _space(space_name)
    try:
        a = space.parse(arch)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    model = space.build(a, num_classes=10)
    rows: list[tuple[str, Any]] = []
    if hasattr(space, "index"):
        rows.append(("index", space.index(a)))
    rows.append(("string", space.to_str(a)))
    if hasattr(space, "to_naslib"):
        rows.append(("naslib tuple", space.to_naslib(a)))
    rows.append(("canonical", space.canonical(a)))
    if hasattr(space, "is_valid"):
        rows.append(("output reachable", space.is_valid(a)))
    rows.append(("params (M)", f"{count_params(model) / 1e6:.6f}"))
    rows.append(("FLOPs (M, NASLib convention)", f"{count_flops(model) / 1e6:.6f}"))
    for label, value in rows:
        click.echo(f"{label:30s} {value}")


@main.command("score")
@scoring_options
def score_cmd(**opts: Any) -> None:
    """Score architectures of a space with zero-cost proxies into the store (resumes after interruption)."""
    _, _, _, store = _run_scoring(opts)
    store.close()


@main.command("rank")
@scoring_options
@click.option(
    "--by",
    default=None,
    help="Proxy to rank by, or 'ensemble' for the default label-free ensemble (its proxies are then scored "
    "unless --proxies is given). Default: the first proxy scored.",
)
@click.option("--top", type=int, default=DEFAULT_TOP, show_default=True, help="How many to print.")
def rank_cmd(by: str | None, top: int, **opts: Any) -> None:
    """Score architectures (like ``score``) and print the top of the ranking."""
    if by == ENSEMBLE and not opts["proxies"]:
        from archrank.bench import ENSEMBLE_PROXIES

        opts["proxies"] = ",".join(ENSEMBLE_PROXIES)
    space, archs, names, store = _run_scoring(opts)
    with store:
        try:
            table = ranking_table(space, archs, names, store, by or names[0])
        except ValueError as exc:
            raise _fail(str(exc)) from None
    truth = _nb201_truth(space)
    if truth is not None:
        values, short = truth
        table[f"test_acc ({short})"] = values.reindex(table.index).to_numpy()
    table.insert(0, "rank", range(1, len(table) + 1))
    table["architecture"] = table.index
    table.columns.name = None
    click.echo(f"top {min(top, len(table))} of {len(table)} architectures by {by or names[0]} (higher = better):")
    with pd.option_context("display.width", 250, "display.max_columns", 50, "display.max_colwidth", 120,
                           "display.float_format", "{:.6g}".format):
        click.echo(table.head(top).to_string(index=False))


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
@click.option("--store", "store_path", default=DEFAULT_PATH, show_default=True)
@click.option("--space", "space_name", default=None, help="Only this space.")
@click.option("--wide", is_flag=True, help="One row per architecture, one column per proxy.")
def export_cmd(output: Path, store_path: str, space_name: str | None, wide: bool) -> None:
    """Export scores from the store to OUTPUT (.csv or .parquet)."""
    if not Path(store_path).is_file():
        raise _fail(f"no store at {store_path}")
    with Store(store_path) as store:
        try:
            path = store.export(output, space=space_name, wide=wide)
        except (ValueError, ImportError) as exc:
            raise _fail(str(exc)) from None
    click.echo(f"wrote {path}")


@main.command("runs")
@click.option("--store", "store_path", default=DEFAULT_PATH, show_default=True)
def runs_cmd(store_path: str) -> None:
    """Show the runs recorded in the store and the result counts per status."""
    if not Path(store_path).is_file():
        raise _fail(f"no store at {store_path}")
    with Store(store_path) as store:
        click.echo(store.runs().to_string(index=False))
        click.echo(f"results: {store.count()}")


if __name__ == "__main__":
    main()
