"""Ground-truth and reference-score loaders beyond plain tables (those live in :mod:`archrank.bench.tables`).

Each loader maps every record to the space's architecture key (``space.key(arch)``; NB201: the arch string)
and returns a DataFrame indexed by ``arch_key``. A missing file raises ``FileNotFoundError``; a truncated,
malformed or mismatched one raises :class:`GroundTruthError` (a ``ValueError``) naming the file and the
problem; a missing optional package raises ``ImportError`` with the pip command.

- :func:`load_suite_zero`: NAS-Bench-Suite-Zero JSON, nested or flat schema (accuracy + reference scores);
- :func:`load_naslib_nb201`: NASLib's ``nb201_<dataset>_full_training.pickle`` learning-curve files;
- :func:`load_nb201_api`: the official NAS-Bench-201 (``nas_201_api``) / NATS-Bench (``nats_bench``) files;
- :func:`load_analog_nasbench`: the ``analog-nasbench`` PyPI package's own CIFAR-10 training of all 15625.

Pickles are read with a restricted unpickler that only builds plain containers and numbers (plus the two
record classes of analog-nasbench, rebuilt as inert stand-ins), so a hostile file cannot run code.
"""

from __future__ import annotations

import importlib.util
import inspect
import json
import pickle
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from archrank.spaces import SearchSpace


class GroundTruthError(ValueError):
    """A ground-truth file exists but cannot be used: truncated, malformed, or not matching the space."""


# --- shared helpers ---------------------------------------------------------------------------------------


def _existing(path: str | Path) -> Path:
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"ground-truth file not found: {path}")
    return path


def _frame(records: Mapping[str, Mapping[str, float]], source: Path | str, expected: int | None) -> pd.DataFrame:
    """DataFrame indexed by arch_key from {arch_key: {column: value}}; checks the row count when given."""
    frame = pd.DataFrame.from_dict(dict(records), orient="index")
    frame.index.name = "arch_key"
    if expected is not None and len(frame) != expected:
        raise GroundTruthError(f"{source}: expected {expected} architectures, found {len(frame)} (truncated?)")
    return frame.astype(float)


def arch_key(space: SearchSpace, ref: Any, source: Path | str) -> str:
    """The store key of a benchmark reference; :class:`GroundTruthError` naming the file when it is not one."""
    try:
        arch = space.from_naslib(ref) if isinstance(ref, tuple) and space.has_naslib else space.parse(ref)
        return space.key(arch)
    except (ValueError, TypeError, KeyError) as exc:
        raise GroundTruthError(f"{source}: architecture {ref!r} does not belong to space {space.name}: {exc}") from exc


_key = arch_key


def _add(records: dict[str, dict[str, float]], key: str, values: dict[str, float], source: Path | str) -> None:
    if key in records:
        raise GroundTruthError(f"{source}: architecture {key} appears more than once")
    records[key] = values


