"""``archrank search``: run a search over one or more seeds, record it in the store (resumable), write the
trajectories and a summary, and optionally the median/IQR plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import numpy as np
import pandas as pd

from archrank.cli.options import fail, parse_seeds, workers_option
from archrank.executors import executor_options, optional_executor
from archrank.search.history import History, HistoryDB
from archrank.search.oracles import NB201_COST, NB201_TEST, NB201_VALID, Oracle, TableOracle, econas_oracle
from archrank.search.proxy import ProxyScorer, resolve_scorer
from archrank.search.run import DEFAULT_MOVE_RANDOM_PROB, default_run_name, parse_warmup, run, run_many
from archrank.search.samplers import ALGORITHMS
from archrank.spaces import SearchSpace, get_space
from archrank.store import DEFAULT_PATH, Store

DEFAULT_STORE = DEFAULT_PATH


def parse_params(items: tuple[str, ...]) -> dict[str, Any]:
    """``("population_size=64", "acquisition=ucb")`` -> typed keyword arguments (JSON values, else strings)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"--param needs KEY=VALUE, got {item!r}")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


TABLE_DEFAULTS = {"valid": NB201_VALID, "test": NB201_TEST, "cost": NB201_COST, "arch_column": "arch_str"}
"""Columns of a table oracle when the options leave them out (NB201's CIFAR-10 table)."""


def make_oracle(spec: str, space: SearchSpace, valid: str | None = None, test: str | None = None,
                cost: str | None = None, arch_column: str | None = None, device: str = "cpu",
                store: str | Path | None = None, train_data: str = "cifar10",
                train_cost: str = "wall") -> Oracle:
    """``nb201-csv[:PATH]`` (the shared NAS-Bench-201 CIFAR-10 table), ``nb201-fidelities`` (the same at 12 and
    200 epochs), ``csv:PATH`` (any table) or ``econas[:SETTING]`` (real reduced training; on NB201 the benchmark's
    test accuracy is reported when the shared table is present).

    ``valid``/``test``/``cost`` choose the table's columns (``None``: NB201's; ``cost="none"``: 1 s per query);
    ``arch_column`` applies to ``csv:`` only. An option that does not apply to the oracle is refused with one
    clear line rather than ignored. A training oracle (``econas``) trains on ``train_data`` (``cifar10``: the
    shared 5085-image subset; ``cifar10:ROOT``: e.g. the full data set), caches every training in ``store``
    (reused across seeds and runs) and charges ``train_cost`` seconds (``wall`` or ``cpu``)."""
    kind, _, arg = spec.partition(":")
    if kind != "econas" and (train_data != "cifar10" or train_cost != "wall"):
        raise ValueError("--train-data and --train-cost apply to a training oracle (--oracle econas:...) only")
    given = {name: value for name, value in
             (("--valid", valid), ("--test", test), ("--cost", cost), ("--arch-column", arch_column)) if value}
    columns = {"valid": valid or TABLE_DEFAULTS["valid"], "test": test or TABLE_DEFAULTS["test"],
               "cost": None if cost == "none" else cost or TABLE_DEFAULTS["cost"]}
    if kind == "nb201-csv":
        if arch_column:
            raise ValueError("--arch-column applies to --oracle csv:PATH only (the NB201 table keys its own rows)")
        return TableOracle.nb201_cifar10(space, arg or None, **columns)
    if kind == "csv" and arg:
        return TableOracle.from_csv(arg, arch_column=arch_column or TABLE_DEFAULTS["arch_column"], space=space,
                                    **columns)
    if kind in ("econas", "nb201-fidelities") and given:
        raise ValueError(f"{', '.join(given)} do(es) not apply to --oracle {kind} (table oracles only)")
    if kind == "nb201-fidelities":
        return TableOracle.nb201_fidelities(space)
    if kind == "econas":
        report = None
        if space.name == "nb201":
            try:
                report = TableOracle.nb201_cifar10(space)
            except FileNotFoundError:
                report = None
        return econas_oracle(space, arg.split(",") if arg else "c4r4s0e10", data=train_data, device=device,
                             report=report, store=store, cost=train_cost)
    raise ValueError(f"unknown oracle {spec!r}: use nb201-csv[:PATH], nb201-fidelities, csv:PATH or econas[:SETTING]")


