"""Is Discrete Proxy Search robust to the noise of its 20 labels, and does it adapt Eproxy to a space? (issue 17,
part 4; issue 14's "Eproxy + DPS per space")

For each of ``--draws`` independent draws of 20 labelled cells of ``--space`` (``sample_many(20, seed=2210 + d)``),
DPS runs with the robust defaults (first proposal = the default preset; result = the fittest proposal that beats the
default in ``--confidence`` of bootstrap resamples of the 20 labels, else the default), then the default preset,
DPS's chosen config and (``--eval-fittest``) the fittest proposal of the same run (the paper's pick) are scored on
``--eval`` held-out cells (a seeded sample excluding every labelled cell of every draw) and ranked against the
space's ground truth (:func:`archrank.bench.truth.load_truth` with ``--truth``, default ``auto``: NB201's CIFAR-10
test accuracy, NAS-Bench-Macro's mean test accuracy, ...). Resumable: every proposal and every score is in
``--store``; rerun the same command to continue.

Writes ``dps_robust.csv`` for NB201 (the session-4 file name) and ``dps_robust_<study>.csv`` with a markdown
table ``dps_robust_<study>_table.md`` for any other space, under ``--out``; ``<study>`` is the space's name, plus
the truth option where ``--truth`` names one (``--space tnb101-micro --truth benchmark:jigsaw`` is
``tnb101-micro-jigsaw``: each TransNAS-Bench-101 task is its own study, with its own DPS runs in the store).

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/eproxy_dps_robust.py --space macro --draws 5 \\
        --budget 16 --population 8 --tournament 3 --eval 100 --eval-fittest --store /work/dps_macro/store.db
"""

from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import archrank
from archrank import get_space
from archrank.bench.metrics import spearman
from archrank.bench.report import markdown_table
from archrank.bench.truth import load_truth
from archrank.data import load_batch
from archrank.eproxy.dps import run_dps
from archrank.eproxy.dps_space import DPSSpace
from archrank.eproxy.evaluate import sample_eval_archs, score_archs, undefined_last
from archrank.eproxy.presets import resolve_config
from archrank.eproxy.store import EproxyStore

LABELLED_SEED = 2210

ENSEMBLE_ROW = "default ensemble (label-free)"


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", default="nb201", help="Search space (its ground truth must load).")
    p.add_argument("--truth", default="auto", help="Ground-truth spec (archrank.bench.truth.load_truth).")
    p.add_argument("--metric", default=None, help="Ground-truth column (default: the spec's own).")
    p.add_argument("--draws", type=int, default=5)
    p.add_argument("--labelled", type=int, default=20)
    p.add_argument("--budget", type=int, default=16)
    p.add_argument("--population", type=int, default=8)
    p.add_argument("--tournament", type=int, default=3)
    p.add_argument("--confidence", type=float, default=0.95)
    p.add_argument("--eval", type=int, default=200, help="Held-out cells (labelled cells of every draw excluded).")
    p.add_argument("--eval-fittest", action="store_true", help="Also score each run's fittest proposal held out.")
    p.add_argument("--only", default=None, help="Run/report only these draws (e.g. 0,1); the held-out sample still "
                   "excludes the labelled cells of all --draws.")
    p.add_argument("--store", default="/work/dps_robust/store.db")
    p.add_argument("--out", default="docs/results/eproxy")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--baselines", default="params,flops", help="Columns of the space's benchmark file ranked on the "
                   "held-out cells beside the configs (spaces other than NB201; missing ones are skipped).")
    p.add_argument("--ensemble-store", default=None, help="Also rank the held-out cells by archrank's label-free "
                   "default ensemble (ENSEMBLE_PROXIES after the label-free member checks, as `archrank rank --by "
                   "ensemble`), scoring them into this results store where missing (resumable; e.g. the cross-space "
                   "store, whose scores it reuses when the data and batch size match).")
    p.add_argument("--ensemble-batch-size", type=int, default=64, help="CIFAR-10 batch of the ensemble's scoring "
                   "(the cross-space study used 16 on TransNAS-Bench-101 and NDS, 64 elsewhere).")
    return p.parse_args()


