"""Reports of an :class:`~archrank.bench.evaluate.Evaluation`: terminal table, Markdown, CSV, one HTML file.

:func:`write_report` writes into one folder ``table.csv`` (every number, machine-readable), ``table.md``
(the tables a person reads, with the ground truth, NaN accounting and settings spelled out), ``learned.csv``,
``summary.json`` (headline figures), the PNG figures, and ``report.html``: a single self-contained page with
the tables and every figure embedded as base64, so it can be mailed or attached as it is.
"""

from __future__ import annotations

import base64
import html
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from archrank.bench.evaluate import Evaluation, topk_column

CAPTIONS = {
    "correlation_bars": "Spearman ρ and Kendall τ of every proxy and ensemble, with bootstrap confidence intervals.",
    "scatter_proxies": "Proxy score against accuracy, one panel per proxy (ρ, τ and the number of archs in titles).",
    "scatter_ensembles": "Label-free ensemble score against accuracy.",
    "topk_precision": "Top-k precision: of the k% the proxy ranks best, the share truly among the best k% "
    "(ensembles: the best method of each proxy set).",
    "learned_combination": "Combinations learned from k labelled architectures, evaluated on all the others.",
    "proxy_correlation": "Spearman correlation between proxies: which ones carry the same information.",
}


@dataclass(frozen=True)
class ReportInfo:
    """What the report says about its inputs: title, ground-truth source and label, command, target."""

    title: str
    source: str  # where the truth comes from, e.g. "NB201 CSV (NATS-Bench), cifar10_test_acc"
    truth_label: str  # axis label, e.g. "CIFAR-10 test accuracy (%)"
    scores_from: str = ""  # where the scores come from (store path, JSON file)
    command: str = ""
    target: float | None = None


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def display_table(ev: Evaluation) -> pd.DataFrame:
    """The metrics as strings for people: ρ and τ with CIs, top-k precision, rank of the true best, NaNs."""
    level = ev.settings.get("confidence", 0.95)
    rows = {}
    for name, row in ev.metrics.sort_values("spearman", ascending=False).iterrows():
        out = {
            "kind": row["kind"],
            f"Spearman ρ [{level:.0%} CI]": f"{_f(row['spearman'])} [{_f(row['spearman_lo'], 2)}, "
            f"{_f(row['spearman_hi'], 2)}]",
            f"Kendall τ [{level:.0%} CI]": f"{_f(row['kendall'])} [{_f(row['kendall_lo'], 2)}, "
            f"{_f(row['kendall_hi'], 2)}]",
            "Pearson r": _f(row["pearson"]),
        }
        for frac in ev.settings.get("topk", []):
            out[topk_column(frac)] = _f(row[topk_column(frac)], 2)
        out["rank of true best"] = _f(row["best_rank"], 1)
        out["n used"] = str(row["n_used"])
        out["missing scores"] = str(row["n_missing"])
        if ev.metrics["orientation"].astype(bool).any():
            out["orientation"] = row["orientation"]
        rows[name] = out
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = "proxy / ensemble"
    return frame


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (index as the first column)."""
    header = [str(frame.index.name or ""), *map(str, frame.columns)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for index, row in frame.iterrows():
        cells = [str(index), *("" if pd.isna(v) else str(v) for v in row)]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def _learned_table(ev: Evaluation) -> pd.DataFrame:
    summary = ev.learned_summary()
    if summary.empty:
        return summary
    frame = pd.DataFrame({
        "model": summary["model"], "k labels": summary["k"],
        "held-out ρ (mean ± std)": [f"{a:.3f} ± {_f(b)}" for a, b in
                                     zip(summary["spearman_mean"], summary["spearman_std"], strict=True)],
        "worst draw": summary["spearman_min"].map(_f), "held-out τ (mean)": summary["kendall_mean"].map(_f),
        "repeats": summary["repeats"], "archs evaluated": summary["n_eval"],
    })
    return frame.set_index("model")


def _ensembles_text(ev: Evaluation) -> list[str]:
    return [f"- `{name}`: {', '.join(members)}" for name, members in ev.ensembles.items()]


def headline(ev: Evaluation, target: float | None = None) -> dict[str, Any]:
    """Headline figures: best proxy, best label-free ensemble, best learned combination (largest k)."""
    proxy, proxy_rho = ev.best("proxy")
    ensemble, ens_rho = ev.best("ensemble")
    out: dict[str, Any] = {
        "truth": ev.truth_name, "n_archs": int(ev.truth.notna().sum()),
        "best_proxy": proxy, "best_proxy_spearman": proxy_rho,
        "best_label_free": ensemble, "best_label_free_spearman": ens_rho,
    }
    summary = ev.learned_summary()
    if not summary.empty:
        top_k = summary[summary["k"] == summary["k"].max()].sort_values("spearman_mean", na_position="first").iloc[-1]
        out.update(best_learned_model=str(top_k["model"]), best_learned_k=int(top_k["k"]),
                   best_learned_spearman_mean=float(top_k["spearman_mean"]))
    if target is not None:
        out["target"] = target
        out["label_free_meets_target"] = bool(ens_rho >= target) if not math.isnan(ens_rho) else False
    return out


def _markdown(ev: Evaluation, info: ReportInfo, figures: dict[str, Path]) -> str:
    head = headline(ev, info.target)
    parts = [
        f"# {info.title}", "",
        f"- Ground truth: **{info.source}**",
        f"- Scores: {info.scores_from or 'score table'}",
        f"- Architectures evaluated: {head['n_archs']}; NaN policy `{ev.settings['nan_policy']}` "
        f"(missing scores are {'dropped per proxy' if ev.settings['nan_policy'] == 'omit' else 'ranked worst'})",
        f"- Bootstrap: {ev.settings['bootstrap_resamples']} resamples, percentile {ev.settings['confidence']:.0%} "
        f"intervals, seed {ev.settings['seed']}",
        f"- Best single proxy: **{head['best_proxy']}** ρ = {_f(head['best_proxy_spearman'])}; best label-free "
        f"ensemble: **{head['best_label_free']}** ρ = {_f(head['best_label_free_spearman'])}"
        + (f" (target {info.target:g})" if info.target is not None else ""),
    ]
    if info.command:
        parts.append(f"- Command: `{info.command}`")
    parts += ["", "## Proxies and label-free ensembles", "", markdown_table(display_table(ev)), "",
              "P@k% = precision of the top k% (equal to recall, both sets have k% of the archs); "
              "rank of true best = where the proxy places the truly best architecture (1 = first); "
              "ties share the average rank.", "", "Ensembles (`set:method`):", *_ensembles_text(ev)]
    learned = _learned_table(ev)
    if not learned.empty:
        parts += ["", "## Combinations learned from k labelled architectures", "",
                  "Fitted on k random labelled archs, evaluated on every other one (the k never count).", "",
                  markdown_table(learned)]
    if not ev.ablation.empty:
        parts += ["", "## Default ensemble, leaving one proxy out (Spearman ρ)", "",
                  markdown_table(ev.ablation.map(_f))]
    parts += ["", "## Notes", "", *[f"- {n}" for n in ev.notes], "", "## Figures", ""]
    parts += [f"- `{path.name}`: {CAPTIONS.get(key, '')}" for key, path in figures.items()]
    return "\n".join(parts) + "\n"


def _html(ev: Evaluation, info: ReportInfo, figures: dict[str, Path]) -> str:
    esc = html.escape
    head = headline(ev, info.target)
    summary = (
        f"<p>Ground truth: <b>{esc(info.source)}</b><br>Scores: {esc(info.scores_from or 'score table')}<br>"
        f"{head['n_archs']} architectures; NaN policy <code>{esc(ev.settings['nan_policy'])}</code>; "
        f"{ev.settings['bootstrap_resamples']} bootstrap resamples ({ev.settings['confidence']:.0%} CI).</p>"
        f"<p class='head'>Best single proxy: <b>{esc(head['best_proxy'])}</b> ρ = {_f(head['best_proxy_spearman'])}"
        f" &nbsp;|&nbsp; best label-free ensemble: <b>{esc(head['best_label_free'])}</b> ρ = "
        f"{_f(head['best_label_free_spearman'])}"
        + (f" (target {info.target:g})" if info.target is not None else "")
        + (f" &nbsp;|&nbsp; learned from {head['best_learned_k']} labels ({esc(head['best_learned_model'])}): "
           f"ρ = {_f(head['best_learned_spearman_mean'])} held out" if "best_learned_k" in head else "")
        + "</p>"
    )
    body = [f"<h1>{esc(info.title)}</h1>", summary, "<h2>Proxies and label-free ensembles</h2>",
            display_table(ev).reset_index().to_html(escape=True, classes="t", index=False),
            "<p class='note'>P@k% = precision of the top k% (= recall at equal k). Ensembles: "
            + "; ".join(f"<code>{esc(n)}</code> = {esc(', '.join(p))}" for n, p in ev.ensembles.items()) + "</p>"]
    learned = _learned_table(ev)
    if not learned.empty:
        body += ["<h2>Combinations learned from k labels (held out)</h2>",
                 learned.reset_index().to_html(escape=True, classes="t", index=False)]
    if not ev.ablation.empty:
        body += ["<h2>Default ensemble, leaving one proxy out (ρ)</h2>",
                 ev.ablation.map(_f).rename_axis("ensemble").reset_index().to_html(escape=True, classes="t",
                                                                                    index=False)]
    for key, path in figures.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        body.append(f"<figure><img alt='{esc(key)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{esc(CAPTIONS.get(key, key))}</figcaption></figure>")
    body += ["<h2>Notes</h2><ul>", *[f"<li>{esc(n)}</li>" for n in ev.notes], "</ul>"]
    if info.command:
        body.append(f"<p class='note'>Command: <code>{esc(info.command)}</code></p>")
    body.append(f"<p class='note'>Written {time.strftime('%Y-%m-%d %H:%M')} by archrank.</p>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
        "table.t{border-collapse:collapse;font-size:13px;margin:1em 0}"
        "table.t td,table.t th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "table.t th{background:#f3f3f3}figure{margin:2em 0}img{max-width:100%}"
        "figcaption{color:#555;font-size:14px}.note{color:#555;font-size:13px}.head{font-size:16px}"
    )
    return (f"<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'><title>{esc(info.title)}</title>"
            f"<style>{style}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def write_report(ev: Evaluation, out_dir: str | Path, info: ReportInfo) -> dict[str, Path]:
    """Write tables, figures and the HTML report into ``out_dir``; returns {name: path} of what was written."""
    from archrank.bench.plots import make_all  # matplotlib only when a report is wanted

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    figures = make_all(ev, out, info.truth_label, info.source, info.target)
    written: dict[str, Path] = dict(figures)
    ev.metrics.to_csv(out / "table.csv", float_format="%.6g")
    written["table.csv"] = out / "table.csv"
    if not ev.learned.empty:
        ev.learned.to_csv(out / "learned.csv", index=False, float_format="%.6g")
        written["learned.csv"] = out / "learned.csv"
    (out / "table.md").write_text(_markdown(ev, info, figures))
    written["table.md"] = out / "table.md"
    (out / "summary.json").write_text(json.dumps(headline(ev, info.target), indent=2, default=str) + "\n")
    written["summary.json"] = out / "summary.json"
    (out / "report.html").write_text(_html(ev, info, figures))
    written["report.html"] = out / "report.html"
    return written


def terminal_table(ev: Evaluation, columns: Sequence[str] | None = None) -> str:
    """The display table as fixed-width text for the terminal."""
    frame = display_table(ev)
    if columns is not None:
        frame = frame[list(columns)]
    return frame.to_string()
