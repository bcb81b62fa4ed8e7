"""Fixed, seeded data batches for scoring architectures, identified by a content hash.

``x, y = archrank.data.load_batch("cifar10", root, batch_size=64, seed=0)`` gives the same bit-identical
batch every time; :func:`batch_hash` (or ``Batch.content_hash``) records which batch a score used.
:func:`load_cifar` and :func:`load_imagenet16` return whole splits as uint8 arrays for training, and
:func:`synthetic_batch` makes data-free batches, optionally from a caller's generator function.
"""

from __future__ import annotations

from archrank.data.batch import Batch, batch_hash
from archrank.data.cifar import load_cifar
from archrank.data.imagenet16 import load_imagenet16
from archrank.data.loader import DATASETS, load_batch
from archrank.data.synthetic import synthetic_batch

__all__ = [
    "DATASETS",
    "Batch",
    "batch_hash",
    "load_batch",
    "load_cifar",
    "load_imagenet16",
    "synthetic_batch",
]