def draw_cells(space, truth: pd.Series, draws: int, labelled: int, n_eval: int) -> tuple[list[list], list]:
    """The labelled cells of each draw and the held-out cells (none of any draw's labelled cells).

    Where the ground truth covers the whole space (NB201, NAS-Bench-Macro) they are drawn from the space, as in
    sessions 4-5 (so their stores resume); where it covers a subset (NB101/NB301 Suite-Zero records, NDS records,
    TransNAS tables) from the truth's own cells: a seeded shuffle of its sorted keys per draw, and for the held-out
    cells a shuffle with seed 0 of the keys left."""
    keys = sorted(truth.dropna().index)
    if space.size is not None and len(keys) >= space.size:
        sets = [space.sample_many(labelled, seed=LABELLED_SEED + d) for d in range(draws)]
        excluded = {space.key(a) for archs in sets for a in archs}
        return sets, (sample_eval_archs(space, n_eval, seed=0, exclude=excluded) if n_eval else [])
    sets = [[space.from_key(k) for k in random.Random(LABELLED_SEED + d).sample(keys, labelled)]
            for d in range(draws)]
    excluded = {space.key(a) for archs in sets for a in archs}
    rest = [k for k in keys if k not in excluded]
    random.Random(0).shuffle(rest)
    if len(rest) < n_eval:
        raise ValueError(f"--eval {n_eval}: only {len(rest)} cells of {space.name}'s ground truth are left "
                         f"after the labelled ones")
    return sets, [space.from_key(k) for k in rest[:n_eval]]


def held_out_rho(space, archs, config, batch, truth, store) -> float:
    """Spearman ρ of ``config``'s Eproxy ranking of the held-out ``archs``, undefined values ranked last — the same
    values (:func:`held_values`) and the same ρ as the held-out context table, so the two never disagree."""
    if not archs:
        return math.nan
    values = held_values(space, archs, config, batch, store)
    return spearman(np.asarray(values, dtype=float), np.asarray([float(truth[space.key(a)]) for a in archs]))


