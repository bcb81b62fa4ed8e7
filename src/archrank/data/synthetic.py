"""Seeded synthetic batches: data-free inputs for proxies and tests, and a hook for custom generators.

Labels are drawn first from ``numpy.random.default_rng(seed)``, then the inputs, so a given seed gives
the same labels whatever the input kind. A caller-supplied ``generator_fn(rng, batch_size, shape)``
makes its own inputs from that same generator (e.g. Eproxy's targets), without any global registry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from archrank.data.batch import Batch, balanced_labels, check_batch_size, make_batch

GeneratorFn = Callable[[np.random.Generator, int, tuple[int, ...]], np.ndarray]

SYNTHETIC_KINDS = ("gaussian", "ones", "uniform")
DEFAULT_SHAPE = (3, 32, 32)


def _builtin_inputs(kind: str, rng: np.random.Generator, size: tuple[int, ...]) -> np.ndarray:
    """Inputs of a built-in ``kind``: standard normal, all ones, or uniform in [0, 1)."""
    if kind == "gaussian":
        return rng.standard_normal(size, dtype=np.float32)
    if kind == "ones":
        return np.ones(size, dtype=np.float32)
    if kind == "uniform":
        return rng.random(size, dtype=np.float32)
    raise ValueError(f"unknown synthetic kind {kind!r}; expected one of {', '.join(SYNTHETIC_KINDS)}")


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    try:
        dims = tuple(int(d) for d in shape)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be a sequence of positive integers, got {shape!r}") from None
    if not dims or any(d < 1 for d in dims) or dims != tuple(shape):
        raise ValueError(f"shape must be a sequence of positive integers, got {shape!r}")
    return dims


def synthetic_batch(
    batch_size: int,
    seed: int = 0,
    kind: str | None = None,
    shape: Sequence[int] = DEFAULT_SHAPE,
    num_classes: int = 10,
    generator_fn: GeneratorFn | None = None,
    *,
    balanced: bool = False,
) -> Batch:
    """A seeded batch of ``batch_size`` inputs of ``shape`` with labels in ``0..num_classes-1``.

    ``kind`` is ``"gaussian"`` (default), ``"ones"`` or ``"uniform"`` ([0, 1)). Alternatively pass
    ``generator_fn(rng, batch_size, shape)`` returning an array of shape ``(batch_size, *shape)``; it
    replaces ``kind`` (giving both is an error). Labels are uniform, or exactly
    ``batch_size / num_classes`` per class when ``balanced``.
    """
    batch_size = check_batch_size(batch_size)
    dims = _check_shape(shape)
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if generator_fn is not None and kind is not None:
        raise ValueError(f"give either kind ({kind!r}) or generator_fn, not both")
    rng = np.random.default_rng(seed)
    if balanced:
        labels = balanced_labels(rng, batch_size, int(num_classes))
    else:
        labels = rng.integers(0, num_classes, size=batch_size, dtype=np.int64)
    size = (batch_size, *dims)
    if generator_fn is None:
        inputs = _builtin_inputs("gaussian" if kind is None else kind, rng, size)
    else:
        produced = np.asarray(generator_fn(rng, batch_size, dims))
        if produced.shape != size:
            raise ValueError(f"generator_fn returned shape {produced.shape}, expected {size}")
        if not (np.issubdtype(produced.dtype, np.floating) or np.issubdtype(produced.dtype, np.integer)):
            raise ValueError(f"generator_fn returned dtype {produced.dtype}, expected a real numeric array")
        # A private float32 copy: the caller's array may be read-only or reused.
        inputs = np.array(produced, dtype=np.float32, order="C")
    return make_batch(inputs, labels)
