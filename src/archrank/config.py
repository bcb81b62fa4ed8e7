"""Where archrank finds shared benchmark data: one setting, ``ARCHRANK_DATA``.

Benchmark tables and datasets are never part of the package. They are found through the
``ARCHRANK_DATA`` environment variable, falling back to ``../shared/data`` (relative to the
working directory, then to the source checkout) when such a folder exists.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "ARCHRANK_DATA"


def data_root(required: bool = False) -> Path | None:
    """Return the shared data folder, or ``None`` when there is none (``required`` raises instead)."""
    env = os.environ.get(ENV_VAR)
    if env:
        path = Path(env).expanduser()
        if path.is_dir():
            return path
        raise FileNotFoundError(f"{ENV_VAR}={env} is not a directory")
    candidates = [Path.cwd() / ".." / "shared" / "data", Path(__file__).resolve().parents[3] / "shared" / "data"]
    for path in candidates:
        if path.is_dir():
            return path.resolve()
    if required:
        raise FileNotFoundError(
            f"no shared data folder: set {ENV_VAR} or place the data at ../shared/data"
        )
    return None


def data_file(*parts: str) -> Path:
    """Path of a file under the data root; FileNotFoundError naming the file when it is missing."""
    root = data_root(required=True)
    assert root is not None
    path = root.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(f"missing benchmark file: {path}")
    return path
