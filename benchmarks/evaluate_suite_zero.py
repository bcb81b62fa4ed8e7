"""Real-data demo of the evaluation pipeline: NAS-Bench-Suite-Zero's reference scores vs NB201 accuracy.

The Suite-Zero JSON (../shared/data/nb201/suite_zero_nb201_cifar10.json) holds NASLib's reference scores of
12 proxies for 725 NB201 cells. They are written into a throw-away results store exactly as the engine
writes its own scores, then evaluated by the same pipeline as ``archrank evaluate`` against CIFAR-10 test
accuracy from the shared NB201 table (NATS-Bench, 200 epochs; ``--truth analog`` uses the analog-nasbench
package's own CIFAR-10 training instead). Label-free ensembles:

- ``default``: the members of ``ENSEMBLE_PROXIES`` present in the file (nwot, synflow);
- ``all``: all 12 reference proxies, signs as NASLib computed them (plain correlates negatively);
- ``zc2021``: synflow, jacov, snip — the voting set of the zero-cost paper (Abdelfattah et al., 2021).

None of the sets was picked by looking at accuracy. Writes docs/results/suite_zero_reference/.

    python benchmarks/evaluate_suite_zero.py [--out docs/results/suite_zero_reference] [--bootstrap 2000]
    python benchmarks/evaluate_suite_zero.py --truth analog --out docs/results/suite_zero_reference_analog
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from archrank import get_space
from archrank.bench.ensemble import ENSEMBLE_PROXIES
from archrank.bench.loaders import load_suite_zero
from archrank.bench.pipeline import run_evaluation
from archrank.config import data_file
from archrank.store import ScoreRow, Store

TARGET = 0.88


def fill_store(store: Store, json_path: Path) -> tuple[list[str], int]:
    """Write the JSON's reference scores as score rows (missing scores as status 'nan'); returns proxies, rows."""
    space = get_space("nb201")
    data = load_suite_zero(json_path, space)
    rows = []
    for key, record in data.scores.iterrows():
        for proxy, value in record.items():
            ok = math.isfinite(value)  # NaN (missing) or -inf (nwot's log-det of a dead cell) -> status 'nan'
            rows.append(ScoreRow(
                space="nb201", arch_key=str(key), proxy=str(proxy), config_hash="naslib-reference", seed=0,
                batch_hash="suite-zero-cifar10", device="reference", score=float(value) if ok else None,
                seconds=float(data.seconds.at[key, proxy]), status="ok" if ok else "nan",
                error=None if ok else f"{value} in the Suite-Zero file",
            ))
    store.put_scores(rows)
    return [str(c) for c in data.scores.columns], len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", default=None, help="Suite-Zero JSON (default: the shared one).")
    parser.add_argument("--out", default="docs/results/suite_zero_reference", help="Report folder.")
    parser.add_argument("--bootstrap", type=int, default=2000, help="Bootstrap resamples.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--truth", default="nb201-csv", help="Ground-truth spec, e.g. nb201-csv or analog.")
    parser.add_argument("--metric", default=None, help="Truth column (default: the source's test accuracy).")
    args = parser.parse_args()
    json_path = Path(args.json) if args.json else data_file("nb201", "suite_zero_nb201_cifar10.json")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store_path = Path(tmp) / "suite_zero.db"
        with Store(store_path) as store:
            proxies, n_rows = fill_store(store, json_path)
        sets = {
            "default": [p for p in ENSEMBLE_PROXIES if p in proxies],
            "all": proxies,
            "zc2021": ["synflow", "jacov", "snip"],
        }
        ev, truth, written = run_evaluation(
            store_path, args.out, space_name="nb201", truth_spec=args.truth, metric=args.metric,
            ensemble_sets=sets, title="NAS-Bench-Suite-Zero reference scores vs NB201 CIFAR-10 test accuracy",
            target=TARGET, n_boot=args.bootstrap, seed=args.seed, engine_orientation=False,
            command=f"python benchmarks/evaluate_suite_zero.py --truth {args.truth} --bootstrap {args.bootstrap} "
                    f"--seed {args.seed} --out {args.out}",
            scores_from=f"NAS-Bench-Suite-Zero reference scores ({json_path.name}: {len(proxies)} proxies, "
                        f"{n_rows} score rows, NASLib's signs kept), via a throw-away results store",
        )
    print(f"ground truth: {truth.source}")
    print(ev.metrics[["kind", "n_used", "n_missing", "spearman", "spearman_lo", "spearman_hi", "kendall"]]
          .sort_values("spearman", ascending=False).round(4).to_string())
    print("\nlearned from k labels (held out):\n" + ev.learned_summary().round(4).to_string(index=False))
    summary = json.loads(written["summary.json"].read_text())
    print(f"\nbest label-free aggregate {summary['best_label_free']}: ρ = {summary['best_label_free_spearman']:.4f} "
          f"on {summary['n_archs']} archs vs {truth.source} (the {TARGET} target is for all 15625 cells)")
    print(f"report: {written['report.html']}  ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
