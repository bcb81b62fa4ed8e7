"""Read the pickle files that CIFAR and ImageNet16 are published as, safely and with clear errors.

Both datasets ship as pickled dicts of numpy arrays and label lists. Unpickling can run arbitrary code,
so :func:`read_pickle_dict` only lets through the handful of globals needed to rebuild numpy arrays
(under numpy 1.x and 2.x module names); anything else, a truncated file or a non-dict payload becomes
a one-line ``ValueError`` naming the file.
"""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path
from typing import Any

import numpy as np

# (module, name) pairs a dataset pickle may reference: numpy array/scalar reconstruction, and
# ``_codecs.encode``, which protocol-2 pickles use to store bytes.
_ALLOWED_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }
)

# Exceptions a damaged or hostile pickle can raise while loading.
_LOAD_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    ImportError,
    IndexError,
    KeyError,
    OverflowError,
    MemoryError,
)


def _module_candidates(module: str) -> tuple[str, ...]:
    """Module names to try for ``module``: numpy 2 renamed ``numpy.core`` to ``numpy._core``."""
    if module.startswith("numpy.core."):
        return ("numpy._core." + module.removeprefix("numpy.core."), module)
    if module.startswith("numpy._core."):
        return (module, "numpy.core." + module.removeprefix("numpy._core."))
    return (module,)


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals in ``_ALLOWED_GLOBALS``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")
        for candidate in _module_candidates(module):
            try:
                return getattr(importlib.import_module(candidate), name)
            except (ImportError, AttributeError):
                continue
        raise pickle.UnpicklingError(f"cannot resolve global {module}.{name}")


def read_pickle_dict(path: Path) -> dict[Any, Any]:
    """Load the dict pickled in ``path`` (``encoding="bytes"``, as the Python 2 era files need).

    Raises ``FileNotFoundError`` when the file is missing and ``ValueError`` naming the file when it is
    truncated, corrupt, references a disallowed global, or does not hold a dict.
    """
    if not path.is_file():
        raise FileNotFoundError(f"missing data file: {path}")
    try:
        with path.open("rb") as f:
            obj = _RestrictedUnpickler(f, encoding="bytes").load()
    except _LOAD_ERRORS as exc:
        raise ValueError(f"corrupt or truncated pickle {path}: {type(exc).__name__}: {exc}") from exc
    if not isinstance(obj, dict):
        raise ValueError(f"pickle {path} holds a {type(obj).__name__}, expected a dict")
    return obj


def get_field(record: dict[Any, Any], key: str, path: Path) -> Any:
    """``record[key]``, whether the pickle stored the key as ``str`` or ``bytes``; ValueError if absent."""
    for candidate in (key, key.encode()):
        if candidate in record:
            return record[candidate]
    keys = ", ".join(sorted(repr(k) for k in record))
    raise ValueError(f"pickle {path} has no {key!r} entry (keys: {keys})")


def image_rows(record: dict[Any, Any], path: Path, width: int) -> np.ndarray:
    """The ``data`` entry as a uint8 N×width array, checked; ValueError naming the file otherwise."""
    data = get_field(record, "data", path)
    if not isinstance(data, np.ndarray):
        raise ValueError(f"'data' in {path} is a {type(data).__name__}, expected a numpy array")
    if data.dtype != np.uint8:
        raise ValueError(f"'data' in {path} has dtype {data.dtype}, expected uint8")
    if data.ndim != 2 or data.shape[1] != width:
        raise ValueError(f"'data' in {path} has shape {data.shape}, expected (N, {width})")
    return data


def label_vector(
    record: dict[Any, Any], key: str, path: Path, num_rows: int, low: int, high: int
) -> np.ndarray:
    """The ``key`` labels as int64, checked for length ``num_rows`` and range ``low..high`` (inclusive)."""
    raw = get_field(record, key, path)
    try:
        labels = np.asarray(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{key!r} in {path} is not a label sequence: {exc}") from exc
    if labels.ndim != 1 or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError(
            f"{key!r} in {path} must be a 1-D sequence of integers, got {labels.dtype} {labels.shape}"
        )
    labels = labels.astype(np.int64, copy=False)
    if labels.shape[0] != num_rows:
        raise ValueError(f"{path} has {num_rows} images but {labels.shape[0]} {key!r}")
    if labels.size and (labels.min() < low or labels.max() > high):
        raise ValueError(
            f"{key!r} in {path} range over {labels.min()}..{labels.max()}, expected {low}..{high}"
        )
    return labels