def format_cost(seconds: float) -> str:
    """Seconds in the unit that shows them: s, min or h."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def summarise(histories: list[History], threshold: float | None) -> dict[str, Any]:
    """Per-seed best (by validation) and the medians over seeds."""
    per_seed = []
    for hist in histories:
        if not len(hist):
            continue
        best = hist.best()
        per_seed.append({
            "seed": hist.seed, "trained": len(hist), "best_arch": hist.keys[hist.best_index()],
            "best_valid": best.valid, "best_test": best.test, "cost_h": hist.total_cost_s / 3600,
            "cost_s": hist.total_cost_s,
            "proxy_s": float(sum(hist.proxy_seconds)), "resumed": hist.resumed, "stopped": hist.stopped,
            "first_reach_top": hist.first_reach(threshold) if threshold is not None else None,
        })
    out: dict[str, Any] = {"seeds": per_seed}
    if per_seed:
        overall = max(per_seed, key=lambda r: r["best_valid"])
        out["median_best_test"] = float(np.median([r["best_test"] for r in per_seed]))
        out["median_cost_h"] = float(np.median([r["cost_h"] for r in per_seed]))
        out["median_cost_s"] = float(np.median([r["cost_s"] for r in per_seed]))
        out["best_overall"] = {k: overall[k] for k in ("seed", "best_arch", "best_valid", "best_test")}
    return out


@click.command("search", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--space", "space_name", default="nb201", show_default=True, help="Search space name.")
@click.option("--algorithm", type=click.Choice(sorted(ALGORITHMS)), default="rea", show_default=True)
@click.option("--budget", type=int, default=300, show_default=True, help="Trained architectures per seed.")
@click.option("--warmup", default=None, help="Zero-cost warmup PROXY:N, e.g. synflow:3000.")
@click.option("--move", default=None, help="Zero-cost move proposal with PROXY.")
@click.option("--move-random-prob", type=float, default=DEFAULT_MOVE_RANDOM_PROB, show_default=True,
              help="Probability of a random move instead of the proxy's pick.")
@click.option("--seeds", default="0", show_default=True, help="Seeds, e.g. 0-29 or 0,4,7.")
@click.option("--oracle", "oracle_spec", default="nb201-csv", show_default=True,
              help="nb201-csv[:PATH] (shared NB201 CIFAR-10 table), nb201-fidelities (the same at 12 and 200"
                   " epochs), csv:PATH, or econas[:SETTING[,SETTING...]] (real reduced training, e.g."
                   " econas:c4r4s0e10; several settings are fidelities).")
@click.option("--fidelity", default=None, help="Fidelity a plain algorithm trains at (default: the most faithful).")
@click.option("--device", default="cpu", show_default=True, help="Device of a training oracle.")
@click.option("--train-data", default="cifar10", show_default=True,
              help="Training data of a training oracle: cifar10 (the shared 5085-image subset) or cifar10:ROOT.")
@click.option("--train-cost", type=click.Choice(["wall", "cpu"]), default="wall", show_default=True,
              help="Seconds a training oracle charges per training (cpu: fairer on a shared machine).")
@click.option("--valid", "valid_col", default=None, help=f"Table column searched [default: {NB201_VALID}].")
@click.option("--test", "test_col", default=None, help=f"Table column reported [default: {NB201_TEST}].")
@click.option("--cost", "cost_col", default=None,
              help=f"Table column of seconds per query, or 'none' for 1 s per query [default: {NB201_COST}].")
@click.option("--arch-column", default=None, help="Architecture column of --oracle csv:PATH [default: arch_str].")
@click.option("--proxy-seconds", type=float, default=0.0, show_default=True,
              help="Cost charged per architecture scored with a table-column proxy (params, flops) or with "
                   "stored scores of which none was timed (imported).")
@click.option("--param", "params", multiple=True, help="Algorithm option KEY=VALUE (repeatable).")
@click.option("--store", "store_path", default=DEFAULT_STORE, show_default=True,
              help="SQLite results file: queries are recorded there and runs resume from it.")
@click.option("--run-name", default=None, help="Name of the run in the store (default: from the setup).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Folder for trajectories.csv, summary.json and plots [default with --plot: runs/RUN_NAME].")
@click.option("--max-cost-hours", type=float, default=None, help="Also stop a seed once its cost reaches this.")
@click.option("--plot", is_flag=True, help="Write median/IQR plots (into --out).")
@click.option("--compare", multiple=True, help="Other run names from the store to include in the plots.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@workers_option
@executor_options
def search_cmd(space_name: str, algorithm: str, budget: int, warmup: str | None, move: str | None,
               move_random_prob: float, seeds: str, oracle_spec: str, fidelity: str | None, device: str,
               train_data: str, train_cost: str,
               valid_col: str | None, test_col: str | None, cost_col: str | None, arch_column: str | None,
               proxy_seconds: float, params: tuple[str, ...], store_path: str, run_name: str | None,
               out_dir: Path | None, max_cost_hours: float | None, plot: bool, compare: tuple[str, ...],
               quiet: bool, workers: int, **executor_opts: Any) -> None:
    """Search a space (random, rea, reinforce, predictor, hierarchical) with optional zero-cost warmup and move
    proposal, against a benchmark table or real reduced training; queries are recorded in --store and a rerun
    resumes (a rerun under the same --run-name with other settings is refused). With --workers N or
    --executor ray the seeds run as parallel tasks; this process alone writes the store."""
    try:
        space = get_space(space_name)
        oracle = make_oracle(oracle_spec, space, valid_col, test_col, cost_col, arch_column, device,
                             store=store_path, train_data=train_data, train_cost=train_cost)
        if fidelity is not None:
            oracle.level(fidelity)
        warm = parse_warmup(warmup)
        kwargs = parse_params(params)
        Store(store_path).close()  # the store exists before proxies resolve, so live scores are stored there
        executor = optional_executor(executor_opts, workers=workers, spawn=device.startswith("cuda"))
    except (KeyError, ValueError, FileNotFoundError) as exc:
        raise fail(exc) from None
    seed_list = parse_seeds(seeds)
    name = run_name or default_run_name(space, algorithm, warm, move) + (f"@{fidelity}" if fidelity else "")
    if plot and out_dir is None:
        out_dir = Path("runs") / name.replace(":", "_")
    threshold = oracle.top_threshold(0.001) if isinstance(oracle, TableOracle) else None
    max_cost = None if max_cost_hours is None else max_cost_hours * 3600.0
    proxies = list(dict.fromkeys(p for p in (warm[0] if warm else None, move) if p is not None))
    try:  # an unknown proxy is one error line before any seed starts, here or on workers
        shared = {p: resolve_scorer(p, space, oracle, store_path, proxy_seconds) for p in proxies}
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if executor is None:
        histories = _search_here(space, oracle, seed_list, algorithm, budget, warm, move, move_random_prob,
                                 store_path, name, quiet, proxy_seconds, fidelity, max_cost, kwargs, shared)
    else:
        try:
            with executor:
                histories = run_many(space, seed_list, executor=executor, algorithm=algorithm, oracle=oracle,
                                     budget=budget, warmup=warm, move=move, move_random_prob=move_random_prob,
                                     store=store_path, run_name=name, progress=not quiet,
                                     table_seconds=proxy_seconds, fidelity=fidelity, max_cost=max_cost, **kwargs)
        except (ValueError, KeyError, RuntimeError, TypeError) as exc:
            raise click.ClickException(str(exc)) from None
        for hist in histories:
            _echo_seed(hist)
    summary = summarise(histories, threshold)
    best = summary.get("best_overall")
    if best:
        click.echo(f"{name}: {len(histories)} seed(s), median best test {summary['median_best_test']:.2f} %, "
                   f"median cost {format_cost(summary['median_cost_s'])}")
        click.echo(f"best architecture (seed {best['seed']}): {best['best_arch']}  valid {best['best_valid']:.2f}"
                   f"  test {best['best_test']:.2f}")
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        pd.concat([h.to_frame() for h in histories], ignore_index=True).to_csv(out_dir / "trajectories.csv",
                                                                                index=False)
        (out_dir / "summary.json").write_text(json.dumps({"run_name": name, **summary}, indent=2, default=str))
        if plot:
            from archrank.search.plots import frame_from_store, plot_trajectories

            with HistoryDB(store_path) as db:
                frame = frame_from_store(db.trajectories([name, *compare]))
            seed_set = set(seed_list)
            frame = frame[(frame["variant"] != name) | frame["seed"].isin(seed_set)]
            for path in plot_trajectories(frame, out_dir, prefix="search", title=f"{space.name}: {name}",
                                          threshold=threshold):
                click.echo(f"wrote {path}")
        click.echo(f"wrote {out_dir / 'trajectories.csv'} and {out_dir / 'summary.json'}")


def _search_here(space: SearchSpace, oracle: Oracle, seeds: list[int], algorithm: str, budget: int,
                 warm: tuple[str, int] | None, move: str | None, move_random_prob: float, store_path: str, name: str,
                 quiet: bool, proxy_seconds: float, fidelity: str | None, max_cost: float | None,
                 kwargs: dict[str, Any], shared: dict[str, ProxyScorer]) -> list[History]:
    """The seeds one after the other in this process, sharing one scorer per proxy (``shared``, closed at the end):
    each seed charges its own proxy seconds (``search.run`` forks a given scorer per run), but nothing is computed
    twice."""
    histories = []
    try:
        for seed in seeds:
            try:
                hist = run(space, algorithm, oracle, budget, warmup=warm, move=move, seed=seed,
                           proxy_scorer=shared, move_random_prob=move_random_prob,
                           store=store_path, run_name=name, progress=not quiet, table_seconds=proxy_seconds,
                           fidelity=fidelity, max_cost=max_cost, **kwargs)
            except (ValueError, KeyError, RuntimeError, TypeError) as exc:
                raise click.ClickException(str(exc)) from None
            histories.append(hist)
            _echo_seed(hist)
    finally:
        for scorer in shared.values():
            scorer.close()
    return histories


def _echo_seed(hist: History) -> None:
    note = f" (resumed {hist.resumed})" if hist.resumed else ""
    click.echo(hist.summary() + note, err=True)