def main() -> None:
    args = parse()
    torch.set_num_threads(args.threads)
    space = get_space(args.space)
    truth_spec = load_truth(args.truth, space, args.metric)
    truth = truth_spec.values
    label = study_label(space.name, args.truth)
    print(f"{label}: ground truth {truth_spec.source}", flush=True)
    batch = load_batch("cifar10", None, batch_size=16, seed=0)
    default = resolve_config("default")
    draws, held = draw_cells(space, truth, args.draws, args.labelled, args.eval)
    only = set(range(args.draws)) if args.only is None else {int(d) for d in args.only.split(",")}
    out = Path(args.out)
    rows = []
    picks = {default.key: default}  # every config ranked held out, for the context table
    start = time.time()
    with EproxyStore(args.store) as store:
        # the default's held-out scores first, then draw by draw: search, then its picks held out (so that every
        # finished draw is a complete row of the CSV even if the run is stopped)
        rho_default = held_out_rho(space, held, default, batch, truth, store)
        print(f"[{time.time() - start:6.0f} s] default held-out rho {rho_default:.4f} on {len(held)} cells", flush=True)
        for d, archs in enumerate(draws):
            if d not in only:
                continue
            labelled = [(a, float(truth[space.key(a)])) for a in archs]
            result = run_dps(
                space, labelled, store_path=store.store, batch=batch,
                run_name=run_name(label, args.population, args.tournament, d),
                dps_space=DPSSpace(base=default), budget=args.budget, population=args.population,
                tournament=args.tournament, seed=0, start_from="base", select="confident",
                confidence=args.confidence, progress=False,
            )
            print(f"[{time.time() - start:6.0f} s] draw {d} searched", flush=True)
            chosen, fittest = result.best, result.fittest or result.best
            rho_chosen = (rho_default if chosen.config == default  # the same config: the same scores
                          else held_out_rho(space, held, chosen.config, batch, truth, store))
            rho_fittest = math.nan
            if args.eval_fittest or fittest.config == chosen.config:
                rho_fittest = (rho_chosen if fittest.config == chosen.config
                               else held_out_rho(space, held, fittest.config, batch, truth, store))
            rows.append({
                "draw": d, "labelled seed": LABELLED_SEED + d, "proposals": len(result.history),
                "distinct configs": len({c.config.key for c in result.history}),
                "default fitness (20)": result.history[0].fitness,
                "fittest fitness (20)": fittest.fitness, "fittest step": fittest.step,
                "fittest config": fittest.config.key[:8],
                "win rate of fittest": (result.win_rates or {}).get(fittest.config.key, math.nan),
                "win rates (finalists)": " ".join(f"{k[:8]}:{v:.3f}" for k, v in (result.win_rates or {}).items()),
                "chosen": "default" if chosen.config == default else f"step {chosen.step}",
                "held-out ρ default": rho_default, "held-out ρ DPS (robust)": rho_chosen,
                "held-out ρ fittest": rho_fittest,
            })
            print(f"[{time.time() - start:6.0f} s] draw {d}: {json.dumps(rows[-1], default=str)}", flush=True)
            pd.DataFrame(rows).to_csv(out / csv_name(label), index=False)
            picks[chosen.config.key] = chosen.config
            if args.eval_fittest:
                picks[fittest.config.key] = fittest.config
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))
    if label != "nb201" and rows:
        with EproxyStore(args.store) as store:  # every score is stored by now: nothing is recomputed
            values = {("default" if key == default.key else key[:8]): held_values(space, held, cfg, batch, store)
                      for key, cfg in picks.items()}
        for name in filter(None, args.baselines.split(",")):
            try:
                column = load_truth(args.truth, space, name).values
                values[name] = [float(column[space.key(a)]) for a in held]
            except ValueError as exc:
                if name not in archrank.list_proxies():
                    print(f"baseline {name} skipped: {exc}", flush=True)
                    continue
                print(f"baseline {name}: not in the benchmark file, computed with archrank's {name} proxy", flush=True)
                values[name] = computed_baseline(space, held, name)
        if args.ensemble_store:
            values[ENSEMBLE_ROW] = ensemble_values(space, held, args.ensemble_store, args.ensemble_batch_size)
        accuracies = [float(truth[space.key(a)]) for a in held]
        context = held_out_context(values, accuracies)
        context.to_csv(out / f"dps_robust_{label}_heldout.csv", index=False)
        print(context.to_string(index=False))
        (out / f"dps_robust_{label}_table.md").write_text(
            summary_markdown(table, truth_spec.source) + f"\nHeld out ({len(held)} cells), 95 % bootstrap CIs "
            f"(1000 resamples of the cells, seed 0; Δ paired with the default, and with the label-free ensemble where "
            f"it was ranked, on the same resamples):\n\n"
            + markdown_table(context.set_index("ranked by").round(3)) + "\n")


def computed_baseline(space, archs, proxy: str) -> list[float]:
    """``proxy`` (e.g. ``params``, ``flops``) computed on ``archs`` where the benchmark file does not list it (the
    TransNAS-Bench-101 tables carry no parameter count); one CIFAR-10 batch of 2, enough for data-free proxies."""
    batch = load_batch("cifar10", None, batch_size=2, seed=0)
    scorer = archrank.create_proxy(proxy)
    return [float(archrank.score(space.build(a), [scorer], batch=batch, seed=0)[proxy]) for a in archs]


def ensemble_values(space, archs, store_path: str, batch_size: int) -> list[float]:
    """archrank's label-free default ensemble on ``archs``: ``ENSEMBLE_PROXIES`` scored into ``store_path`` where
    missing (one CIFAR-10 batch of ``batch_size``, seed 0, CPU), combined by the members that pass the label-free
    checks, exactly as ``archrank rank --by ensemble`` does."""
    from archrank.bench import ENSEMBLE_PROXIES
    from archrank.cli.options import default_num_classes
    from archrank.cli.options import load_data as load_scoring_batch
    from archrank.cli.score import ENSEMBLE, ranking_table
    from archrank.proxies import expand_proxy_names
    from archrank.runner import config_hashes, model_config, score_space
    from archrank.store import Store

    names = expand_proxy_names(list(ENSEMBLE_PROXIES))
    num_classes = default_num_classes(space, "cifar10")
    batch, batch_hash = load_scoring_batch("cifar10", batch_size, 0, tuple(space.input_shape))
    selection = {"seed": 0, "batch": batch_hash, "device": "cpu",
                 "config": config_hashes(names, model_config(space, num_classes, {}))}
    with Store(store_path) as store:
        store.put_input(batch_hash, "cifar10", {"data": "cifar10", "batch_size": batch_size, "seed": 0,
                                                "shape": list(batch[0].shape[1:])})
        score_space(space, archs, names, store, batch, batch_hash=batch_hash, seed=0, num_classes=num_classes)
        table = ranking_table(space, archs, names, store, ENSEMBLE, selection)
    print(f"default ensemble on {len(archs)} held-out cells: {table.attrs['members']}", flush=True)
    return [float(v) for v in table[ENSEMBLE].reindex([space.key(a) for a in archs])]


