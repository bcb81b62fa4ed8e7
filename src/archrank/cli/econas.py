"""Click commands of the EcoNAS tools (listed in ``archrank.cli.main.COMMANDS``): ``consistency``, ``train`` and
``econas-search`` (Zhou et al., "EcoNAS", CVPR 2020)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click

from archrank.cli.options import (
    device_option,
    parse_names,
    parse_seeds,
    parse_shard,
    quiet_option,
    resolve_space,
    setup_torch,
    store_option,
    threads_option,
    workers_option,
)
from archrank.econas.consistency import DEFAULT_GRID
from archrank.executors import executor_options, optional_executor

DATA_NOTE = "the shared CIFAR-10 here is a 5085-image training subset (1017 test images)"
DATA_HELP = "cifar10[:DIR], cifar100[:DIR], or a FILE.npz written by econas-data."


def recipe_options(command: Any) -> Any:
    """``--batch-size``, ``--lr`` and ``--schedule-epochs``: the parts of the training recipe a study varies (the
    defaults are NB201's recipe; e.g. the zero-cost paper's EcoNAS proxy is ``c4r4s0e20`` with ``--batch-size 2048
    --schedule-epochs 40``). Trainings under a non-default recipe are stored under their own key."""
    command = click.option("--schedule-epochs", type=click.IntRange(min=1), default=None,
                           help="Cosine schedule length in epochs when it is longer than the training (a snapshot "
                           "of a longer run); default: the setting's epochs.")(command)
    command = click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=0.1, show_default=True,
                           help="Initial learning rate.")(command)
    return click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True,
                        help="Training batch size.")(command)


def make_recipe(batch_size: int, lr: float, schedule_epochs: int | None, settings: list[str]) -> Any:
    """The :class:`Recipe` of the recipe options, checked against every setting (ClickException with the reason)."""
    from archrank.econas.setting import parse_setting
    from archrank.econas.trainer import Recipe

    try:
        parsed = [parse_setting(setting) for setting in settings]
        if parsed and all(setting.epochs == schedule_epochs for setting in parsed):
            schedule_epochs = None  # the default schedule: same trainings, so the same store key
        recipe = Recipe(batch_size=batch_size, lr=lr, schedule_epochs=schedule_epochs)
        for setting in parsed:
            recipe.horizon(setting)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    return recipe


@click.command("consistency")
@click.option("--space", "space_name", default="nb201", show_default=True, help="Search space (needs a truth table).")
@click.option("--sample", type=int, default=100, show_default=True, help="Seeded uniform sample of N architectures.")
@click.option("--sample-seed", type=int, default=0, show_default=True)
@click.option("--settings", default=",".join(DEFAULT_GRID), show_default=True, help="Comma-separated settings.")
@click.option("--seeds", default="0", show_default=True, help="Training seeds, e.g. 0-2 or 0,3,5.")
@click.option("--data", "data_spec", default="cifar10", show_default=True, help=DATA_HELP)
@device_option
@threads_option
@store_option
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Write consistency.csv and consistency.png here.")
@quiet_option
@click.option("--stack", type=click.IntRange(min=1), default=1, show_default=True,
              help="NB201: train this many architectures of a setting at once as one stacked network (here, "
              "setting by setting in the order given).")
@click.option("--shard", default="0/1", show_default=True,
              help="I/N: train only every N-th architecture of the sample from the I-th, so N processes share one "
              "store (the report covers every architecture trained so far).")
@recipe_options
@workers_option
@executor_options
def consistency_cmd(
    space_name: str, sample: int, sample_seed: int, settings: str, seeds: str, data_spec: str, device: str,
    threads: int | None, store_path: str, out_dir: Path | None, quiet: bool, stack: int, shard: str,
    batch_size: int, lr: float, schedule_epochs: int | None, workers: int, **executor_opts: Any,
) -> None:
    """Train a sample of architectures under reduced settings and report each setting's rank consistency
    (Spearman/Kendall vs the benchmark's 200-epoch accuracy) with its cost. Resumes from the store."""
    from archrank.econas.consistency import consistency_table, nb201_truth, plot_consistency, train_many
    from archrank.econas.data import load_data
    from archrank.econas.setting import parse_setting
    from archrank.econas.store import TrainingStore
    from archrank.econas.trainer import variant_tag

    setup_torch(threads, device)
    index, count = parse_shard(shard)
    space = resolve_space(space_name)
    if space.name != "nb201":
        raise click.ClickException("consistency needs a ground-truth table: only nb201 is supported")
    try:
        names = [str(parse_setting(s.strip())) for s in settings.split(",") if s.strip()]
        recipe = make_recipe(batch_size, lr, schedule_epochs, names)
        truth = nb201_truth(space)
        archs = space.sample_many(sample, seed=sample_seed)
        raw = load_data(data_spec)
        executor = optional_executor(executor_opts, workers=workers, spawn=device.startswith("cuda"))
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    with TrainingStore(store_path) as store, executor or contextlib.nullcontext():
        try:
            ran = train_many(space, archs[index::count], names, raw, store, seeds=parse_seeds(seeds),
                             device=device, progress=not quiet, executor=executor, stack=stack, recipe=recipe)
        except (ValueError, FileNotFoundError) as exc:
            raise click.ClickException(str(exc)) from None
        keys = {space.key(a) for a in archs}
        names = [name + variant_tag(space, recipe) for name in names]
        # this data set's trainings only (a store may hold the same setting trained on another data set, e.g. the
        # 5085-image subset and the full CIFAR-10), and this device type's only
        results = store.results(space=space.name, settings=names, data=raw.key, device=device)
        failures = store.failures(space=space.name, settings=names, data=raw.key)
    failures = failures[failures["arch_key"].isin(keys)]
    table = consistency_table(results[results["arch_key"].isin(keys)], truth, settings=names)
    note = ("data from the file given" if data_spec.endswith(".npz")
            else DATA_NOTE if ":" not in data_spec else "data from the folder given")
    click.echo(f"{ran} new trainings; {len(archs)} architectures; data: {data_spec} ({note})", err=True)
    if len(failures):
        click.echo(f"{len(failures)} trainings failed and are left out (recorded with their reasons; the next run "
                   f"tries them again), e.g. {failures['arch_key'].iloc[0]} under {failures['setting'].iloc[0]}: "
                   f"{failures['error'].iloc[0]}", err=True)
    click.echo(table.to_string(index=False))
    if out_dir is not None and not table.empty:
        out_dir.mkdir(parents=True, exist_ok=True)
        table.to_csv(out_dir / "consistency.csv", index=False)
        caption = (f"{space.name}, {int(table['archs'].min())} architectures (seed {sample_seed}); data {data_spec}: "
                   f"{note}; reference: NB201 200-epoch CIFAR-10 test accuracy.")
        plot_consistency(table, out_dir / "consistency.png", caption)
        click.echo(f"wrote {out_dir / 'consistency.csv'} and {out_dir / 'consistency.png'}", err=True)


@click.command("train")
@click.argument("arch")
@click.option("--space", "space_name", default="nb201", show_default=True)
@click.option("--setting", default="c4r4s0e10", show_default=True, help="EcoNAS setting, e.g. c4r4s0e10.")
@click.option("--data", "data_spec", default="cifar10", show_default=True, help=DATA_HELP)
@click.option("--seed", type=int, default=0, show_default=True)
@device_option
@threads_option
@click.option("--store", "store_path", default=None, help="Also store the result in this SQLite file.")
@recipe_options
@executor_options
def train_cmd(
    arch: str, space_name: str, setting: str, data_spec: str, seed: int, device: str, threads: int | None,
    store_path: str | None, batch_size: int, lr: float, schedule_epochs: int | None, **executor_opts: Any,
) -> None:
    """Train ARCH (string, index or tuple) under a reduced EcoNAS setting and print its test accuracy and cost."""
    from archrank.econas.parallel import train_remote
    from archrank.econas.store import TrainingStore
    from archrank.econas.trainer import train

    setup_torch(threads, device)
    space = resolve_space(space_name)
    try:
        recipe = make_recipe(batch_size, lr, schedule_epochs, [setting])
        executor = optional_executor(executor_opts, spawn=device.startswith("cuda"))
        if executor is None:
            result = train(space, space.parse(arch), setting, data_spec, seed=seed, device=device, recipe=recipe)
        else:
            with executor:
                result = train_remote(executor, space, space.parse(arch), setting, data_spec, seed=seed, device=device,
                                      recipe=recipe)
    except (ValueError, FileNotFoundError, TypeError) as exc:
        raise click.ClickException(str(exc)) from None
    if store_path is not None:
        with TrainingStore(store_path) as store:
            store.put(result)
    for label in ("setting", "recipe", "accuracy", "seconds", "cpu_seconds", "epochs", "iterations", "final_train_loss",
                  "num_params", "width", "resolution", "train_samples", "test_samples", "data", "device"):
        value = getattr(result, label)
        click.echo(f"{label:18s} {value:.3f}" if isinstance(value, float) else f"{label:18s} {value}")


@click.command("econas-data")
@click.option("--data", "data_spec", default="cifar10", show_default=True, help="cifar10[:DIR] or cifar100[:DIR].")
@click.option("--side", type=click.IntRange(min=1), default=8, show_default=True,
              help="Resize both splits to SIDE x SIDE pixels (8 = the r4 settings of 32-pixel CIFAR).")
@click.option("--out", "out_path", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="The .npz file to write.")
def econas_data_cmd(data_spec: str, side: int, out_path: Path) -> None:
    """Write a data set resized in advance to one file, to carry to another machine (a GPU machine takes
    `--data FILE.npz`): trainings of that resolution from it equal trainings from the original and share its key."""
    from archrank.econas.data import load_data, reduce_in_advance, save_data

    try:
        raw = load_data(data_spec)
        path = save_data(reduce_in_advance(raw, side), out_path)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): {raw.name} {len(raw.train_labels)} + "
               f"{len(raw.test_labels)} images at {side}x{side}, key {raw.key}")


