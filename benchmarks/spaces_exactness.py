"""Exactness of every search space against every record of its shared benchmark files.

Per space and file: keys that fail to parse, parameter-count mismatches (the model built at the space's own
defaults vs the file's count; target 0) and FLOP mismatches beyond 1 % where the file has FLOPs (target 0).
Each space's figures go to ``docs/results/spaces/exactness/<space>.json``; the Markdown summary
``docs/results/spaces/exactness.md`` is rebuilt from every JSON present, so spaces can be checked in
separate runs (``--spaces nb101,macro``) and the summary always covers all of them.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/spaces_exactness.py [--spaces a,b] [--limit N] [--shard K/N]

Adding a space: write a function ``(data_root) -> Iterator[Record]`` that yields one :class:`Record` per
benchmark record (file, reference as ``space.parse`` takes it, expected params, expected FLOPs with their
convention) and list it in :data:`RECORD_SOURCES` under the space's registered name.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from archrank import config, get_space
from archrank.bench.truth_nds import iter_space_records
from archrank.proxies.cost import count_flops, count_params
from archrank.spaces.nds import NDS_SPACES
from archrank.spaces.nds_flops import NDS_FLOP_CONVENTIONS, count_nds_flops

RESULTS = Path(__file__).resolve().parents[1] / "docs" / "results" / "spaces"
FLOP_TOLERANCE = 0.01
CPU_CROSS_CHECKS = 3  # with --meta, the first records of each file are also counted on real CPU tensors


@dataclass(frozen=True)
class Record:
    """One benchmark record to check: ``params``/``flops`` are ``None`` where the file gives none."""

    file: str
    ref: Any
    params: int | None = None
    flops: float | None = None
    flop_convention: str = "naslib"
    build_kwargs: tuple[tuple[str, Any], ...] = ()


RecordSource = Callable[[Path], Iterator[Record]]


# --- record sources ------------------------------------------------------------------------------------------


def _suite_zero_entries(root: Path, parts: tuple[str, ...], dataset: str) -> Iterator[tuple[str, dict[str, Any]]]:
    data = json.loads(root.joinpath(*parts).read_text())
    if dataset not in data:
        data = next(v for v in data.values() if isinstance(v, dict) and dataset in v)
    yield from data[dataset].items()


def _score(value: Any) -> float | None:
    """A Suite-Zero reference value, plain or ``{"score", "time"}``."""
    if isinstance(value, dict):
        value = value.get("score")
    return None if value is None else float(value)


def suite_zero_records(
    parts: tuple[str, ...], dataset: str = "cifar10", flops: bool = True, **build_kwargs: Any
) -> RecordSource:
    """Records of a Suite-Zero JSON: ``params`` and ``flops`` in millions (NASLib's FLOP convention);
    ``build_kwargs`` go to ``space.build`` (e.g. another task's class count)."""

    def records(root: Path) -> Iterator[Record]:
        for ref, entry in _suite_zero_entries(root, parts, dataset):
            params, mflops = _score(entry.get("params")), _score(entry.get("flops"))
            yield Record(
                "/".join(parts) + ("" if dataset == "cifar10" else f" [{dataset}]"), ref,
                None if params is None else round(params * 1e6),
                None if mflops is None or not flops else mflops * 1e6,
                build_kwargs=tuple(sorted(build_kwargs.items())),
            )

    return records


def macro_records(root: Path) -> Iterator[Record]:
    """NAS-Bench-Macro: exact ``params``; ``flops`` are multiply-adds of conv and linear layers."""
    data = json.loads(root.joinpath("macro", "nas-bench-macro_cifar10.json").read_text())
    for ref, entry in data.items():
        yield Record("macro/nas-bench-macro_cifar10.json", ref, int(entry["params"]), float(entry["flops"]), "macs")


def tnb101_csv_records(parts: tuple[str, ...]) -> RecordSource:
    """Every (architecture, task) row of a TransNAS-Bench-101 CSV: keys only (the file has no params)."""

    def records(root: Path) -> Iterator[Record]:
        table = pd.read_csv(root.joinpath(*parts), usecols=["arch", "task"])
        for ref, task in zip(table["arch"], table["task"], strict=True):
            yield Record(f"{'/'.join(parts)} [{task}]", ref)

    return records


def nds_records(name: str) -> RecordSource:
    """Every record of every NDS file of space ``name`` (structure-only included): exact ``params`` and
    ``flops`` under the records' own convention (``space.flop_convention``)."""

    def records(root: Path) -> Iterator[Record]:
        space = get_space(name)
        for file, record in iter_space_records(space, root):
            yield Record(file, record["net"], int(record["params"]), float(record["flops"]),
                         space.flop_convention)

    return records


RECORD_SOURCES: dict[str, tuple[RecordSource, ...]] = {
    "nb101": (suite_zero_records(("nb101", "suite_zero_nb101_cifar10.json")),),
    "nb301": (suite_zero_records(("nb301", "suite_zero_nb301_cifar10.json")),),
    "macro": (macro_records,),
    "tnb101-micro": (
        suite_zero_records(("transnas", "suite_zero_tnb101_micro.json"), "class_scene"),
        suite_zero_records(("transnas", "suite_zero_tnb101_micro.json"), "class_object", num_classes=100),
        tnb101_csv_records(("transnas", "tnb101_micro_all.csv")),
    ),
    "tnb101-macro": (
        suite_zero_records(("transnas", "suite_zero_tnb101_macro.json"), "class_scene"),
        suite_zero_records(("transnas", "suite_zero_tnb101_macro.json"), "class_object", num_classes=100),
        tnb101_csv_records(("transnas", "tnb101_macro_all.csv")),
    ),
    **{name: (nds_records(name),) for name in NDS_SPACES},
}


# --- checking ------------------------------------------------------------------------------------------------


def _build(space: Any, arch: Any, record: Record, meta: bool) -> torch.nn.Module:
    """The model at the space's defaults; on the meta device no weights are allocated or initialised, and a
    forward pass only propagates shapes, which is all that parameter and FLOP counting read."""
    if not meta:
        return space.build(arch, **dict(record.build_kwargs))
    with torch.device("meta"):
        return space.build(arch, **dict(record.build_kwargs))


def _flops(space: Any, model: torch.nn.Module, record: Record) -> int:
    """FLOPs under the record's convention (the NDS files have their own two: ``archrank.spaces.nds_flops``)."""
    if record.flop_convention in NDS_FLOP_CONVENTIONS:
        return count_nds_flops(model, space.input_shape, record.flop_convention)
    return count_flops(model, space.input_shape, record.flop_convention)


def _counts(space: Any, model: torch.nn.Module, record: Record) -> tuple[int, int | None]:
    flops = None if record.flops is None else _flops(space, model, record)
    return count_params(model), flops


def result_path(name: str, shard: tuple[int, int]) -> Path:
    k, n = shard
    return RESULTS / "exactness" / (f"{name}.json" if n == 1 else f"{name}.shard{k}of{n}.json")


def check_space(
    name: str, root: Path, limit: int | None, meta: bool = True, shard: tuple[int, int] = (0, 1),
    checkpoint_every: int = 250,
) -> dict[str, Any]:
    """Figures of one space: per file, records / parse failures / params and FLOP mismatches, with examples.

    With ``shard=(k, n)`` only the records whose position (over all files of the space) is ``k`` mod ``n`` are
    checked, so ``n`` processes share a space. The result is written every ``checkpoint_every`` records
    (``"complete": false``) and at the end."""
    space = get_space(name)
    files: dict[str, dict[str, Any]] = {}
    start = time.perf_counter()
    position = -1

    def result(complete: bool) -> dict[str, Any]:
        return {"space": name, "seconds": time.perf_counter() - start, "limit": limit, "meta": meta,
                "shard": list(shard), "complete": complete, "files": files}

    for source in RECORD_SOURCES[name]:
        for record in source(root):
            position += 1
            if position % shard[1] != shard[0]:
                continue
            if position % checkpoint_every == shard[0]:
                result_path(name, shard).write_text(json.dumps(result(False), indent=1))
            stats = files.setdefault(record.file, {
                "records": 0, "parse_failures": 0, "params_checked": 0, "params_mismatches": 0,
                "flops_checked": 0, "flops_mismatches": 0, "max_flops_rel_err": 0.0, "meta_vs_cpu_mismatches": 0,
                "examples": [],
            })
            if limit is not None and stats["records"] >= limit:
                continue
            stats["records"] += 1
            try:
                arch = space.parse(record.ref)
            except ValueError as exc:
                stats["parse_failures"] += 1
                stats["examples"].append(f"parse {record.ref!r}: {exc}")
                continue
            if record.params is None and record.flops is None:
                continue
            model = _build(space, arch, record, meta)
            cross_check = meta and stats["records"] <= CPU_CROSS_CHECKS
            if cross_check and _counts(space, _build(space, arch, record, False), record) != _counts(
                space, model, record
            ):
                stats["meta_vs_cpu_mismatches"] += 1
                stats["examples"].append(f"meta vs cpu counts differ for {record.ref!r}")
            if record.params is not None:
                stats["params_checked"] += 1
                got = count_params(model)
                if got != record.params:
                    stats["params_mismatches"] += 1
                    stats["examples"].append(f"params {record.ref!r}: {got} vs {record.params}")
            if record.flops is not None:
                stats["flops_checked"] += 1
                got = _flops(space, model, record)
                rel = abs(got - record.flops) / record.flops
                stats["max_flops_rel_err"] = max(stats["max_flops_rel_err"], rel)
                if rel > FLOP_TOLERANCE:
                    stats["flops_mismatches"] += 1
                    stats["examples"].append(f"flops {record.ref!r}: {got} vs {record.flops:.0f}")
    for stats in files.values():
        stats["examples"] = stats["examples"][:5]
    return result(True)


def _merged(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The shards of one space as one result: counts summed, worst FLOP error, wall time of the slowest."""
    files: dict[str, dict[str, Any]] = {}
    for part in results:
        for file, stats in part["files"].items():
            into = files.setdefault(file, {k: (0 if k != "examples" else []) for k in stats})
            for key, value in stats.items():
                if key == "max_flops_rel_err":
                    into[key] = max(into[key], value)
                elif key == "examples":
                    into[key] = (into[key] + value)[:5]
                else:
                    into[key] += value
    shards = results[0].get("shard", [0, 1])[1]
    done = sum(1 for r in results if r.get("complete", True))
    return {"space": results[0]["space"], "seconds": max(r["seconds"] for r in results),
            "limit": results[0]["limit"], "meta": results[0].get("meta", False), "files": files,
            "status": "complete" if done == shards == len(results) else f"partial: {done} of {shards} shards done"}


def write_summary() -> Path:
    """Rebuild ``exactness.md`` from every per-space JSON."""
    lines = [
        "# Search-space exactness against the shared benchmark files",
        "",
        "Produced by `benchmarks/spaces_exactness.py` (one JSON per space in `exactness/`). Params: our model's",
        "trainable parameter count at the space's defaults must equal the file's count exactly. FLOPs: within "
        f"{FLOP_TOLERANCE:.0%} of the file's figure, where the file has FLOPs (Suite-Zero files: NASLib's "
        "convention; NAS-Bench-Macro: multiply-adds of conv and linear layers). Targets: 0 in every mismatch "
        "column. TransNAS-Bench-101's `class_object` rows are built with its 100-class decoder; its all-task CSV "
        "has no params, so only its keys are checked. Models are built on PyTorch's meta device (shapes only: "
        "counting reads nothing else); the first records of each file are counted on real CPU tensors too, and "
        "the last column counts any disagreement (target 0).",
        "",
        "| space | file | records | parse failures | params checked | params mismatches | FLOPs checked "
        "| FLOP mismatches > 1 % | max FLOP rel. error | seconds (space) | meta vs CPU mismatches |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    by_space: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((RESULTS / "exactness").glob("*.json")):
        part = json.loads(path.read_text())
        by_space.setdefault(part["space"], []).append(part)
    for parts in by_space.values():
        result = _merged(parts)
        limit = "" if result["limit"] is None else f" (first {result['limit']} per file)"
        if result["status"] != "complete":
            limit += f" ({result['status']})"
        for file, s in result["files"].items():
            cross = s["meta_vs_cpu_mismatches"] if result.get("meta") else "all on CPU"
            lines.append(
                f"| {result['space']} | {file}{limit} | {s['records']} | {s['parse_failures']} | {s['params_checked']} "
                f"| {s['params_mismatches']} | {s['flops_checked']} | {s['flops_mismatches']} "
                f"| {s['max_flops_rel_err']:.2e} | {result['seconds']:.0f} | {cross} |"
            )
        for file, s in result["files"].items():
            for example in s["examples"]:
                lines.append(f"\n- {result['space']} {file}: {example}")
    out = RESULTS / "exactness.md"
    out.write_text("\n".join(lines) + "\n")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", default=",".join(RECORD_SOURCES), help="Comma-separated space names.")
    parser.add_argument("--limit", type=int, default=None, help="Check only the first N records of each file.")
    parser.add_argument("--shard", default="0/1", help="K/N: check only records K mod N (run N processes).")
    parser.add_argument("--cpu", action="store_true",
                        help="Build every model on the CPU (default: on the meta device, shapes only, with the first "
                             f"{CPU_CROSS_CHECKS} records of each file cross-checked on the CPU).")
    parser.add_argument("--summary-only", action="store_true", help="Only rebuild exactness.md from the JSONs.")
    args = parser.parse_args()
    if args.summary_only:
        print(f"summary: {write_summary()}")
        return
    torch.set_num_threads(1)
    root = config.data_root(required=True)
    assert root is not None
    (RESULTS / "exactness").mkdir(parents=True, exist_ok=True)
    k, _, n = args.shard.partition("/")
    shard = (int(k), int(n or 1))
    if not 0 <= shard[0] < shard[1]:
        raise SystemExit(f"--shard must be K/N with 0 <= K < N, got {args.shard!r}")
    failed = False
    for name in [s.strip() for s in args.spaces.split(",") if s.strip()]:
        if name not in RECORD_SOURCES:
            raise SystemExit(f"no record source for space {name!r}; known: {', '.join(RECORD_SOURCES)}")
        for stale in (RESULTS / "exactness").glob(f"{name}.*json"):
            if f"of{shard[1]}." not in stale.name:
                stale.unlink()  # results of another sharding of this space
        result = check_space(name, root, args.limit, meta=not args.cpu, shard=shard)
        result_path(name, shard).write_text(json.dumps(result, indent=1))
        for file, s in result["files"].items():
            bad = s["parse_failures"] + s["params_mismatches"] + s["flops_mismatches"] + s["meta_vs_cpu_mismatches"]
            failed |= bad > 0
            print(f"{name:14s} {file}: {s['records']} records, parse failures {s['parse_failures']}, "
                  f"params mismatches {s['params_mismatches']}/{s['params_checked']}, "
                  f"FLOP mismatches {s['flops_mismatches']}/{s['flops_checked']} "
                  f"(max rel. err {s['max_flops_rel_err']:.2e})", flush=True)
    print(f"summary: {write_summary()}")
    raise SystemExit(1 if failed else 0)


if __name__ == "__main__":
    main()
