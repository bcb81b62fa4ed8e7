"""Tests for archrank.data: dataset readers, seeded batches, content hashes and errors.

The shared CIFAR-10 subset (5085 train / 1017 test images, 1017 per file) is used when the shared data
root exists; everything else runs on tiny fake releases written to ``tmp_path`` with odd file sizes.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import archrank.data as data
from archrank.config import data_root
from archrank.data import (
    DATASETS,
    Batch,
    batch_hash,
    load_batch,
    load_cifar,
    load_imagenet16,
    synthetic_batch,
)

CIFAR10_MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
CIFAR10_STD = np.array([0.2470, 0.2435, 0.2616], dtype=np.float32)
CIFAR10_TRAIN_SIZES = (7, 5, 7, 5, 7)  # odd sizes: nothing may assume 10000 images per file
CIFAR10_TEST_SIZE = 5


# --------------------------------------------------------------------------- helpers and fixtures


def _dump(path: Path, obj: object, protocol: int = 2) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=protocol))


def _rows(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, width), dtype=np.uint8)


def write_fake_cifar10(root: Path, protocol: int = 2) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A tiny ``cifar-10-batches-py`` (bytes keys, like the original release); returns what was written."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(123)
    written: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    files = [(f"data_batch_{i + 1}", n) for i, n in enumerate(CIFAR10_TRAIN_SIZES)]
    for filename, n in [*files, ("test_batch", CIFAR10_TEST_SIZE)]:
        rows = _rows(rng, n, 3072)
        labels = rng.integers(0, 10, size=n).tolist()
        _dump(folder / filename, {b"batch_label": b"fake", b"labels": labels, b"data": rows}, protocol)
        written[filename] = (rows, np.array(labels))
    _dump(folder / "batches.meta", {b"num_cases_per_batch": 7, b"label_names": [b"c"] * 10}, protocol)
    return written


def write_fake_cifar100(root: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """A tiny ``cifar-100-python`` with distinct fine and coarse labels."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(7)
    written = {}
    for filename, n in (("train", 7), ("test", 5)):
        rows = _rows(rng, n, 3072)
        fine = rng.integers(20, 100, size=n)
        record = {b"data": rows, b"fine_labels": fine.tolist(), b"coarse_labels": (fine // 5).tolist()}
        _dump(folder / filename, record)
        written[filename] = (rows, fine)
    _dump(folder / "meta", {b"fine_label_names": [b"c"] * 100})
    return written


def write_fake_imagenet16(folder: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Tiny ImageNet16 files (str keys, 1-based labels in 1..1000, some beyond the 120 kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    written = {}
    names = [f"train_data_batch_{i}" for i in range(1, 11)]
    for index, filename in enumerate([*names, "val_data"]):
        n = 7 if index % 2 else 5
        rows = _rows(rng, n, 768)
        labels = rng.integers(1, 1001, size=n)
        labels[:3] = [1, 120, 121]  # both ends of the kept range and the first dropped label
        _dump(folder / filename, {"data": rows, "labels": labels.tolist(), "mean": np.zeros(768)}, 4)
        written[filename] = (rows, labels)
    return written


@pytest.fixture
def fake_cifar10(tmp_path: Path) -> tuple[Path, dict[str, tuple[np.ndarray, np.ndarray]]]:
    return tmp_path, write_fake_cifar10(tmp_path)


@pytest.fixture
def shared_cifar10() -> Path:
    root = data_root()
    if root is None:
        pytest.skip("no shared data root (set ARCHRANK_DATA or provide ../shared/data)")
    if not (root / "cifar-10-batches-py").is_dir():
        pytest.skip(f"shared data root {root} has no cifar-10-batches-py")
    return root


def _read_raw(path: Path) -> dict:
    with path.open("rb") as f:
        return pickle.load(f, encoding="bytes")


# --------------------------------------------------------------------------- shared CIFAR-10 subset


def test_shared_cifar10_split_sizes_and_labels(shared_cifar10: Path) -> None:
    train_x, train_y = load_cifar(shared_cifar10, "cifar10", "train")
    test_x, test_y = load_cifar(shared_cifar10, "cifar10", "test")
    assert train_x.shape == (5085, 3, 32, 32) and train_y.shape == (5085,)
    assert test_x.shape == (1017, 3, 32, 32) and test_y.shape == (1017,)
    assert train_x.dtype == np.uint8 and train_y.dtype == np.int64
    for labels in (train_y, test_y):
        assert labels.min() == 0 and labels.max() == 9
        assert set(np.unique(labels).tolist()) == set(range(10))


def test_shared_cifar10_chw_decoding_matches_raw_pickle(shared_cifar10: Path) -> None:
    folder = shared_cifar10 / "cifar-10-batches-py"
    train_x, train_y = load_cifar(shared_cifar10, "cifar10", "train")
    raw1, raw2 = _read_raw(folder / "data_batch_1"), _read_raw(folder / "data_batch_2")
    n1 = raw1[b"data"].shape[0]
    # A pixel at (channel c, row h, column w) is byte c*1024 + h*32 + w of the row.
    for i, c, h, w in [(0, 0, 0, 0), (5, 1, 7, 20), (100, 2, 31, 31), (n1 - 1, 2, 16, 3)]:
        assert train_x[i, c, h, w] == raw1[b"data"][i, c * 1024 + h * 32 + w]
    assert train_x[n1 + 3, 1, 2, 9] == raw2[b"data"][3, 1024 + 2 * 32 + 9]
    np.testing.assert_array_equal(train_y[:n1], raw1[b"labels"])
    np.testing.assert_array_equal(train_y[n1 : n1 + 10], raw2[b"labels"][:10])
    test_x, _ = load_cifar(shared_cifar10, "cifar10", "test")
    raw_test = _read_raw(folder / "test_batch")
    np.testing.assert_array_equal(test_x.reshape(len(test_x), -1), raw_test[b"data"])


def test_shared_cifar10_normalisation_statistics(shared_cifar10: Path) -> None:
    images, _ = load_cifar(shared_cifar10, "cifar10", "train")
    normed = (images.astype(np.float32) / 255 - CIFAR10_MEAN[:, None, None]) / CIFAR10_STD[:, None, None]
    # With the standard CIFAR-10 statistics a 5085-image subset is close to zero mean, unit std.
    assert np.abs(normed.mean(axis=(0, 2, 3))).max() < 0.05
    assert np.abs(normed.std(axis=(0, 2, 3)) - 1).max() < 0.05
    x, _ = load_batch("cifar10", shared_cifar10, batch_size=512, seed=3)
    assert np.abs(x.mean(dim=(0, 2, 3)).numpy()).max() < 0.1
    assert np.abs(x.std(dim=(0, 2, 3)).numpy() - 1).max() < 0.1


def test_shared_cifar10_batch_rows_are_dataset_images(shared_cifar10: Path) -> None:
    images, labels = load_cifar(shared_cifar10, "cifar10", "test")
    x, y = load_batch("cifar10", shared_cifar10, batch_size=64, seed=0, split="test", normalize=False)
    assert x.shape == (64, 3, 32, 32) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert float(x.min()) >= 0 and float(x.max()) <= 1
    pixels = np.rint(x.numpy() * 255).astype(np.uint8)
    lookup = {img.tobytes(): i for i, img in enumerate(images)}
    found = [lookup[p.tobytes()] for p in pixels]  # KeyError if a row is not a dataset image
    assert len(set(found)) == 64  # drawn without replacement
    np.testing.assert_array_equal(labels[found], y.numpy())


def test_shared_cifar10_root_may_be_the_release_folder(shared_cifar10: Path) -> None:
    a = load_batch("cifar10", shared_cifar10, batch_size=16, seed=1)
    b = load_batch("cifar10", shared_cifar10 / "cifar-10-batches-py", batch_size=16, seed=1)
    c = load_batch("cifar10", str(shared_cifar10), batch_size=16, seed=1)
    assert a.content_hash == b.content_hash == c.content_hash


def test_shared_cifar10_balanced_batch(shared_cifar10: Path) -> None:
    x, y = load_batch("cifar10", shared_cifar10, batch_size=50, seed=4, balanced=True)
    assert x.shape[0] == 50
    assert torch.bincount(y, minlength=10).tolist() == [5] * 10
    assert len(torch.unique(x.reshape(50, -1), dim=0)) == 50
    # Shuffled, not grouped by class.
    assert not torch.equal(y, torch.sort(y).values)


# --------------------------------------------------------------------------- contract and determinism


def test_load_batch_public_contract(fake_cifar10) -> None:
    root, _ = fake_cifar10
    batch = load_batch("cifar10", root, batch_size=8, seed=0)
    assert isinstance(batch, Batch) and isinstance(batch, tuple)
    x, y = batch
    assert x is batch.x and y is batch.y
    assert x.shape == (8, 3, 32, 32) and x.dtype == torch.float32 and x.is_contiguous()
    assert y.shape == (8,) and y.dtype == torch.int64
    assert data.DATASETS == DATASETS == ("cifar10", "cifar100", "imagenet16-120", "synthetic")
    for name in ("Batch", "load_batch", "batch_hash", "load_cifar", "synthetic_batch", "DATASETS"):
        assert name in data.__all__


def test_same_seed_gives_bit_identical_batch(fake_cifar10) -> None:
    root, _ = fake_cifar10
    a = load_batch("cifar10", root, batch_size=12, seed=9)
    b = load_batch("cifar10", root, batch_size=12, seed=9)
    assert a.x.numpy().tobytes() == b.x.numpy().tobytes()
    assert torch.equal(a.y, b.y)
    assert a.content_hash == b.content_hash == batch_hash(b.x, b.y)
    c = load_batch("cifar10", root, batch_size=12, seed=10)
    assert not torch.equal(a.x, c.x)
    assert c.content_hash != a.content_hash


def test_seed_does_not_touch_global_rng(fake_cifar10) -> None:
    root, _ = fake_cifar10
    np.random.seed(0)
    expected = np.random.random()
    np.random.seed(0)
    first = load_batch("cifar10", root, batch_size=6, seed=2)
    assert np.random.random() == expected
    np.random.seed(99)
    torch.manual_seed(99)
    assert load_batch("cifar10", root, batch_size=6, seed=2).content_hash == first.content_hash


def test_options_change_the_batch(fake_cifar10) -> None:
    root, _ = fake_cifar10
    base = load_batch("cifar10", root, batch_size=10, seed=0)
    raw = load_batch("cifar10", root, batch_size=10, seed=0, normalize=False)
    torch.testing.assert_close(base.y, raw.y)
    mean = torch.from_numpy(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.from_numpy(CIFAR10_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(base.x, (raw.x - mean) / std)
    test = load_batch("cifar10", root, batch_size=5, seed=0, split="test")
    assert test.content_hash != load_batch("cifar10", root, batch_size=5, seed=0).content_hash


def test_root_none_uses_configured_data_root(fake_cifar10, monkeypatch: pytest.MonkeyPatch) -> None:
    root, _ = fake_cifar10
    monkeypatch.setenv("ARCHRANK_DATA", str(root))
    assert (
        load_batch("cifar10", batch_size=4, seed=1).content_hash
        == load_batch("cifar10", root, batch_size=4, seed=1).content_hash
    )
    monkeypatch.setenv("ARCHRANK_DATA", str(root / "nope"))
    with pytest.raises(FileNotFoundError, match="nope"):
        load_batch("cifar10", batch_size=4)


# --------------------------------------------------------------------------- batch_hash


def test_batch_hash_format_and_golden_value() -> None:
    x = torch.arange(6, dtype=torch.float32).reshape(1, 1, 2, 3)
    y = torch.tensor([1])
    digest = batch_hash(x, y)
    assert re.fullmatch(r"[0-9a-f]{16}", digest)
    # Recorded hashes must stay comparable across versions: the recipe may not drift.
    assert digest == "e9073d7030a103da"
    assert Batch(x, y).content_hash == digest
    assert batch_hash(x.numpy(), y.numpy()) == digest


def test_batch_hash_sees_values_dtype_and_shape() -> None:
    x = torch.zeros(2, 3, 4, 4)
    y = torch.tensor([0, 1])
    digest = batch_hash(x, y)
    changed = x.clone()
    changed[1, 2, 3, 3] = 1e-7
    assert batch_hash(changed, y) != digest
    assert batch_hash(x, torch.tensor([1, 0])) != digest
    assert batch_hash(x.double(), y) != digest
    assert batch_hash(x, y.int()) != digest
    assert batch_hash(x.reshape(2, 3, 2, 8), y) != digest  # same bytes, other shape
    assert batch_hash(x.permute(0, 2, 3, 1), y) != digest
    assert batch_hash(x[:, :, ::2], y) == batch_hash(x[:, :, ::2].contiguous(), y)
    with pytest.raises(TypeError, match="list"):
        batch_hash([0.0], y)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- fake CIFAR-10 / CIFAR-100


@pytest.mark.parametrize("protocol", [2, 5])
def test_fake_cifar10_odd_file_sizes(tmp_path: Path, protocol: int) -> None:
    written = write_fake_cifar10(tmp_path, protocol)
    images, labels = load_cifar(tmp_path, "cifar10", "train")
    assert images.shape == (sum(CIFAR10_TRAIN_SIZES), 3, 32, 32)
    expected_rows = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    expected_labels = np.concatenate([written[f"data_batch_{i}"][1] for i in range(1, 6)])
    np.testing.assert_array_equal(images, expected_rows.reshape(-1, 3, 32, 32))
    np.testing.assert_array_equal(labels, expected_labels)
    assert images[8, 2, 1, 5] == written["data_batch_2"][0][1, 2048 + 32 + 5]
    test_images, _ = load_cifar(tmp_path / "cifar-10-batches-py", "cifar10", "test")
    assert test_images.shape == (CIFAR10_TEST_SIZE, 3, 32, 32)
    x, y = load_batch("cifar10", tmp_path, batch_size=sum(CIFAR10_TRAIN_SIZES), seed=0, normalize=False)
    # The whole split, permuted: same multiset of labels and of images.
    assert sorted(map(bytes, np.rint(x.numpy() * 255).astype(np.uint8).reshape(len(x), -1))) == sorted(
        map(bytes, expected_rows)
    )
    assert sorted(y.tolist()) == sorted(expected_labels.tolist())


def test_fake_cifar100_uses_fine_labels(tmp_path: Path) -> None:
    written = write_fake_cifar100(tmp_path)
    images, labels = load_cifar(tmp_path, "cifar100", "train")
    assert images.shape == (7, 3, 32, 32)
    np.testing.assert_array_equal(labels, written["train"][1])
    np.testing.assert_array_equal(images.reshape(7, -1), written["train"][0])
    x, y = load_batch("cifar100", tmp_path, batch_size=5, seed=0, split="test", normalize=False)
    assert x.shape == (5, 3, 32, 32)
    assert sorted(y.tolist()) == sorted(written["test"][1].tolist())
    mean = np.array([0.5071, 0.4865, 0.4409], dtype=np.float32)
    std = np.array([0.2673, 0.2564, 0.2762], dtype=np.float32)
    normed = load_batch("cifar100", tmp_path, batch_size=5, seed=0, split="test")
    expected = (x.numpy() - mean[:, None, None]) / std[:, None, None]
    np.testing.assert_allclose(normed.x.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_balanced_sampling_errors(fake_cifar10) -> None:
    root, _ = fake_cifar10
    with pytest.raises(ValueError, match="divisible"):
        load_batch("cifar10", root, batch_size=15, balanced=True)
    # 31 images over 10 classes: some class has fewer than 3.
    with pytest.raises(ValueError, match="per class"):
        load_batch("cifar10", root, batch_size=30, balanced=True)


def test_balanced_sampling_counts_on_fake_data(tmp_path: Path) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    start = 0
    for name, n in [*((f"data_batch_{i}", 9) for i in range(1, 6)), ("test_batch", 3)]:
        labels = (np.arange(n) + start) % 10  # 45 train images cycling through the classes: >= 4 each
        start += n
        _dump(folder / name, {b"data": _rows(rng, n, 3072), b"labels": labels.tolist()})
    x, y = load_batch("cifar10", tmp_path, batch_size=40, seed=1, balanced=True)
    assert torch.bincount(y, minlength=10).tolist() == [4] * 10
    assert len(torch.unique(x.reshape(40, -1), dim=0)) == 40


# --------------------------------------------------------------------------- fake ImageNet16-120


@pytest.mark.parametrize("subfolder", ["", "ImageNet16"])
def test_fake_imagenet16_filters_and_maps_labels(tmp_path: Path, subfolder: str) -> None:
    written = write_fake_imagenet16(tmp_path / subfolder if subfolder else tmp_path)
    images, labels = load_imagenet16(tmp_path, "train")
    rows = np.concatenate([written[f"train_data_batch_{i}"][0] for i in range(1, 11)])
    raw = np.concatenate([written[f"train_data_batch_{i}"][1] for i in range(1, 11)])
    keep = raw <= 120
    assert 0 < keep.sum() < len(raw)
    np.testing.assert_array_equal(labels, raw[keep] - 1)
    np.testing.assert_array_equal(images, rows[keep].reshape(-1, 3, 16, 16))
    assert labels.min() == 0 and labels.max() == 119
    assert images[0, 1, 2, 3] == written["train_data_batch_1"][0][0, 256 + 2 * 16 + 3]
    val_images, val_labels = load_imagenet16(tmp_path, "test")
    assert len(val_images) == int((written["val_data"][1] <= 120).sum())
    for name in ("imagenet16-120", "ImageNet16-120"):
        x, y = load_batch(name, tmp_path, batch_size=len(val_labels), seed=0, split="test")
        assert x.shape == (len(val_labels), 3, 16, 16) and x.dtype == torch.float32
        assert sorted(y.tolist()) == sorted(val_labels.tolist())


def test_fake_imagenet16_normalisation(tmp_path: Path) -> None:
    write_fake_imagenet16(tmp_path)
    raw = load_batch("imagenet16-120", tmp_path, batch_size=6, seed=3, normalize=False)
    normed = load_batch("imagenet16-120", tmp_path, batch_size=6, seed=3)
    mean = torch.tensor([0.481, 0.458, 0.408]).view(1, 3, 1, 1)
    std = torch.tensor([0.247, 0.240, 0.258]).view(1, 3, 1, 1)
    torch.testing.assert_close(normed.x, (raw.x - mean) / std)
    with pytest.raises(ValueError, match="balanced"):
        load_batch("imagenet16-120", tmp_path, batch_size=120, balanced=True)


# --------------------------------------------------------------------------- errors


def test_missing_directory(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        load_batch("cifar10", missing)
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        load_imagenet16(missing)


def test_wrong_layout(tmp_path: Path) -> None:
    (tmp_path / "cifar-10-batches-py").mkdir()
    (tmp_path / "cifar-10-batches-py" / "readme.txt").write_text("not data")
    layout = r"no cifar10 data in .*cifar-10-batches-py: expected .*data_batch_1"
    with pytest.raises(FileNotFoundError, match=layout):
        load_cifar(tmp_path, "cifar10", "train")
    with pytest.raises(FileNotFoundError, match="cifar-100-python"):
        load_batch("cifar100", tmp_path)
    with pytest.raises(FileNotFoundError, match="train_data_batch_1"):
        load_batch("imagenet16-120", tmp_path)


def test_incomplete_release(fake_cifar10) -> None:
    root, _ = fake_cifar10
    (root / "cifar-10-batches-py" / "data_batch_4").unlink()
    with pytest.raises(FileNotFoundError, match="missing data_batch_4"):
        load_batch("cifar10", root)
    # The test split is still complete.
    assert load_batch("cifar10", root, batch_size=5, split="test").x.shape[0] == 5


def test_truncated_pickle(fake_cifar10) -> None:
    root, _ = fake_cifar10
    path = root / "cifar-10-batches-py" / "data_batch_3"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(ValueError, match=r"corrupt or truncated pickle .*data_batch_3"):
        load_batch("cifar10", root)


def test_garbage_and_non_dict_pickles(fake_cifar10) -> None:
    root, _ = fake_cifar10
    path = root / "cifar-10-batches-py" / "data_batch_2"
    path.write_bytes(b"this is not a pickle at all")
    with pytest.raises(ValueError, match="data_batch_2"):
        load_cifar(root)
    _dump(path, [1, 2, 3])
    with pytest.raises(ValueError, match=r"data_batch_2 holds a list"):
        load_cifar(root)


class _Exploit:
    def __reduce__(self):
        return (os.remove, ("/nonexistent/archrank-should-not-run",))


def test_pickle_with_foreign_globals_is_refused(fake_cifar10) -> None:
    root, _ = fake_cifar10
    path = root / "cifar-10-batches-py" / "test_batch"
    _dump(path, {b"data": np.zeros((1, 3072), np.uint8), b"labels": [0], b"x": _Exploit()})
    with pytest.raises(ValueError, match=r"refusing to load global .*remove"):
        load_cifar(root, "cifar10", "test")


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({b"data": np.zeros((4, 3000), np.uint8), b"labels": [0] * 4}, r"shape \(4, 3000\).*3072"),
        ({b"data": np.zeros(3072, np.uint8), b"labels": [0]}, r"shape \(3072,\)"),
        ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0] * 4}, "dtype float32"),
        ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}, "4 images but 3"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, r"0\.\.10.*0\.\.9"),
        ({b"data": np.zeros((2, 3072), np.uint8), b"labels": ["a", "b"]}, "integers"),
        ({b"labels": [0]}, "no 'data' entry"),
        ({b"data": np.zeros((1, 3072), np.uint8)}, "no 'labels' entry"),
    ],
)
def test_malformed_records(fake_cifar10, record: dict, message: str) -> None:
    root, _ = fake_cifar10
    path = root / "cifar-10-batches-py" / "test_batch"
    _dump(path, record)
    with pytest.raises(ValueError, match=message) as info:
        load_cifar(root, "cifar10", "test")
    assert "test_batch" in str(info.value)
    assert "\n" not in str(info.value)


def test_imagenet16_wrong_width_and_label_range(tmp_path: Path) -> None:
    write_fake_imagenet16(tmp_path)
    _dump(tmp_path / "val_data", {"data": np.zeros((3, 3072), np.uint8), "labels": [1, 2, 3]})
    with pytest.raises(ValueError, match=r"val_data.*768"):
        load_imagenet16(tmp_path, "val")
    _dump(tmp_path / "val_data", {"data": np.zeros((2, 768), np.uint8), "labels": [0, 5]})
    with pytest.raises(ValueError, match=r"1\.\.1000"):
        load_imagenet16(tmp_path, "val")


def test_argument_errors(fake_cifar10) -> None:
    root, _ = fake_cifar10
    with pytest.raises(ValueError, match=r"'mnist'.*cifar10, cifar100, imagenet16-120, synthetic"):
        load_batch("mnist", root)
    with pytest.raises(ValueError, match=r"batch_size 32 is larger than the split \(31 images\)"):
        load_batch("cifar10", root, batch_size=32)
    with pytest.raises(ValueError, match=r"larger than the split \(5 images\)"):
        load_batch("cifar10", root, batch_size=6, split="test")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            load_batch("cifar10", root, batch_size=bad)
    with pytest.raises(ValueError, match="split 'valid'"):
        load_batch("cifar10", root, split="valid")
    with pytest.raises(TypeError, match="kind"):
        load_batch("cifar10", root, kind="ones")
    with pytest.raises(TypeError, match="colour"):
        load_batch("synthetic", colour="red")
    with pytest.raises(ValueError, match="cifar10, cifar100"):
        load_cifar(root, "cifar1000")


# --------------------------------------------------------------------------- synthetic


def test_synthetic_shapes_and_kinds() -> None:
    x, y = load_batch("synthetic", batch_size=5, seed=0, shape=(1, 8, 6), num_classes=3)
    assert x.shape == (5, 1, 8, 6) and x.dtype == torch.float32
    assert y.shape == (5,) and y.dtype == torch.int64 and int(y.min()) >= 0 and int(y.max()) <= 2
    ones = load_batch("synthetic", batch_size=4, kind="ones")
    assert ones.x.shape == (4, 3, 32, 32) and bool((ones.x == 1).all())
    uniform = synthetic_batch(16, 1, kind="uniform").x
    assert float(uniform.min()) >= 0 and float(uniform.max()) < 1 and float(uniform.std()) > 0.2
    gaussian = synthetic_batch(64, 2, kind="gaussian").x
    assert abs(float(gaussian.mean())) < 0.02 and abs(float(gaussian.std()) - 1) < 0.02
    # The default kind is gaussian, and labels do not depend on the kind.
    assert synthetic_batch(8, 3).content_hash == synthetic_batch(8, 3, kind="gaussian").content_hash
    assert torch.equal(synthetic_batch(8, 3, kind="ones").y, synthetic_batch(8, 3, kind="uniform").y)


def test_synthetic_determinism_and_equivalence() -> None:
    a = load_batch("synthetic", batch_size=8, seed=11, kind="gaussian")
    b = synthetic_batch(8, 11, kind="gaussian")
    assert a.x.numpy().tobytes() == b.x.numpy().tobytes() and torch.equal(a.y, b.y)
    assert a.content_hash == b.content_hash
    assert synthetic_batch(8, 12).content_hash != a.content_hash
    balanced = synthetic_batch(30, 0, num_classes=10, balanced=True)
    assert torch.bincount(balanced.y, minlength=10).tolist() == [3] * 10


def test_synthetic_generator_fn() -> None:
    calls = []

    def ramp(rng: np.random.Generator, batch_size: int, shape: tuple[int, ...]) -> np.ndarray:
        calls.append((batch_size, shape))
        base = np.arange(batch_size, dtype=np.float64).reshape(-1, *([1] * len(shape)))
        return np.broadcast_to(base + rng.random(), (batch_size, *shape))  # read-only view

    x, y = synthetic_batch(4, 5, shape=(2, 3, 3), generator_fn=ramp)
    assert calls == [(4, (2, 3, 3))]
    assert x.dtype == torch.float32 and x.shape == (4, 2, 3, 3)
    offsets = x[:, 0, 0, 0] - torch.arange(4, dtype=torch.float32)
    assert torch.allclose(offsets, offsets[0].expand(4)) and 0 <= float(offsets[0]) < 1
    assert torch.equal(synthetic_batch(4, 5, shape=(2, 3, 3), generator_fn=ramp).x, x)
    assert load_batch("synthetic", batch_size=4, seed=5, shape=(2, 3, 3), generator_fn=ramp).content_hash == (
        Batch(x, y).content_hash
    )


def test_synthetic_errors() -> None:
    with pytest.raises(ValueError, match="unknown synthetic kind 'noise'"):
        synthetic_batch(4, 0, kind="noise")
    with pytest.raises(ValueError, match=r"returned shape \(4, 3\)"):
        synthetic_batch(4, 0, generator_fn=lambda rng, n, shape: np.zeros((n, 3)))
    with pytest.raises(ValueError, match="not both"):
        synthetic_batch(4, 0, kind="ones", generator_fn=lambda rng, n, shape: np.zeros((n, *shape)))
    with pytest.raises(ValueError, match="shape"):
        synthetic_batch(4, 0, shape=(3, 0, 2))
    with pytest.raises(ValueError, match="num_classes"):
        synthetic_batch(4, 0, num_classes=0)
    with pytest.raises(ValueError, match="divisible"):
        synthetic_batch(7, 0, num_classes=10, balanced=True)
