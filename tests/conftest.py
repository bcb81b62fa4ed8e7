"""Shared fixtures: the NB201 space and the shared benchmark data (skipped with a reason when absent)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import torch

from archrank import config, get_space
from archrank.spaces import NB201Space

# One torch thread per test process: pytest-xdist runs one process per core, and tiny CPU kernels only lose
# time to thread hand-offs (badly so on a loaded machine).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def nb201() -> NB201Space:
    space = get_space("nb201")
    assert isinstance(space, NB201Space)
    return space


@pytest.fixture(scope="session")
def data_root() -> Path:
    root = config.data_root()
    if root is None:
        pytest.skip(f"shared benchmark data not found (set {config.ENV_VAR} or provide ../shared/data)")
    return root


@pytest.fixture(scope="session")
def nb201_csv(data_root: Path) -> pd.DataFrame:
    path = data_root / "nb201" / "nb201_cifar10.csv"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return pd.read_csv(path)


@pytest.fixture()
def one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread for the test (the caller's setting restored after): statistics that must match
    bit for bit do not depend on the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def store_lifetimes(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], list[Any]]:
    """The results Stores opened during the test, and those closed, in order (``Store`` is patched for this test
    only; the lists keep them alive, so identities are not reused)."""
    from archrank.store import Store

    opened: list[Any] = []
    closed: list[Any] = []
    init, close = Store.__init__, Store.close

    def counting_init(self: Store, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        opened.append(self)

    def counting_close(self: Store) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(Store, "__init__", counting_init)
    monkeypatch.setattr(Store, "close", counting_close)
    return opened, closed
