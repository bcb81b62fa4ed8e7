"""CIFAR-10 and CIFAR-100 from the python-pickle release (``cifar-10-batches-py``, ``cifar-100-python``).

Each file is a pickled dict whose ``data`` is uint8 N×3072 (three 32×32 planes, R then G then B) and
whose labels are a list of N ints. The number of images per file is read from the file, never assumed,
so subsets of the release work too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from archrank.config import data_root
from archrank.data._pickle import image_rows, label_vector, read_pickle_dict
from archrank.data.batch import Batch, check_split, draw_indices, make_batch, to_float_images

IMAGE_SHAPE = (3, 32, 32)
_WIDTH = 3 * 32 * 32


@dataclass(frozen=True)
class CifarSpec:
    """Where a CIFAR variant lives in its release and how to read and normalise it."""

    folder: str
    files: dict[str, tuple[str, ...]]
    label_key: str
    num_classes: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


CIFAR_SPECS: dict[str, CifarSpec] = {
    "cifar10": CifarSpec(
        folder="cifar-10-batches-py",
        files={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
        label_key="labels",
        num_classes=10,
        mean=(0.4914, 0.4822, 0.4465),
        std=(0.2470, 0.2435, 0.2616),
    ),
    "cifar100": CifarSpec(
        folder="cifar-100-python",
        files={"train": ("train",), "test": ("test",)},
        label_key="fine_labels",
        num_classes=100,
        mean=(0.5071, 0.4865, 0.4409),
        std=(0.2673, 0.2564, 0.2762),
    ),
}


def _spec(name: str) -> CifarSpec:
    try:
        return CIFAR_SPECS[name]
    except KeyError:
        known = ", ".join(CIFAR_SPECS)
        raise ValueError(f"unknown CIFAR variant {name!r}; expected one of {known}") from None


def cifar_folder(
    root: str | os.PathLike[str] | None, name: str = "cifar10", split: str | None = None
) -> Path:
    """The release folder for ``name``: ``root/<folder>`` or ``root`` itself when it is that folder.

    ``root=None`` uses :func:`archrank.config.data_root`. FileNotFoundError when ``root`` is missing or
    when the folder lacks the files of ``split`` (all splits when ``None``), i.e. a wrong layout.
    """
    spec = _spec(name)
    base = data_root(required=True) if root is None else Path(root).expanduser()
    assert base is not None
    if not base.is_dir():
        raise FileNotFoundError(f"{name} data folder not found: {base}")
    folder = base / spec.folder if (base / spec.folder).is_dir() else base
    splits = spec.files if split is None else [check_split(split)]
    expected = [f for s in splits for f in spec.files[s]]
    missing = [f for f in expected if not (folder / f).is_file()]
    if len(missing) == len(expected):
        raise FileNotFoundError(
            f"no {name} data in {folder}: expected {spec.folder}/ with {', '.join(expected)}"
        )
    if missing:
        raise FileNotFoundError(f"incomplete {name} folder {folder}: missing {', '.join(missing)}")
    return folder


def load_cifar(
    root: str | os.PathLike[str] | None, name: str = "cifar10", split: str = "train"
) -> tuple[np.ndarray, np.ndarray]:
    """Whole ``split`` of CIFAR ``name`` as (uint8 images N×3×32×32, int64 labels N), read fresh each call.

    ``name`` is ``"cifar10"`` or ``"cifar100"`` (fine labels); ``split`` is ``"train"`` or ``"test"``.
    Images keep the file order (train files 1..5 concatenated for CIFAR-10). Nothing is cached.
    """
    spec = _spec(name)
    folder = cifar_folder(root, name, split)
    images, labels = [], []
    for filename in spec.files[split]:
        path = folder / filename
        record = read_pickle_dict(path)
        rows = image_rows(record, path, _WIDTH)
        labels.append(label_vector(record, spec.label_key, path, rows.shape[0], 0, spec.num_classes - 1))
        images.append(rows.reshape(-1, *IMAGE_SHAPE))
    return np.concatenate(images), np.concatenate(labels)


def cifar_batch(
    root: str | os.PathLike[str] | None,
    name: str,
    batch_size: int,
    seed: int,
    *,
    split: str = "train",
    balanced: bool = False,
    normalize: bool = True,
) -> Batch:
    """Seeded batch from CIFAR ``name``: normalised with the dataset's channel mean/std, or in [0, 1]."""
    spec = _spec(name)
    folder = cifar_folder(root, name, split)
    images, labels = load_cifar(folder, name, split)
    source = f"{name} {split} split at {folder}"
    index = draw_indices(
        labels, batch_size, seed, balanced=balanced, num_classes=spec.num_classes, source=source
    )
    mean, std = (spec.mean, spec.std) if normalize else (None, None)
    return make_batch(to_float_images(images[index], mean, std), labels[index])