_SAFE_GLOBALS = {
    ("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "float", "int", "str", "bool")
} | {("collections", "OrderedDict"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
     ("numpy._core.multiarray", "scalar"), ("numpy.core.multiarray", "_reconstruct"),
     ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray")}


class _Record:
    """Inert stand-in for a pickled record object: keeps its attributes, runs no code of the original."""

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict, slots) form
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("unexpected record state")
        self.__dict__.update(state)


class _SafeUnpickler(pickle.Unpickler):
    """Allows plain containers, numbers, numpy arrays, and the record classes listed in ``records``."""

    def __init__(self, file: Any, records: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(file)
        self._records = set(records)

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._records:
            return _Record
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def _load_pickle(path: Path, records: Iterable[tuple[str, str]] = ()) -> Any:
    try:
        with path.open("rb") as handle:
            return _SafeUnpickler(handle, records).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError, TypeError, IndexError) as exc:
        raise GroundTruthError(f"{path}: not a readable pickle (truncated or wrong file?): {exc}") from exc


# --- NAS-Bench-Suite-Zero -----------------------------------------------------------------------------------

SUITE_ZERO_ACCURACY = "val_accuracy"
_SUITE_ZERO_META = {"idx", "id", "arch"}


@dataclass(frozen=True)
class SuiteZero:
    """A Suite-Zero file: ``truth`` (accuracy column(s)) and ``scores`` (one column per reference proxy)."""

    truth: pd.DataFrame
    scores: pd.DataFrame
    seconds: pd.DataFrame


def load_suite_zero(
    path: str | Path, space: SearchSpace, dataset: str = "cifar10", expected_rows: int | None = None
) -> SuiteZero:
    """Read a NAS-Bench-Suite-Zero JSON file, nested or flat schema.

    Nested: ``{dataset: {"(a, b, c, d, e, f)": {"val_accuracy": x, "<proxy>": {"score": s, "time": t}}}}``;
    flat (older): ``{"nasbench201": {dataset: {tuple: {"val_accuracy": x, "<proxy>": s}}}}``. Keys are NASLib
    tuples. ``idx``/``id``/``arch`` entries are metadata (``idx`` is NASLib's own order, not the benchmark's).
    Scores are NASLib's raw values: their signs are kept.
    """
    path = _existing(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GroundTruthError(f"{path}: not valid JSON (truncated?): {exc}") from exc
    if not isinstance(data, dict):
        raise GroundTruthError(f"{path}: expected a JSON object at the top level")
    if dataset not in data:
        inner = [v for v in data.values() if isinstance(v, dict) and dataset in v]
        if len(inner) != 1:
            raise GroundTruthError(f"{path}: no dataset {dataset!r} (found: {', '.join(map(str, data))})")
        data = inner[0]
    entries = data[dataset]
    if not isinstance(entries, dict) or not entries:
        raise GroundTruthError(f"{path}: dataset {dataset!r} holds no architectures")
    truth: dict[str, dict[str, float]] = {}
    scores: dict[str, dict[str, float]] = {}
    seconds: dict[str, dict[str, float]] = {}
    for ref, entry in entries.items():
        if not isinstance(entry, dict):
            raise GroundTruthError(f"{path}: entry {ref!r} is not an object")
        key = _key(space, ref, path)
        row_truth, row_scores, row_seconds = {}, {}, {}
        for name, value in entry.items():
            if name in _SUITE_ZERO_META:
                continue
            if name == SUITE_ZERO_ACCURACY or name.endswith("_accuracy"):
                row_truth[name] = _number(value, path, ref, name)
            elif isinstance(value, dict):
                row_scores[name] = _number(value.get("score"), path, ref, name)
                row_seconds[name] = _number(value.get("time"), path, ref, name)
            else:
                row_scores[name] = _number(value, path, ref, name)
        if SUITE_ZERO_ACCURACY not in row_truth:
            raise GroundTruthError(f"{path}: entry {ref!r} has no {SUITE_ZERO_ACCURACY}")
        _add(truth, key, row_truth, path)
        scores[key], seconds[key] = row_scores, row_seconds
    return SuiteZero(_frame(truth, path, expected_rows), _frame(scores, path, None), _frame(seconds, path, None))


def _number(value: Any, path: Path, ref: str, name: str) -> float:
    if value is None:
        return float("nan")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise GroundTruthError(f"{path}: entry {ref!r}: {name} is not a number ({value!r})")
    return float(value)


# --- NASLib NB201 pickles -----------------------------------------------------------------------------------


def load_naslib_nb201(
    path: str | Path,
    space: SearchSpace,
    dataset: str = "cifar10-valid",
    metrics: Mapping[str, str] | None = None,
    epoch: int = -1,
    expected_rows: int | None = None,
) -> pd.DataFrame:
    """Read NASLib's ``nb201_*_full_training.pickle``: ``{arch_str: {dataset: {"eval_acc1es": [per epoch]}}}``.

    ``metrics`` maps output column -> NASLib field (default ``{"val_acc": "eval_acc1es"}``); list fields give
    the value at ``epoch`` (default: the last). NASLib's CIFAR-10 file keeps its results under
    ``"cifar10-valid"`` (validation accuracy of the 200-epoch training on the train split).
    """
    path = _existing(path)
    wanted = dict(metrics or {"val_acc": "eval_acc1es"})
    data = _load_pickle(path)
    if not isinstance(data, dict) or not data:
        raise GroundTruthError(f"{path}: expected a dict of architectures, got {type(data).__name__}")
    records: dict[str, dict[str, float]] = {}
    for ref, entry in data.items():
        key = _key(space, ref, path)
        block = entry.get(dataset) if isinstance(entry, dict) else None
        if not isinstance(block, dict):
            raise GroundTruthError(f"{path}: architecture {ref!r} has no {dataset!r} results")
        row = {}
        for column, field in wanted.items():
            if field not in block:
                raise GroundTruthError(f"{path}: architecture {ref!r} has no field {field!r} under {dataset!r}")
            value = block[field]
            try:
                row[column] = float(value[epoch] if isinstance(value, list | tuple | np.ndarray) else value)
            except (IndexError, TypeError, ValueError) as exc:
                raise GroundTruthError(f"{path}: {ref!r}: cannot read {field}[{epoch}]: {exc}") from exc
        _add(records, key, row, path)
    return _frame(records, path, expected_rows)


# --- official NAS-Bench-201 / NATS-Bench APIs ---------------------------------------------------------------

NB201_API_HELP = (
    "pip install nats_bench (NATS-Bench, file NATS-tss-v1_0-3ffb9-simple/ or .pickle.pbz2) or "
    "pip install nas-bench-201 (file NAS-Bench-201-v1_0-e61699.pth / v1_1-096897.pth)"
)


def _create_api(path: Path, api: str, fast_mode: bool) -> Any:
    """The benchmark API object, importing the package only now (both are optional)."""
    if api == "auto":
        api = "nb201" if path.suffix == ".pth" else "nats"
    if api == "nats":
        if importlib.util.find_spec("nats_bench") is None:
            raise ImportError(f"reading {path} needs the NATS-Bench API: {NB201_API_HELP}")
        from nats_bench import create

        return create(str(path), "tss", fast_mode=fast_mode, verbose=False)
    if api == "nb201":
        if importlib.util.find_spec("nas_201_api") is None:
            raise ImportError(f"reading {path} needs the NAS-Bench-201 API: {NB201_API_HELP}")
        from nas_201_api import NASBench201API

        return NASBench201API(str(path), verbose=False)
    raise ValueError(f"unknown benchmark API {api!r}: use 'auto', 'nats' or 'nb201'")


def _query(api: Any, index: int, dataset: str, hp: str) -> dict[str, Any]:
    """``get_more_info`` averaged over seeds; the v1.0 NAS-Bench-201 API spells ``hp`` as a boolean flag."""
    if "hp" in inspect.signature(api.get_more_info).parameters:
        return api.get_more_info(index, dataset, iepoch=None, hp=hp, is_random=False)
    return api.get_more_info(index, dataset, iepoch=None, use_12epochs_result=(hp == "12"), is_random=False)


def load_nb201_api(
    path: str | Path,
    space: SearchSpace,
    dataset: str = "cifar10",
    metrics: Mapping[str, str] | None = None,
    hp: str = "200",
    api: str = "auto",
    fast_mode: bool | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Accuracy of every architecture from the official NAS-Bench-201 or NATS-Bench (topology) file.

    ``metrics`` maps output column -> ``get_more_info`` key (default ``{"test_acc": "test-accuracy"}``;
    ``dataset="cifar10"`` means trained on train+valid, tested on the test set; ``"cifar10-valid"`` gives
    ``valid-accuracy``). Results are averaged over the benchmark's seeds (``is_random=False``).

    Memory: the single-file forms load whole into RAM (NAS-Bench-201 v1_0 .pth ≈ 2.2 GB on disk, well over
    10 GB in memory; v1_1 larger still; NATS .pickle.pbz2 similar once decompressed). Prefer NATS-Bench's
    ``NATS-tss-v1_0-3ffb9-simple/`` folder: with ``fast_mode`` (default for a folder) each architecture's
    record is read on demand and dropped after use here, so memory stays small. ``api`` picks the package
    (``"auto"``: ``.pth`` -> ``nas_201_api``, otherwise ``nats_bench``).
    """
    path = _existing(path)
    fields = dict(metrics or {"test_acc": "test-accuracy"})
    bench = _create_api(path, api, path.is_dir() if fast_mode is None else fast_mode)
    archs = list(bench.meta_archs)
    records: dict[str, dict[str, float]] = {}
    cache = getattr(bench, "arch2infos_dict", None)
    for index, arch_str in enumerate(archs):
        info = _query(bench, index, dataset, hp)
        missing = [f for f in fields.values() if f not in info]
        if missing:
            raise GroundTruthError(f"{path}: arch {index} has no {', '.join(missing)} for {dataset!r}")
        _add(records, _key(space, arch_str, path), {c: float(info[f]) for c, f in fields.items()}, path)
        if isinstance(cache, dict) and getattr(bench, "_fast_mode", False):
            cache.pop(index, None)  # stream: the fast-mode API would otherwise keep every record loaded
        if progress is not None:
            progress(index + 1, len(archs))
    return _frame(records, path, None)


# --- analog-nasbench (PyPI) -----------------------------------------------------------------------------------

ANALOG_PACKAGE = "analog-nasbench"
ANALOG_VERSION = "0.1.3"
ANALOG_RECORDS = (("analognasbench.data", "Architecture"), ("analognasbench.data", "DriftMeasurement"))
ANALOG_ACCURACIES = ("baseline_accuracy", "ptq_accuracy", "qat_accuracy", "noisy_accuracy", "analog_accuracy")


def analog_nasbench_file() -> Path:
    """Where the installed ``analog-nasbench`` package keeps ``data.anb`` (found without importing it)."""
    spec = importlib.util.find_spec("analognasbench")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(
            f"the built-in NB201 ground truth needs the {ANALOG_PACKAGE} package: "
            f"pip install {ANALOG_PACKAGE}=={ANALOG_VERSION}  (or: pip install 'archrank[groundtruth]')"
        )
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "data.anb"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{ANALOG_PACKAGE} is installed but its data.anb is missing; reinstall it")


def load_analog_nasbench(
    space: SearchSpace, path: str | Path | None = None, drift: bool = False, expected_rows: int | None = None
) -> pd.DataFrame:
    """CIFAR-10 accuracies of all 15625 NB201 cells from the ``analog-nasbench`` package (AnalogNAS-Bench).

    ``baseline_accuracy`` is the package's own full-precision CIFAR-10 training of every cell (the default
    ground truth: installable with pip, no benchmark file to fetch); the other columns are its
    post-training-quantised, quantisation-aware, noisy and analog-hardware accuracies, and with ``drift``
    the analog drift accuracies (mean values). Keys in the file are NASLib tuples. The package's own
    ``import`` needs ``pkg_resources`` (gone from recent setuptools), so its data file is read directly, with
    the restricted unpickler. Reading the installed package checks that all 15625 cells are there.
    """
    if path is None and expected_rows is None and space.name == "nb201":
        expected_rows = len(space)
    file = _existing(path) if path is not None else analog_nasbench_file()
    data = _load_pickle(file, ANALOG_RECORDS)
    if not isinstance(data, dict) or not data:
        raise GroundTruthError(f"{file}: expected a dict of architectures, got {type(data).__name__}")
    records: dict[str, dict[str, float]] = {}
    for ref, record in data.items():
        attrs = getattr(record, "__dict__", {})
        missing = [name for name in ANALOG_ACCURACIES if name not in attrs]
        if not isinstance(ref, tuple) or missing:
            raise GroundTruthError(f"{file}: record {ref!r} is not an analog-nasbench architecture record")
        row = {name: float(attrs[name]) for name in ANALOG_ACCURACIES}
        if drift:
            for name, value in attrs.items():
                if "_drift_" in name:
                    row[name] = float(getattr(value, "value", value))
        _add(records, _key(space, tuple(int(c) for c in ref), file), row, file)
    return _frame(records, file, expected_rows)