def held_values(space, archs, config, batch, store) -> list[float]:
    """Stored Eproxy values of ``archs`` under ``config`` (scored now if missing), undefined ones ranked last."""
    scores = score_archs(space, archs, config, batch, seed=0, store=store)
    return undefined_last([scores[space.key(a)]["value"] for a in archs])


def held_out_context(values: dict[str, list[float]], accuracies: list[float], n_boot: int = 1000) -> pd.DataFrame:
    """Spearman ρ of each ranking on the held-out cells with a percentile bootstrap CI, and its paired difference
    with the default's (the same resampled cells for both), so that a gap can be read against its noise; where the
    label-free ensemble was ranked too, the paired difference with it as well."""
    acc = np.asarray(accuracies, dtype=float)
    idx = np.random.default_rng(0).integers(0, len(acc), size=(n_boot, len(acc)))

    def boot(v: np.ndarray) -> np.ndarray:
        return np.array([spearman(v[i], acc[i]) for i in idx])

    boots = {name: boot(np.asarray(vals, dtype=float)) for name, vals in values.items()}
    points = {name: spearman(np.asarray(vals, dtype=float), acc) for name, vals in values.items()}
    # reference row -> (name of its Δρ column, suffix of its interval columns)
    references = {"default": ("vs default", ""), ENSEMBLE_ROW: ("vs ensemble", " (ens.)")}
    rows = []
    for name in values:
        rho, point = boots[name], points[name]
        row = {"ranked by": name, "ρ": point,
               "CI low": np.nanpercentile(rho, 2.5), "CI high": np.nanpercentile(rho, 97.5)}
        for ref, (label, suffix) in references.items():
            if ref in values:
                delta = rho - boots[ref]
                row.update({f"Δρ {label}": point - points[ref], f"Δ CI low{suffix}": np.nanpercentile(delta, 2.5),
                            f"Δ CI high{suffix}": np.nanpercentile(delta, 97.5)})
        rows.append(row)
    return pd.DataFrame(rows)


def study_label(space: str, truth: str) -> str:
    """The name a study goes by in run names and files: the space, plus the truth option where ``--truth`` picks
    one other than the default (e.g. ``tnb101-micro-room_layout`` for ``--truth benchmark:room_layout``), so that
    two tasks of one space never resume each other's DPS runs or overwrite each other's files."""
    kind, _, option = truth.partition(":")
    return f"{space}-{option}" if kind == "benchmark" and option else space


def run_name(space: str, population: int, tournament: int, draw: int) -> str:
    """The DPS run's name in the store; NB201 keeps the session-4 names so that its store resumes."""
    base = f"robust-p{population}t{tournament}-d{draw}"
    return base if space == "nb201" else f"{space}-{base}"


def csv_name(space: str) -> str:
    """Per-draw CSV file name; NB201 keeps the session-4 name."""
    return "dps_robust.csv" if space == "nb201" else f"dps_robust_{space}.csv"


def summary_markdown(table: pd.DataFrame, source: str) -> str:
    """The per-draw table with a mean row, as markdown, and the truth it was measured against."""
    mean = {c: table[c].mean() for c in table.select_dtypes("floating").columns}
    full = pd.concat([table, pd.DataFrame([{"draw": "mean", **mean}])], ignore_index=True)
    for column in table.select_dtypes("integer").columns.drop("draw", errors="ignore"):
        full[column] = full[column].astype("Int64")  # integers stay integers beside the mean row's blanks
    return f"Ground truth: {source}.\n\n{markdown_table(full.set_index('draw').round(3))}\n"


if __name__ == "__main__":
    main()
