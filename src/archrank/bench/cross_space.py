"""Which proxy to trust on which space: one space's evaluation from the store, and the cross-space report.

:func:`evaluate_space` reads one space's scores from the results store (through :meth:`Store.score_table`, so
its filters apply), loads the space's ground truth and evaluates every proxy, params and FLOPs, and the
label-free combinations users ask about: archrank's default ensemble, the zero-cost paper's majority vote
(synflow, jacov, snip) and AZ-NAS's aggregate of its four components. :func:`cross_space_table` and
:func:`write_cross_space_report` turn several evaluations into a proxies × spaces table, a heat map, per-space
bar charts and a "what to use" table in one self-contained HTML page.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from archrank.bench import metrics as m
from archrank.bench.ensemble import ENSEMBLE_PROXIES
from archrank.bench.evaluate import Evaluation, evaluate
from archrank.bench.members import RULE, MemberRule, select_members
from archrank.bench.reference import agreement, best_reference, references_for
from archrank.bench.report import markdown_table
from archrank.bench.truth import Truth, load_truth
from archrank.spaces import SearchSpace, get_space
from archrank.store import Store

# Label-free combinations evaluated on every space (members missing from a store are left out, with a note).
COMBINATIONS: dict[str, tuple[str, ...]] = {
    "default": ENSEMBLE_PROXIES,
    "zc_vote": ("synflow", "jacov", "snip"),
    "az_nas": ("az_expressivity", "az_progressivity", "az_trainability", "az_complexity"),
}
BASELINES = ("params", "flops")
LABELS_FOR_TABLE = 20
# "Best label-free" in the what-to-use table is chosen among rankings measured on at least this share of the
# space's most-scored architectures: a costly proxy scored on 5 of 30 cells must not win on a lucky ρ.
MIN_SHARE_FOR_BEST = 0.8
# A proxy has a value on fewer cells when it was scored on a smaller sample (the costly extras) or is NaN on many
# (az_trainability on Macro's identity layers): either way it is compared with the baselines on its own cells.
SAME_CELLS_TITLE = "Proxies with a value on fewer cells, beside the baselines on the same cells"


def evaluate_space(
    store: Store | str | Path,
    space: str | SearchSpace = "nb201",
    truth: str | Truth = "auto",
    proxies: Sequence[str] | None = None,
    *,
    metric: str | None = None,
    score_seed: int | None = None,
    data: str | None = None,
    batch: str | None = None,
    device: str | None = None,
    config: str | Mapping[str, str] | None = None,
    latest: bool = False,
    member_rule: MemberRule | None = RULE,
    **options: Any,
) -> Evaluation:
    """Evaluate every stored proxy of ``space`` and the label-free combinations against ``truth``.

    ``truth`` is a :func:`~archrank.bench.truth.load_truth` spec (``"auto"``: the space's own benchmark file) or a
    :class:`Truth`. The filters pick the stored results (see :meth:`Store.score_table`; ``score_seed`` is its
    ``seed``, the seed the scores were computed with); ``options`` go to
    :func:`~archrank.bench.evaluate.evaluate` (``n_boot``, ``label_ks``, ``nan_policy``, ...). The returned
    evaluation's ``settings`` also hold the mean seconds per architecture of each proxy (``seconds``).

    With a ``member_rule`` (default :data:`~archrank.bench.members.RULE`), the set ``robust`` is the default
    ensemble's members that pass :func:`~archrank.bench.members.select_members` on these architectures' scores —
    chosen without labels; the choice is in ``settings["robust_members"]`` and the notes.
    """
    sp = get_space(space) if isinstance(space, str) else space
    own = not isinstance(store, Store)
    db = Store(store, create=False) if own else store
    try:
        table = db.score_table(sp.name, proxies, seed=score_seed, data=data, batch=batch, device=device, config=config,
                               latest=latest)
        seconds = _seconds_per_arch(db, sp.name, list(table.columns))
    finally:
        if own:
            db.close()
    if table.empty:
        raise ValueError(f"the store has no scores for space {sp.name}")
    loaded = truth if isinstance(truth, Truth) else load_truth(truth, sp, metric)
    sets = {name: [p for p in members if p in table.columns] for name, members in COMBINATIONS.items()}
    sets = {name: members for name, members in sets.items() if len(members) >= 2}
    selection = None
    if member_rule is not None and len(sets.get("default", ())) >= 2:
        selection = select_members(table, sets["default"], member_rule)
        if len(selection.kept) >= 2 and selection.kept != tuple(sets["default"]):
            sets["robust"] = list(selection.kept)
    ev = evaluate(table, loaded.values, truth_name=loaded.source, ensemble_sets=sets or None, **options)
    ev.settings["space"] = sp.name
    ev.settings["seconds"] = seconds
    if selection is not None:
        ev.settings["robust_members"] = selection.describe()
        ev.notes.append(f"label-free member rule on {sp.name}: {selection.describe()}")
    return ev


def evaluation_truths(space: SearchSpace) -> list[tuple[str, str]]:
    """(column label, truth spec) pairs a space is evaluated against in the cross-space report: every task of
    a multi-task benchmark (TransNAS-Bench-101: ``tnb101-micro/class_scene``, ...), else the space's own truth."""
    from archrank.bench.truth_spaces import available_sources

    tasks = [s for s in available_sources(space) if s.option("task") is not None]
    if len(tasks) > 1:
        return [(f"{space.name}/{s.name}", f"benchmark:{s.name}") for s in tasks]
    return [(space.name, "auto")]


def reference_table(ev: Evaluation, space: SearchSpace, task: str | None = None) -> pd.DataFrame:
    """Agreement with the Suite-Zero reference scores for this evaluation's cells (empty when the shared data
    has no reference for the space); see :mod:`archrank.bench.reference`."""
    refs = references_for(space, task)
    if not refs:
        return pd.DataFrame()
    proxies = [p for p in ev.proxies if p in ev.scores.columns]
    return agreement(ev.scores[proxies], refs[0], ev.truth)


def _rho(metrics: pd.DataFrame, name: str) -> float:
    return float(metrics.loc[name, "spearman"]) if name in metrics.index else np.nan


def _shipped(names: pd.Index) -> str:
    """The row of what ``rank --by ensemble`` ships: the members that pass the label-free checks (= the default's
    when none fail, and then no ``robust`` set is evaluated)."""
    return "robust:nonlinear" if "robust:nonlinear" in names else "default:nonlinear"


def _shipped_rho(metrics: pd.DataFrame) -> float:
    """ρ of what ``rank --by ensemble`` ships (see :func:`_shipped`)."""
    return _rho(metrics, _shipped(metrics.index))


def targets_table(
    evaluations: Mapping[str, Evaluation], references: Mapping[str, pd.DataFrame], labels: int = LABELS_FOR_TABLE
) -> pd.DataFrame:
    """Issue 14's targets per evaluated space: the default (and robust) ensemble against params/FLOPs, against
    the best Suite-Zero reference proxy on the same cells, and the learned combination with ``labels`` labels."""
    rows = []
    for label, ev in evaluations.items():
        metrics = ev.metrics
        default = _rho(metrics, "default:nonlinear")
        shipped = _shipped_rho(metrics)
        baseline = np.nanmax([_rho(metrics, "params"), _rho(metrics, "flops")])
        table = references.get(label)
        ref_name, ref_rho, basis = best_reference(table) if table is not None and not table.empty else ("", np.nan, "")
        _, learned = _learned_at(ev, labels)
        rows.append({
            "space": label,
            "n": int(metrics["n_used"].max()),
            "ρ default (fixed members)": default,
            "ρ shipped (checked members)": shipped,
            "ρ max(params, FLOPs)": baseline,
            "shipped − baseline": shipped - baseline,
            "≥ +0.05 over baseline": bool(shipped - baseline >= 0.05),
            "not below baseline": bool(shipped >= baseline),
            "best Suite-Zero ref": f"{ref_name} ({basis})" if ref_name else "",
            "ρ best ref": ref_rho,
            "beats best ref": bool(shipped > ref_rho) if np.isfinite(ref_rho) else None,
            f"ρ learned ({labels} labels)": learned,
            "learned beats shipped": bool(learned > shipped) if np.isfinite(learned) else None,
        })
    return pd.DataFrame(rows).set_index("space")


def _seconds_per_arch(store: Store, space: str, proxies: Sequence[str]) -> dict[str, float]:
    if not proxies:
        return {}
    frame = store.scores(space=space, proxies=list(proxies))
    frame = frame[frame["status"] != "failed"]
    return {str(k): float(v) for k, v in frame.groupby("proxy")["seconds"].mean().items()}


def cross_space_table(evaluations: Mapping[str, Evaluation], value: str = "spearman") -> pd.DataFrame:
    """Rows: proxies and combinations; columns: spaces; cells: ``value`` (Spearman by default)."""
    columns = {space: ev.metrics[value] for space, ev in evaluations.items()}
    return pd.DataFrame(columns).sort_index()


def heatmap_text(rho: pd.DataFrame, counts: pd.DataFrame) -> tuple[list[str], dict[tuple[int, int], str]]:
    """Column labels and cell texts of the proxies × spaces heat map, with the n behind each figure.

    Each column is labelled with its space's n (its most-scored ranking); a cell measured on fewer architectures
    than that shows its own n under the ρ, so a ρ on 15 cells is not read like one on 95. Cells without a ρ get
    no text."""
    counts = counts.reindex(index=rho.index, columns=rho.columns)
    column_n = counts.max(axis=0)
    labels = [f"{c} (n={int(n)})" if np.isfinite(n) else str(c) for c, n in column_n.items()]
    cells: dict[tuple[int, int], str] = {}
    for (i, j), v in np.ndenumerate(rho.to_numpy(dtype=float)):
        if np.isfinite(v):
            n = counts.iat[i, j]
            cells[(i, j)] = f"{v:.2f}" + (f"\nn={int(n)}" if np.isfinite(n) and n < column_n.iat[j] else "")
    return labels, cells


def bar_labels(metrics: pd.DataFrame) -> list[str]:
    """Row labels of a space's bar chart: a ranking measured on fewer architectures than the space's n (the
    costly extras, scored on a smaller sample) names its own n, as the heat map's cells do."""
    n_max = metrics["n_used"].max()
    return [f"{name} (n={int(n)})" if np.isfinite(n) and n < n_max else str(name)
            for name, n in metrics["n_used"].items()]


def _learned_at(ev: Evaluation, k: int) -> tuple[str, float]:
    summary = ev.learned_summary()
    if summary.empty:
        return "", float("nan")
    rows = summary[summary["k"] == k].dropna(subset=["spearman_mean"])
    if rows.empty:
        return "", float("nan")
    best = rows.loc[rows["spearman_mean"].idxmax()]
    return str(best["model"]), float(best["spearman_mean"])


def what_to_use(evaluations: Mapping[str, Evaluation], labels: int = LABELS_FOR_TABLE) -> pd.DataFrame:
    """Per space: the best label-free choice (among rankings measured on at least :data:`MIN_SHARE_FOR_BEST` of the
    most-scored architectures), the best with ``labels`` labels, params/FLOPs, the default ensemble, and the cost
    per architecture of the default ensemble's proxies."""
    rows = []
    for space, ev in evaluations.items():
        metrics = ev.metrics
        covered = metrics["n_used"] >= MIN_SHARE_FOR_BEST * metrics["n_used"].max()
        label_free = metrics.loc[covered, "spearman"].dropna()
        best = str(label_free.idxmax()) if not label_free.empty else ""
        default = "default:nonlinear" if "default:nonlinear" in metrics.index else ""
        model, learned = _learned_at(ev, labels)
        seconds = ev.settings.get("seconds", {})
        members = ev.ensembles.get("default", ())
        rows.append({
            "space": space,
            "n": int(metrics["n_used"].max()),
            "best label-free": best,
            "ρ best label-free": float(label_free.max()) if not label_free.empty else np.nan,
            "ρ default ensemble": float(metrics.loc[default, "spearman"]) if default else np.nan,
            "ρ robust ensemble": _shipped_rho(metrics),
            "ρ params": _rho(metrics, "params"),
            "ρ flops": _rho(metrics, "flops"),
            f"best with {labels} labels": model,
            f"ρ with {labels} labels": learned,
            "default ensemble s/arch": float(sum(seconds.get(p, 0.0) for p in members)) if members else np.nan,
        })
    return pd.DataFrame(rows).set_index("space")


def same_cells_table(evaluations: Mapping[str, Evaluation]) -> pd.DataFrame:
    """The proxies with a value on fewer architectures than their space's n (the costly extras — swap, Eproxy,
    EZNAS — scored on a smaller sample, or a proxy NaN on many cells), each beside params, FLOPs and the shipped
    ensemble on the *same* cells.

    A ρ on 50 cells set against ρs on the space's 1000 mixes two samples: a hard sample reads every ranking low.
    Here the comparison is paired; the ensemble's scores are those it gave over the whole population, restricted
    to the cells (a rank aggregation keeps its order on any subset)."""
    rows = []
    for label, ev in evaluations.items():
        metrics = ev.metrics
        n_max = metrics["n_used"].max()
        sparse = metrics.index[(metrics["kind"] == "proxy") & (metrics["n_used"] < MIN_SHARE_FOR_BEST * n_max)]
        shipped = _shipped(ev.scores.columns)
        for name in sparse:
            if not np.isfinite(metrics.loc[name, "spearman"]):
                continue
            cells = ev.scores[name].notna() & ev.truth.notna()
            truth = ev.truth[cells].to_numpy()
            row: dict[str, Any] = {"space": label, "proxy": name, "n": int(cells.sum()),
                                   "ρ proxy": float(metrics.loc[name, "spearman"])}
            for column, other in (("ρ params", "params"), ("ρ FLOPs", "flops"), ("ρ shipped ensemble", shipped)):
                known = other in ev.scores.columns
                row[column] = m.spearman(ev.scores.loc[cells, other].to_numpy(), truth) if known else np.nan
            others = pd.Series([row["ρ params"], row["ρ FLOPs"], row["ρ shipped ensemble"]], dtype=float)
            row["proxy − best of the three"] = row["ρ proxy"] - others.max()  # NaN when none is known
            rows.append(row)
    columns = ["space", "proxy", "n", "ρ proxy", "ρ params", "ρ FLOPs", "ρ shipped ensemble",
               "proxy − best of the three"]
    return pd.DataFrame(rows, columns=columns).set_index(["space", "proxy"])


def _png(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def write_cross_space_report(
    evaluations: Mapping[str, Evaluation],
    out_dir: str | Path,
    command: str = "",
    title: str = "Which proxy to trust",
    labels: int = LABELS_FOR_TABLE,
    references: Mapping[str, pd.DataFrame] | None = None,
) -> dict[str, Path]:
    """Write ``table.csv``/``table.md`` (Spearman with n and CI), ``what_to_use.csv``, ``targets.csv``,
    ``same_cells.csv`` (proxies scored on a smaller sample against the baselines on their cells),
    ``reference_<space>.csv`` (agreement with Suite-Zero, where it has the space), ``heatmap.png``, one bar chart
    per space and a self-contained ``report.html`` into ``out_dir``."""
    references = {k: v for k, v in (references or {}).items() if not v.empty}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    rho = cross_space_table(evaluations)
    long = pd.concat(
        {space: ev.metrics[["kind", "spearman", "spearman_lo", "spearman_hi", "kendall", "P@10%", "n_used"]]
         for space, ev in evaluations.items() if "P@10%" in ev.metrics},
        names=["space", "name"],
    ) if any("P@10%" in ev.metrics for ev in evaluations.values()) else pd.DataFrame()
    written["table.csv"] = out / "table.csv"
    long.to_csv(written["table.csv"])
    use = what_to_use(evaluations, labels)
    written["what_to_use.csv"] = out / "what_to_use.csv"
    use.to_csv(written["what_to_use.csv"])
    targets = targets_table(evaluations, references, labels)
    written["targets.csv"] = out / "targets.csv"
    targets.to_csv(written["targets.csv"])
    same = same_cells_table(evaluations)
    if not same.empty:
        written["same_cells.csv"] = out / "same_cells.csv"
        same.to_csv(written["same_cells.csv"])
    ref_md = ""
    for label, table in references.items():
        name = f"reference_{label.replace('/', '_')}.csv"
        written[name] = out / name
        table.to_csv(written[name])
        ref_md += f"\n\n### {label}\n\n" + markdown_table(table.round(3))
    members = "".join(f"\n- **{label}**: {ev.settings['robust_members']}" for label, ev in evaluations.items()
                      if "robust_members" in ev.settings)
    written["table.md"] = out / "table.md"
    written["table.md"].write_text(
        f"# {title}\n\nSpearman ρ of every proxy and combination (rows) on every space (columns).\n\n"
        + markdown_table(rho.round(3)) + "\n\n## What to use\n\n" + markdown_table(use.round(3))
        + "\n\n## Targets\n\n" + markdown_table(targets.round(3))
        + (f"\n\n## Label-free member rule, per space\n{members}" if members else "")
        + (f"\n\n## {SAME_CELLS_TITLE}\n\n"
           + markdown_table(same.reset_index(level="proxy").round(3)) if not same.empty else "")
        + ("\n\n## Agreement with the Suite-Zero reference scores (same cells)" + ref_md if ref_md else "")
        + (f"\n\nMade by: `{command}`\n" if command else "\n")
    )

    columns, cells = heatmap_text(rho, cross_space_table(evaluations, value="n_used"))
    fig, ax = plt.subplots(figsize=(1.2 * max(4, rho.shape[1]) + 3.5, 0.36 * max(4, rho.shape[0]) + 1.8))
    image = ax.imshow(rho.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(rho.shape[1]), columns, rotation=30, ha="right")
    ax.set_yticks(range(rho.shape[0]), rho.index)
    for (i, j), text in cells.items():
        v = rho.iat[i, j]
        ax.text(j, i, text, ha="center", va="center", fontsize=6 if "\n" in text else 7,
                color="white" if abs(v) > 0.6 else "k")
    fig.colorbar(image, ax=ax, label="Spearman ρ vs ground truth")
    ax.set_title("Proxies × spaces: Spearman ρ\n(n per column; a cell on fewer architectures shows its n)")
    fig.tight_layout()
    written["heatmap.png"] = out / "heatmap.png"
    fig.savefig(written["heatmap.png"], dpi=120)
    plt.close(fig)

    for space, ev in evaluations.items():
        metrics = ev.metrics.dropna(subset=["spearman"]).sort_values("spearman")
        fig, ax = plt.subplots(figsize=(7, 0.28 * len(metrics) + 1.2))
        colors = ["#c44e52" if n in BASELINES else "#4c72b0" if k == "proxy" else "#55a868"
                  for n, k in zip(metrics.index, metrics["kind"], strict=True)]
        err = np.vstack([metrics["spearman"] - metrics["spearman_lo"], metrics["spearman_hi"] - metrics["spearman"]])
        ax.barh(bar_labels(metrics), metrics["spearman"], xerr=np.clip(err, 0, None), color=colors, capsize=2)
        ax.axvline(0, color="k", lw=0.8)
        ax.set_xlabel("Spearman ρ (95% bootstrap CI); red: params/FLOPs, green: combinations")
        ax.set_title(f"{space} (n = {int(ev.metrics['n_used'].max())})")
        fig.tight_layout()
        safe = space.replace("/", "_")
        written[f"bars_{safe}.png"] = out / f"bars_{safe}.png"
        fig.savefig(written[f"bars_{safe}.png"], dpi=110)
        plt.close(fig)

    sources = "".join(f"<li><b>{html.escape(s)}</b>: {html.escape(ev.truth_name)}</li>"
                      for s, ev in evaluations.items())
    bar_files = {s: written["bars_" + s.replace("/", "_") + ".png"] for s in evaluations}
    bars = "".join(f'<h3>{html.escape(s)}</h3><img src="data:image/png;base64,{_png(path)}">'
                   for s, path in bar_files.items())
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><p>Ground truth per space:</p><ul>{sources}</ul>"
        f"<h2>What to use</h2>{use.to_html(float_format=lambda v: f'{v:.3f}')}"
        f"<h2>Targets</h2>{targets.to_html(float_format=lambda v: f'{v:.3f}')}"
        + (f"<h2>{SAME_CELLS_TITLE}</h2>"
           f"{same.to_html(float_format=lambda v: f'{v:.3f}')}" if not same.empty else "")
        + "".join(f"<h2>Suite-Zero reference agreement: {html.escape(k)}</h2>"
                  f"{v.to_html(float_format=lambda x: f'{x:.3f}')}" for k, v in references.items()) +
        f'<h2>Spearman ρ, proxies × spaces</h2><img src="data:image/png;base64,{_png(written["heatmap.png"])}">'
        f"<p>n and 95% bootstrap intervals are in the table below and in table.csv.</p>"
        f"{long.to_html(float_format=lambda v: f'{v:.3f}') if not long.empty else ''}"
        f"<h2>Per space</h2>{bars}"
        + (f"<p>Made by: <code>{html.escape(command)}</code></p>" if command else "")
        + "</body></html>"
    )
    written["report.html"] = out / "report.html"
    written["report.html"].write_text(page)
    return written
