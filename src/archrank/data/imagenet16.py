"""ImageNet16-120 (as used by NAS-Bench-201) from the published downsampled-ImageNet pickles.

The release is a folder with ``train_data_batch_1`` .. ``train_data_batch_10`` and ``val_data``; each
is a pickled dict with ``data`` uint8 N×768 (three 16×16 planes, CHW) and 1-based ``labels`` in
1..1000. ImageNet16-120 keeps the images labelled 1..120 and maps them to 0..119, as xautodl does.
The validation file serves as the ``"test"`` split (``"val"`` is accepted as an alias).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from archrank.config import data_root
from archrank.data._pickle import image_rows, label_vector, read_pickle_dict
from archrank.data.batch import Batch, check_split, draw_indices, make_batch, to_float_images

IMAGE_SHAPE = (3, 16, 16)
NUM_CLASSES = 120
MEAN = (0.481, 0.458, 0.408)
STD = (0.247, 0.240, 0.258)
SPLITS = ("train", "test", "val")
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": tuple(f"train_data_batch_{i}" for i in range(1, 11)),
    "test": ("val_data",),
    "val": ("val_data",),
}
# Sub-folder names the release is commonly unpacked into; ``root`` itself is tried last.
_SUBFOLDERS = ("ImageNet16", "imagenet16", "ImageNet16-120")
_WIDTH = 3 * 16 * 16
_ORIGINAL_CLASSES = 1000


def imagenet16_folder(root: str | os.PathLike[str] | None, split: str = "train") -> Path:
    """Folder holding the ImageNet16 files of ``split``: ``root/ImageNet16`` (or similar) or ``root`` itself.

    ``root=None`` uses :func:`archrank.config.data_root`. FileNotFoundError when ``root`` is missing
    or none of the candidate folders holds the split's files.
    """
    check_split(split, SPLITS)
    base = data_root(required=True) if root is None else Path(root).expanduser()
    assert base is not None
    if not base.is_dir():
        raise FileNotFoundError(f"ImageNet16 data folder not found: {base}")
    expected = SPLIT_FILES[split]
    folder = next((base / sub for sub in _SUBFOLDERS if (base / sub).is_dir()), base)
    missing = [f for f in expected if not (folder / f).is_file()]
    if len(missing) == len(expected):
        raise FileNotFoundError(f"no ImageNet16 {split} data in {folder}: expected {', '.join(expected)}")
    if missing:
        raise FileNotFoundError(f"incomplete ImageNet16 folder {folder}: missing {', '.join(missing)}")
    return folder


def load_imagenet16(
    root: str | os.PathLike[str] | None, split: str = "train", num_classes: int = NUM_CLASSES
) -> tuple[np.ndarray, np.ndarray]:
    """Whole ``split`` as (uint8 images N×3×16×16, int64 labels 0..num_classes-1), read fresh each call.

    Only images whose 1-based label is at most ``num_classes`` are kept (filtered file by file, so the
    full 1000-class training set is never held in memory at once); file order is preserved.
    """
    if not 1 <= num_classes <= _ORIGINAL_CLASSES:
        raise ValueError(f"num_classes must be in 1..{_ORIGINAL_CLASSES}, got {num_classes}")
    folder = imagenet16_folder(root, split)
    images, labels = [], []
    for filename in SPLIT_FILES[split]:
        path = folder / filename
        record = read_pickle_dict(path)
        rows = image_rows(record, path, _WIDTH)
        file_labels = label_vector(record, "labels", path, rows.shape[0], 1, _ORIGINAL_CLASSES)
        keep = file_labels <= num_classes
        images.append(rows[keep].reshape(-1, *IMAGE_SHAPE))
        labels.append(file_labels[keep] - 1)
    return np.concatenate(images), np.concatenate(labels)


def imagenet16_batch(
    root: str | os.PathLike[str] | None,
    batch_size: int,
    seed: int,
    *,
    split: str = "train",
    balanced: bool = False,
    normalize: bool = True,
) -> Batch:
    """Seeded ImageNet16-120 batch, normalised with the xautodl channel mean/std or left in [0, 1]."""
    folder = imagenet16_folder(root, split)
    images, labels = load_imagenet16(folder, split)
    source = f"imagenet16-120 {split} split at {folder}"
    index = draw_indices(labels, batch_size, seed, balanced=balanced, num_classes=NUM_CLASSES, source=source)
    mean, std = (MEAN, STD) if normalize else (None, None)
    return make_batch(to_float_images(images[index], mean, std), labels[index])
