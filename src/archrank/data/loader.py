"""``load_batch``: one entry point for every dataset's fixed, seeded batch.

The same ``(name, root, batch_size, seed, options)`` always gives bit-identical tensors, so a proxy
score can be recorded with the :func:`~archrank.data.batch.batch_hash` of the batch it was computed on.
"""

from __future__ import annotations

import os
from typing import Any

from archrank.data.batch import Batch, check_batch_size, check_split
from archrank.data.cifar import cifar_batch
from archrank.data.imagenet16 import SPLITS as IMAGENET16_SPLITS
from archrank.data.imagenet16 import imagenet16_batch
from archrank.data.synthetic import synthetic_batch

DATASETS = ("cifar10", "cifar100", "imagenet16-120", "synthetic")
_SYNTHETIC_OPTIONS = frozenset({"kind", "shape", "num_classes", "generator_fn"})


def canonical_name(name: str) -> str:
    """Dataset key for ``name``, case-insensitive (``"ImageNet16-120"`` works); ValueError if unknown."""
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known datasets: {', '.join(DATASETS)}")
    return key


def load_batch(
    name: str,
    root: str | os.PathLike[str] | None = None,
    batch_size: int = 64,
    seed: int = 0,
    *,
    split: str = "train",
    balanced: bool = False,
    normalize: bool = True,
    **kwargs: Any,
) -> Batch:
    """A fixed batch of ``batch_size`` samples of dataset ``name``, drawn with ``default_rng(seed)``.

    ``name`` is one of :data:`DATASETS`. ``root`` is the data folder (``None``: the shared data root,
    not needed for ``"synthetic"``). ``split`` is ``"train"`` or ``"test"`` (ImageNet16-120's test split
    is its ``val_data``). ``balanced`` draws ``batch_size / num_classes`` samples per class.
    ``normalize`` applies the dataset's per-channel mean/std; otherwise pixels are floats in [0, 1].
    For ``"synthetic"`` the keyword options ``kind``, ``shape``, ``num_classes`` and ``generator_fn``
    of :func:`~archrank.data.synthetic.synthetic_batch` apply, and ``root``, ``split`` and
    ``normalize`` have no effect. Returns a :class:`Batch`, so ``x, y = load_batch(...)`` works.
    """
    key = canonical_name(name)
    batch_size = check_batch_size(batch_size)
    if key == "synthetic":
        unknown = sorted(set(kwargs) - _SYNTHETIC_OPTIONS)
        if unknown:
            raise TypeError(f"unexpected options for synthetic data: {', '.join(unknown)}")
        check_split(split)
        return synthetic_batch(batch_size, seed, balanced=balanced, **kwargs)
    if kwargs:
        raise TypeError(f"unexpected options for {key}: {', '.join(sorted(kwargs))}")
    if key == "imagenet16-120":
        check_split(split, IMAGENET16_SPLITS)
        return imagenet16_batch(root, batch_size, seed, split=split, balanced=balanced, normalize=normalize)
    check_split(split)
    return cifar_batch(root, key, batch_size, seed, split=split, balanced=balanced, normalize=normalize)