@click.command("econas-search")
@click.option("--seeds", type=int, default=25, show_default=True, help="Number of search seeds (0 .. N-1).")
@click.option("--budget-hours", type=float, default=40.0, show_default=True,
              help="Training cost per run, in GPU hours of NB201's own timings (table fidelities).")
@click.option("--warmup", type=int, default=3000, show_default=True,
              help="Zero-cost warmup pool (params from the NB201 table) of the guided variants; 0 leaves them out.")
@click.option("--proxy-seconds", type=float, default=1.0, show_default=True,
              help="Cost charged per cell scored by the zero-cost proxy.")
@click.option("--tiers", default=None,
              help="Search on REAL reduced trainings instead of NB201's tables: EcoNAS settings, cheapest first "
                   "(e.g. c4r4s1e5,c4r4s0e10); the budget is then --budget-seconds.")
@click.option("--budget-seconds", type=float, default=None, help="Training seconds per run with --tiers.")
@click.option("--data", "data_spec", default="cifar10", show_default=True,
              help="Training data with --tiers: cifar10 (shared subset) or cifar10:DIR (e.g. the full data set).")
@click.option("--train-cost", type=click.Choice(["wall", "cpu"]), default="cpu", show_default=True,
              help="Seconds charged per training with --tiers (cpu: fair on a shared machine).")
