"""The batch type, its content hash, and the seeded sampling and normalisation every loader shares.

Zero-cost proxies are scored on one fixed batch; to compare architectures fairly each score is
recorded together with :func:`batch_hash` of the batch it saw. Everything here is a pure function
of its arguments: indices come from a local ``numpy.random.default_rng(seed)``, never global state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

SPLITS = ("train", "test")


class Batch(NamedTuple):
    """A fixed data batch: ``x`` float32 N×C×H×W, ``y`` int64 N. Unpacks as ``x, y = batch``."""

    x: torch.Tensor
    y: torch.Tensor

    @property
    def content_hash(self) -> str:
        """:func:`batch_hash` of this batch, to record which batch a score was computed on."""
        return batch_hash(self.x, self.y)


def _canonical_bytes(name: str, value: torch.Tensor | np.ndarray) -> tuple[bytes, bytes]:
    """Header (name, dtype, shape) and little-endian C-order raw bytes of a tensor or array."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu().contiguous()
        dtype = str(tensor.dtype).removeprefix("torch.")
        shape = tuple(tensor.shape)
        payload = tensor.reshape(-1).view(torch.uint8).numpy().tobytes()
    elif isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
        dtype = array.dtype.name
        shape = tuple(array.shape)
        payload = array.tobytes()
    else:
        raise TypeError(f"batch_hash expects torch tensors or numpy arrays, got {type(value).__name__}")
    header = f"{name}:{dtype}:{','.join(str(d) for d in shape)};".encode()
    return header, payload


def batch_hash(x: torch.Tensor | np.ndarray, y: torch.Tensor | np.ndarray) -> str:
    """First 16 hex digits of sha256 over the shape, dtype and raw bytes of ``x`` and ``y``.

    Equal tensors give equal hashes on any machine (bytes are hashed little-endian); a torch tensor and
    the numpy array with the same dtype, shape and values hash the same.
    """
    digest = hashlib.sha256()
    for name, value in (("x", x), ("y", y)):
        header, payload = _canonical_bytes(name, value)
        digest.update(header)
        digest.update(payload)
    return digest.hexdigest()[:16]


def check_batch_size(batch_size: int) -> int:
    """``batch_size`` as an int, ValueError unless it is a positive integer."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    return int(batch_size)


def check_split(split: str, allowed: Sequence[str] = SPLITS) -> str:
    """``split`` unchanged, ValueError listing ``allowed`` otherwise."""
    if split not in allowed:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(allowed)}")
    return split


def balanced_labels(rng: np.random.Generator, batch_size: int, num_classes: int) -> np.ndarray:
    """``batch_size / num_classes`` copies of each class label in a seeded random order."""
    if batch_size % num_classes:
        raise ValueError(
            f"balanced batch needs batch_size divisible by num_classes, got {batch_size} and {num_classes}"
        )
    return rng.permutation(np.repeat(np.arange(num_classes, dtype=np.int64), batch_size // num_classes))


def draw_indices(
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    *,
    balanced: bool,
    num_classes: int,
    source: str,
) -> np.ndarray:
    """Seeded indices of ``batch_size`` distinct samples from ``labels`` (``source`` names it in errors).

    Plain sampling draws without replacement from the whole split. ``balanced`` draws
    ``batch_size / num_classes`` samples of every class (so proxies that use labels see each class
    equally) and shuffles them together.
    """
    rng = np.random.default_rng(seed)
    total = int(labels.shape[0])
    if not balanced:
        if batch_size > total:
            raise ValueError(f"batch_size {batch_size} is larger than the split ({total} images) in {source}")
        return rng.choice(total, size=batch_size, replace=False)
    if batch_size % num_classes:
        raise ValueError(
            f"balanced batch needs batch_size divisible by {num_classes} classes, got {batch_size}"
        )
    per_class = batch_size // num_classes
    counts = np.bincount(labels, minlength=num_classes)
    short = np.flatnonzero(counts[:num_classes] < per_class)
    if short.size:
        raise ValueError(
            f"balanced batch needs {per_class} images per class but class {int(short[0])} has "
            f"{int(counts[short[0]])} in {source}"
        )
    # One vectorised pass per class (at most a few hundred), never per image.
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=per_class, replace=False) for c in range(num_classes)
    ]
    return rng.permutation(np.concatenate(chosen))


def to_float_images(
    images: np.ndarray, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
) -> np.ndarray:
    """uint8 N×C×H×W images as float32 in [0, 1], then per-channel ``(v - mean) / std`` when given.

    Computed in float32 with fixed operation order, so the result is bit-identical run to run.
    """
    out = images.astype(np.float32) / np.float32(255.0)
    if mean is not None and std is not None:
        channel_mean = np.asarray(mean, dtype=np.float32).reshape(1, -1, 1, 1)
        channel_std = np.asarray(std, dtype=np.float32).reshape(1, -1, 1, 1)
        out -= channel_mean
        out /= channel_std
    return out


def make_batch(x: np.ndarray, y: np.ndarray) -> Batch:
    """Wrap float32 images and int64 labels as a :class:`Batch` of contiguous CPU tensors."""
    return Batch(
        torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
        torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)),
    )
