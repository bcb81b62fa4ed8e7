"""Helpers shared by the proxy benchmarks: data files, seeded model construction, a resumable JSONL cache."""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from archrank.config import data_root
from archrank.seeding import build_seeded  # noqa: F401  (re-exported for the benchmarks)


def require_data_root() -> Path:
    root = data_root()
    if root is None:
        raise SystemExit("no shared data folder: set ARCHRANK_DATA or place the data at ../shared/data")
    return root


def load_nb201_table(root: Path) -> list[dict[str, Any]]:
    """Rows of nb201_cifar10.csv in benchmark index order (test accuracy, params_M, flops_M, ...)."""
    with open(root / "nb201" / "nb201_cifar10.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        row["nb201_index"] = int(row["nb201_index"])
        for key in ("cifar10_test_acc", "cifar10_valid_acc", "params_M", "flops_M"):
            row[key] = float(row[key])
    return rows


def load_suite_zero(root: Path, dataset: str = "cifar10") -> dict[str, dict[str, float]]:
    """NASLib's reference scores ``{tuple string: {proxy: score}}``; accepts both the nested and the flat schema."""
    with open(root / "nb201" / "suite_zero_nb201_cifar10.json") as fh:
        raw = json.load(fh)
    table = raw[dataset] if dataset in raw else raw["nasbench201"][dataset]
    out: dict[str, dict[str, float]] = {}
    for key, rec in table.items():
        scores: dict[str, float] = {}
        for name, value in rec.items():
            if isinstance(value, dict) and "score" in value:
                scores[name] = float(value["score"])
            elif isinstance(value, (int, float)) and name not in ("idx", "val_accuracy"):
                scores[name] = float(value)
        out[key] = scores
    return out


def default_cache(name: str) -> Path:
    return Path(os.environ.get("ARCHRANK_BENCH_CACHE", tempfile.gettempdir())) / f"archrank_{name}.jsonl"


class JsonlCache:
    """Append-only per-architecture results; a rerun skips what is there (resumable, crash-safe)."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = path
        self.meta = meta
        self.rows: dict[str, dict[str, Any]] = {}
        if path.exists():
            with open(path) as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    try:
                        rec = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut by a crash
                    if rec.get("meta") == meta:
                        self.rows[rec["key"]] = rec
        path.parent.mkdir(parents=True, exist_ok=True)

    def __contains__(self, key: str) -> bool:
        return key in self.rows

    def add(self, key: str, payload: dict[str, Any]) -> None:
        rec = {"key": key, "meta": self.meta, **payload}
        self.rows[key] = rec
        with open(self.path, "a") as fh:
            fh.write(json.dumps(rec) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def items(self) -> Iterator[tuple[str, dict[str, Any]]]:
        return iter(self.rows.items())


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def spearman(a: list[float], b: list[float]) -> tuple[float, int]:
    """Spearman rank correlation over the pairs where both values are finite; (rho, n)."""
    pairs = [(x, y) for x, y in zip(a, b, strict=True) if finite(x) and finite(y)]
    if len(pairs) < 3:
        return math.nan, len(pairs)
    xs, ys = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    if np.all(xs == xs[0]) or np.all(ys == ys[0]):
        return math.nan, len(pairs)
    rho = spearmanr(xs, ys).statistic
    return float(rho), len(pairs)


def fmt(value: float, digits: int = 3) -> str:
    return "—" if not finite(value) else f"{value:.{digits}f}"