@click.option("--store", "store_path", default="archrank.db", show_default=True,
              help="With --tiers: SQLite file caching every training (reused across seeds, methods and runs).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path, file_okay=False), default=None)
def econas_search_cmd(seeds: int, budget_hours: float, warmup: int, proxy_seconds: float, tiers: str | None,
                      budget_seconds: float | None, data_spec: str, train_cost: str, store_path: str,
                      out_dir: Path | None) -> None:
    """Hierarchical EcoNAS vs flat REA at each fidelity and zero-cost-guided variants, at equal compute; median over
    seeds. Default: NB201's REAL table fidelities (its 12-epoch and 200-epoch trainings of every cell). With
    --tiers: real reduced trainings done here (cached in --store), judged by the pick's NB201 200-epoch test
    accuracy."""
    from archrank.econas.compare import compare_searches, plot_comparison, real_fidelity_methods, summarize
    from archrank.econas.hierarchical import training_oracle
    from archrank.search.oracles import TableOracle
    from archrank.search.proxy import TableScorer

    if seeds < 1 or budget_hours <= 0 or warmup < 0:
        raise click.ClickException("need --seeds >= 1, --budget-hours > 0 and --warmup >= 0")
    if (tiers is None) != (budget_seconds is None) or (budget_seconds is not None and budget_seconds <= 0):
        raise click.ClickException("--tiers and --budget-seconds (> 0) go together")
    space = resolve_space("nb201")
    try:
        table = TableOracle.nb201_fidelities(space)
        oracle = table if tiers is None else training_oracle(
            space, parse_names(tiers, "tier"), data_spec, store=store_path, cost=train_cost)
    except (ValueError, FileNotFoundError) as exc:
        raise click.ClickException(str(exc)) from None
    zero_cost = None
    if warmup:
        zero_cost = TableScorer(space, table.frame["params_M"], name="params", seconds=proxy_seconds,
                                missing="raise")
    budget = budget_hours * 3600.0 if budget_seconds is None else budget_seconds
    methods = real_fidelity_methods(space, oracle, budget, zero_cost=zero_cost, warmup=warmup)
    summary = summarize(compare_searches(methods, range(seeds), budget))
    final = summary[summary["cost"] == summary["cost"].max()]
    if tiers is None:
        note = ("REAL fidelities: NB201 12-epoch validation accuracy (cost 12/200 of the 200-epoch time) and "
                "200-epoch validation accuracy; reported: 200-epoch test accuracy of the pick.")
        name, unit, xlabel = "search_real_fidelities", 3600.0, "training cost (GPU hours, NB201's own timings)"
    else:
        note = (f"REAL reduced trainings here ({tiers}; {data_spec}; {train_cost} seconds charged, cached trainings "
                f"at their recorded cost); searched by the reduced training's accuracy on a held-out tenth of the "
                f"training images (never the test split), reported: NB201 200-epoch test accuracy of the pick.")
        name, unit, xlabel = "search_training_oracle", 1.0, f"training cost ({train_cost} seconds, this machine)"
    click.echo(note, err=True)
    click.echo(final.to_string(index=False))
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        summary.to_csv(out_dir / f"{name}.csv", index=False)
        plot_comparison(summary, out_dir / f"{name}.png", f"Median of {seeds} seeds. {note}", cost_unit=unit,
                        xlabel=xlabel)
        click.echo(f"wrote {out_dir / f'{name}.csv'} and {out_dir / f'{name}.png'}", err=True)
