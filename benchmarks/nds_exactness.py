"""Exactness of the nine NDS spaces against every record of every shared NDS file (structure-only included).

Per file: records, parse failures (``space.parse`` of the record, plus the ``to_str``/``parse`` round trip),
params mismatches (our model at 224x224 / 1000 classes vs the record's ``params``; target 0) and FLOP
mismatches beyond 1 % under two conventions: ``macs`` (conv + linear multiply-adds) and ``nds`` (the records'
own count, ``nds-stage`` or ``nds-cell`` per the space: :mod:`archrank.spaces.nds_flops`). Models are built on
PyTorch's ``meta`` device: shapes only, no memory or arithmetic, so every record is checked in minutes.
Figures go to ``docs/results/spaces/nds_exactness.json`` (merged with earlier runs, so spaces can be checked in
separate or parallel runs) and the table in ``docs/results/spaces/nds.md`` between the markers
``<!-- exactness:begin -->`` / ``<!-- exactness:end -->``.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/nds_exactness.py [--spaces nds-darts,...] [--limit N]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from archrank import config
from archrank.bench.truth_nds import iter_space_records
from archrank.proxies.cost import count_params
from archrank.spaces import get_space
from archrank.spaces.nds import NDS_SPACES
from archrank.spaces.nds_flops import nds_flop_counts

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "spaces"
TOLERANCE = 0.01
BEGIN, END = "<!-- exactness:begin -->", "<!-- exactness:end -->"
# cheapest first; the JSON and the table are rewritten after each space, so a long run reports as it goes
DEFAULT_ORDER = ("nds-resnext-a", "nds-resnext-b", "nds-enas", "nds-pnas", "nds-nasnet", "nds-amoeba",
                 "nds-resnet", "nds-vanilla", "nds-darts")
assert sorted(DEFAULT_ORDER) == sorted(NDS_SPACES)


def summarise(files: dict[str, dict[str, Any]], errors: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """Per-file figures so far: counts plus FLOP mismatch counts and extreme relative errors."""
    out: dict[str, dict[str, Any]] = {}
    for file, stats in files.items():
        row = {**stats, "examples": stats["examples"][:3]}
        for convention, values in errors[file].items():
            v = np.asarray(values)
            row[f"flops_{convention}_mismatches"] = int((np.abs(v) > TOLERANCE).sum())
            row[f"flops_{convention}_min_rel"] = float(v.min()) if v.size else 0.0
            row[f"flops_{convention}_max_rel"] = float(v.max()) if v.size else 0.0
        out[file] = row
    return out


def check(
    name: str, root: Path, limit: int | None, save: Callable[[dict[str, Any]], None], every: int = 25
) -> dict[str, Any]:
    """Per-file figures of one space; ``save`` receives the figures so far every ``every`` records."""
    space = get_space(name)
    files: dict[str, dict[str, Any]] = {}
    errors: dict[str, dict[str, list[float]]] = {}
    by_file: dict[str, list[dict[str, Any]]] = {}
    for file, record in iter_space_records(space, root):
        by_file.setdefault(file, []).append(record)
    # round robin over the files, so an interrupted run has checked a share of every file
    records = [(f, rs[i]) for i in range(max(map(len, by_file.values()), default=0))
               for f, rs in by_file.items() if i < len(rs)]
    for file, _ in records:
        stats = files.setdefault(file, {"space": name, "total": 0, "records": 0, "parse_failures": 0,
                                        "params_mismatches": 0, "examples": []})
        stats["total"] += 1
        errors.setdefault(file, {"macs": [], "nds": []})
    for done, (file, record) in enumerate(records, start=1):
        stats, rel = files[file], errors[file]
        if done % every == 0:
            save(summarise(files, errors))
        if limit is not None and stats["records"] >= limit:
            continue
        stats["records"] += 1
        try:
            arch = space.parse(record)
            if space.parse(space.to_str(arch)) != arch:
                raise ValueError("to_str/parse round trip changed the architecture")
        except ValueError as exc:
            stats["parse_failures"] += 1
            stats["examples"].append(f"parse: {exc}")
            continue
        with torch.device("meta"):
            model = space.build(arch)
        params = count_params(model)
        if params != record["params"]:
            stats["params_mismatches"] += 1
            stats["examples"].append(f"params {params} vs {record['params']}: {space.to_str(arch)}")
        counts = nds_flop_counts(model, space.input_shape)  # one pass: both conventions
        rel["macs"].append(counts["macs"] / record["flops"] - 1.0)
        rel["nds"].append(counts[space.flop_convention] / record["flops"] - 1.0)
    return summarise(files, errors)


def table(results: dict[str, dict[str, Any]], seconds: float, limit: int | None) -> str:
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')}, {seconds:.0f} s in all (meta-device builds, shared 2-core machine)"
        + ("" if limit is None else f", first {limit} records per file") + ".",
        "",
        "| space | file | records | parse failures | params mismatches | FLOPs `macs` > 1 % (min / max rel.) "
        "| FLOPs NDS convention > 1 % (min / max rel.) |",
        "|---|---|---|---|---|---|---|",
    ]
    for file, s in results.items():
        total = s.get("total", s["records"])
        checked = str(s["records"]) if total == s["records"] else f"{s['records']} of {total}" + (
            " (run unfinished)" if limit is None else "")
        lines.append(
            f"| {s['space']} | {file} | {checked} | {s['parse_failures']} | {s['params_mismatches']} "
            f"| {s['flops_macs_mismatches']} ({s['flops_macs_min_rel']:+.2%} / {s['flops_macs_max_rel']:+.2%}) "
            f"| {s['flops_nds_mismatches']} ({s['flops_nds_min_rel']:+.2%} / {s['flops_nds_max_rel']:+.2%}) |"
        )
    for file, s in results.items():
        lines.extend(f"- {file}: {example}" for example in s["examples"])
    return "\n".join(lines)


def write_doc(text: str) -> Path:
    """Replace the table between the markers of ``nds.md`` (the rest of the page is hand-written)."""
    doc = RESULTS / "nds.md"
    page = doc.read_text() if doc.is_file() else f"# NDS spaces\n\n{BEGIN}\n{END}\n"
    if BEGIN not in page or END not in page:
        page += f"\n{BEGIN}\n{END}\n"
    head, rest = page.split(BEGIN, 1)
    doc.write_text(f"{head}{BEGIN}\n{text}\n{END}{rest.split(END, 1)[1]}")
    return doc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default=",".join(DEFAULT_ORDER), help="Comma-separated NDS space names.")
    parser.add_argument("--limit", type=int, default=None, help="Check only the first N records of each file.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = config.data_root(required=True)
    assert root is not None
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "nds_exactness.json"
    for name in [s.strip() for s in args.spaces.split(",") if s.strip()]:
        start = time.perf_counter()

        def save(checked: dict[str, Any], name: str = name, start: float = start) -> None:
            """Merge into the figures of earlier or parallel runs (other files are kept) and rewrite the table."""
            previous = json.loads(out.read_text()) if out.is_file() else {}
            files = {**previous.get("files", {}), **checked}
            seconds = {**previous.get("seconds", {}), name: time.perf_counter() - start}
            out.write_text(json.dumps({"seconds": seconds, "limit": args.limit, "files": files}, indent=1))
            ordered = {f: files[f] for space in DEFAULT_ORDER for f in files if files[f]["space"] == space}
            write_doc(table(ordered, sum(seconds.values()), args.limit))

        checked = check(name, root, args.limit, save)
        save(checked)
        for file, stats in checked.items():
            print(f"{name:14s} {file}: {json.dumps({k: v for k, v in stats.items() if k != 'examples'})}",
                  flush=True)

if __name__ == "__main__":
    main()
