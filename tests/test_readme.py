"""README's Python examples run as written: every ```python block, in order, in one namespace (they build on each
other), in a fresh process and an empty folder. The names a reader brings along (``pred``, ``truth``, the store
``make demo`` writes, ``my_results.csv``) are set up first; two blocks whose work is tested elsewhere at a size a
test can afford are left out by what they contain, and each such marker must still match a block."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from archrank.config import data_root

README = Path(__file__).resolve().parents[1] / "README.md"
# block marker -> why it is not run here (and where its API is tested)
LEFT_OUT = {
    'warmup=("synflow", 3000)': "scores 3000 cells before searching (search.run: tests/test_search_run.py)",
    "econas.train(": "a reduced training of minutes (econas.train: tests/test_econas.py)",
}

PREAMBLE = """
import numpy as np
import archrank
from archrank.data import load_batch
from archrank.runner import score_space
from archrank.store import Store

rng = np.random.default_rng(0)
pred, truth = rng.normal(size=30), rng.normal(size=30)
s1, s2, s3 = (rng.normal(size=30) for _ in range(3))
nb201 = archrank.get_space("nb201")
x, y = load_batch("synthetic", batch_size=8, seed=0)
with Store("archrank.db") as store:   # what `make demo` leaves behind, smaller
    score_space(nb201, nb201.sample_many(20, seed=0), list(archrank.ENSEMBLE_PROXIES), store, (x, y),
                batch_hash="readme-synthetic", progress=False)
"""

RUNNER = """
import json, sys, traceback
blocks = json.load(open("blocks.json"))
ns = {}
exec(compile(open("preamble.py").read(), "preamble", "exec"), ns)
for i, block in enumerate(blocks):
    if "my_results.csv" in block and "score_space" in block:   # the user's own trainings of the space just defined
        import pandas as pd
        space = ns["space"]
        pd.DataFrame({"arch": [space.to_str(a) for a in space.enumerate()],
                      "accuracy": [50.0 + i for i, _ in enumerate(space.enumerate())]}).to_csv("my_results.csv")
    try:
        exec(compile(block, f"README block {i}", "exec"), ns)
    except Exception:
        print(f"README python block {i} failed:\\n{block}\\n{traceback.format_exc()}")
        sys.exit(1)
print(f"ran {len(blocks)} blocks")
"""


def readme_blocks() -> tuple[list[str], int]:
    """The README's python blocks to run, and how many were left out."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    for marker in LEFT_OUT:
        assert sum(marker in b for b in blocks) == 1, f"README: no single python block holds {marker!r} any more"
    kept = [b for b in blocks if not any(marker in b for marker in LEFT_OUT)]
    return kept, len(blocks) - len(kept)


@pytest.mark.skipif(data_root() is None, reason="README examples read the shared data (NB201 table, NDS records)")
def test_readme_python_examples_run(tmp_path: Path) -> None:
    blocks, left_out = readme_blocks()
    assert len(blocks) >= 10 and left_out == len(LEFT_OUT)
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    (tmp_path / "preamble.py").write_text(PREAMBLE)
    (tmp_path / "run.py").write_text(RUNNER)
    done = subprocess.run([sys.executable, "run.py"], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "ARCHRANK_DATA": str(data_root())})
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    assert f"ran {len(blocks)} blocks" in done.stdout
