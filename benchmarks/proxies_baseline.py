"""Load the proxy engine of an earlier commit next to today's, in the same process, for side-by-side benchmarks.

``load_baseline(commit)`` extracts ``src/archrank/proxies/*.py`` of ``commit`` (``git show``) into a temporary
package named ``archrank_proxies_<commit>`` (its ``archrank.proxies`` imports rewritten to that name) and imports
it. The baseline has its own proxy registry, so both engines score the same models with their own code; everything
else (spaces, data) is today's ``archrank``.

    from proxies_baseline import load_baseline
    old = load_baseline("6690865")
    old.score_detailed(model, ["synflow"], batch=(x, y))
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]
BASELINE_COMMIT = "6690865"
"""The last commit before issue 18 (the engine as it was when the 2.19 s per cell was measured)."""


def load_baseline(commit: str = BASELINE_COMMIT) -> ModuleType:
    """Import ``archrank.proxies`` as it was at ``commit``; returns the package module."""
    name = f"archrank_proxies_{commit}"
    if name in sys.modules:
        return sys.modules[name]
    listing = subprocess.run(
        ["git", "-C", str(REPO), "ls-tree", "-r", "--name-only", commit, "src/archrank/proxies/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    root = Path(tempfile.mkdtemp(prefix="archrank_baseline_"))
    for path in listing:
        if not path.endswith(".py"):
            continue
        text = subprocess.run(
            ["git", "-C", str(REPO), "show", f"{commit}:{path}"], check=True, capture_output=True, text=True
        ).stdout
        text = text.replace("archrank.proxies", name)
        target = root / name / Path(path).relative_to("src/archrank/proxies")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    sys.path.insert(0, str(root))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(root))
