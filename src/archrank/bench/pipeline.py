"""The evaluation pipeline as one function: scores from the results store + a ground truth -> a report on disk.

:func:`run_evaluation` is what ``archrank evaluate`` runs for one space; scripts and benchmarks call it directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from archrank.bench.evaluate import Evaluation, evaluate
from archrank.bench.report import ReportInfo, write_report
from archrank.bench.truth import Truth, load_truth
from archrank.spaces import get_space
from archrank.store import Store


def run_evaluation(
    store_path: str | Path,
    out_dir: str | Path,
    *,
    space_name: str = "nb201",
    truth_spec: str = "auto",
    metric: str | None = None,
    proxies: Sequence[str] | None = None,
    ensemble_sets: Mapping[str, Sequence[str]] | None = None,
    sample: int | None = None,
    sample_seed: int = 0,
    title: str | None = None,
    target: float | None = None,
    command: str = "",
    scores_from: str | None = None,
    notes: Sequence[str] = (),
    score_filters: Mapping[str, Any] | None = None,
    **options: Any,
) -> tuple[Evaluation, Truth, dict[str, Path]]:
    """Read scores from the store and a truth, evaluate, and write the report into ``out_dir``.

    ``sample`` evaluates a seeded random subset of the scored architectures (said in the report's notes);
    ``scores_from`` and ``notes`` describe the scores' origin in the report; ``options`` go to
    :func:`archrank.bench.evaluate.evaluate` (``n_boot``, ``topk``, ``label_ks``, ...). ``score_filters`` pick the
    stored results (``seed``, ``data``, ``batch``, ``device``, ``config``, ``latest``: see
    :meth:`archrank.store.Store.score_table`).
    """
    space = get_space(space_name)
    with Store(store_path, create=False) as store:
        table = store.score_table(space_name, proxies, **dict(score_filters or {}))
    if table.empty:
        raise ValueError(f"the store {store_path} has no scores for space {space_name}"
                         + (f" and proxies {', '.join(proxies)}" if proxies else ""))
    truth = load_truth(truth_spec, space, metric, store_path=store_path)
    scored = len(table)
    if sample is not None and sample < len(table):
        table = table.sample(n=sample, random_state=sample_seed).sort_index()
    ev = evaluate(table, truth.values, truth_name=truth.source, ensemble_sets=ensemble_sets, **options)
    if sample is not None and sample < scored:
        ev.notes.insert(0, f"seeded random sample of {sample} of the {scored} scored architectures "
                           f"(seed {sample_seed})")
    ev.notes[:0] = list(notes)
    info = ReportInfo(
        title=title or f"Proxy evaluation: {space_name}, {truth.label}",
        source=truth.source, truth_label=truth.label, scores_from=scores_from or f"results store {store_path}",
        command=command, target=target,
    )
    return ev, truth, write_report(ev, out_dir, info)
