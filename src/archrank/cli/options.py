"""One command-line dialect for every ``archrank`` command: the shared options, parsers and resolvers.

Every command that needs a store, a space, data, a device, threads, workers, seeds or quiet output takes it
through these decorators, with the same name, syntax and default everywhere: ``--store`` (never ``--db``),
``--space``, ``--data KIND[:DIR]``, ``--device``, ``--threads``, ``--workers``, ``--seeds`` (``0-29`` or
``0,3,5``) and ``--quiet``. Bad values become one clear error line (a ``click.ClickException``), never a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click

from archrank.spaces import SearchSpace, get_space
from archrank.store import DEFAULT_PATH, Store, StoreError

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_SPACE = "nb201"
DATA_HELP = "cifar10[:DIR], cifar100[:DIR], imagenet16-120[:DIR], synthetic[:gaussian|ones] or auto."
NUM_CLASSES = {"cifar10": 10, "cifar100": 100, "imagenet16-120": 120}


def default_num_classes(space: SearchSpace, spec: str) -> int:
    """The classifier size a space is scored with: the data set's class count for a space whose benchmark is a
    32×32 CIFAR-style task (NB201 on CIFAR-100 has 100 classes), else the benchmark's own (NDS: 1000)."""
    kind = data_kind(spec)
    if tuple(space.input_shape) == (3, 32, 32) and kind in NUM_CLASSES:
        return NUM_CLASSES[kind]
    return int(space.num_classes)


def fail(message: str | BaseException) -> click.ClickException:
    """The one way a command reports bad input: one line, exit status 1. An exception gives its message (a
    ``KeyError``'s without the quotes ``str`` would add)."""
    if isinstance(message, KeyError) and message.args:
        message = message.args[0]
    return click.ClickException(str(message))


# --- parsers -----------------------------------------------------------------------------------------------
def parse_int_list(text: str, what: str = "index") -> list[int]:
    """``"1,5,10-12"`` -> [1, 5, 10, 11, 12]; an empty list, a reversed range or a non-number is refused."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, sep, hi = part.partition("-")
        try:
            first, last = (int(lo), int(hi)) if sep else (int(lo), int(lo))
        except ValueError:
            raise ValueError(f"bad {what} list item {part!r}: use numbers and ranges like 3,7,10-20") from None
        if last < first:
            raise ValueError(f"empty {what} range {part!r}: the end is below the start")
        out.extend(range(first, last + 1))
    if not out:
        raise ValueError(f"empty {what} list {text!r}: give numbers and ranges like 3,7,10-20")
    return out


def parse_names(text: str, what: str = "proxy") -> list[str]:
    """``"a, b,c"`` -> ["a", "b", "c"]; a list with no name is refused."""
    names = [part.strip() for part in text.split(",") if part.strip()]
    if not names:
        raise ValueError(f"empty {what} list {text!r}: give comma-separated names")
    return names


def resolve_space(name: str) -> SearchSpace:
    """The registered space ``name``, or one line listing the known ones."""
    try:
        return get_space(name)
    except KeyError as exc:
        raise fail(str(exc.args[0])) from None


def data_kind(spec: str) -> str:
    """The data kind of a ``--data`` value (``cifar10:/dir`` -> ``cifar10``; ``auto`` resolved)."""
    from archrank import config

    name = spec.partition(":")[0].lower()
    if name == "auto":
        return "cifar10" if config.data_root() is not None else "synthetic"
    return name


def load_batch(spec: str, batch_size: int, seed: int, input_shape: tuple[int, ...] | None = None) -> Any:
    """The :class:`archrank.data.Batch` of a ``--data`` value (see :data:`DATA_HELP`), or ``None`` for ``none``;
    ``auto`` is CIFAR-10 from the shared data when present, else Gaussian noise.

    ``input_shape`` (C, H, W) is the input a space's benchmark uses: synthetic inputs are drawn at that shape, and
    CIFAR images (32×32) are resized to it bilinearly when it differs (e.g. NDS ImageNet networks at 224×224,
    TransNAS-Bench-101 at 256×256). Other data sets keep their native size (NB201 on ImageNet16-120 is 16×16).
    A resized batch has its own content hash."""
    batch = _load_batch(spec, batch_size, seed, input_shape)
    if batch is None or input_shape is None or data_kind(spec) not in ("cifar10", "cifar100"):
        return batch
    if tuple(batch.x.shape[1:]) == tuple(input_shape):
        return batch
    import torch.nn.functional as F

    from archrank.data.batch import Batch

    if batch.x.shape[1] != input_shape[0]:
        raise ValueError(f"--data {spec} has {batch.x.shape[1]} channels; the space expects {input_shape[0]}")
    resized = F.interpolate(batch.x, size=tuple(input_shape[1:]), mode="bilinear", align_corners=False)
    return Batch(resized.contiguous(), batch.y)


def _load_batch(spec: str, batch_size: int, seed: int, input_shape: tuple[int, ...] | None) -> Any:
    from archrank import data

    if batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {batch_size}")
    name, _, arg = spec.partition(":")
    name = name.lower()
    if name == "none":
        return None
    if name == "auto":
        name, arg = (data_kind("auto"), "") if data_kind("auto") == "cifar10" else ("synthetic", "gaussian")
    if name == "synthetic":
        shape = {} if input_shape is None else {"shape": tuple(input_shape)}
        return data.load_batch("synthetic", batch_size=batch_size, seed=seed, kind=arg or "gaussian", **shape)
    return data.load_batch(name, root=arg or None, batch_size=batch_size, seed=seed)


def load_data(
    spec: str, batch_size: int, seed: int, input_shape: tuple[int, ...] | None = None
) -> tuple[tuple[Any, Any], str]:
    """Batch tensors ``(x, y)`` and the batch's content hash from a ``--data`` value (see :func:`load_batch`)."""
    batch = load_batch(spec, batch_size, seed, input_shape)
    if batch is None:
        raise ValueError("this command needs data: --data none is not allowed here")
    return (batch.x, batch.y), batch.content_hash


def setup_torch(threads: int | None, device: str) -> None:
    """Apply ``--threads`` to this process and check ``--device`` (one error line when unknown or absent)."""
    import torch

    from archrank.runner import validate_device

    try:
        validate_device(device)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if threads:
        torch.set_num_threads(threads)


def load_truth_option(spec: str, space: SearchSpace) -> Any:
    """The ground truth of a ``--truth`` value for ``space`` (see :func:`archrank.bench.truth.load_truth`)."""
    from archrank.bench.truth import load_truth

    try:
        return load_truth(spec, space)
    except (FileNotFoundError, ValueError, KeyError, ImportError) as exc:
        raise fail(f"ground truth {spec!r}: {exc}") from None


@contextmanager
def open_store(path: str, *, create: bool = True) -> Iterator[Store]:
    """The store at ``path``; a missing (when not ``create``), foreign or corrupt file is one error line."""
    try:
        store = Store(path, create=create)
    except StoreError as exc:
        raise fail(str(exc)) from None
    try:
        yield store
    except StoreError as exc:
        raise fail(str(exc)) from None
    finally:
        store.close()


# --- options -----------------------------------------------------------------------------------------------
def _apply(func: F, options: list[Callable[[F], F]]) -> F:
    for option in reversed(options):
        func = option(func)
    return func


def store_option(func: F) -> F:
    return click.option("--store", "store_path", default=DEFAULT_PATH, show_default=True,
                        help="SQLite results file.")(func)


def space_option(func: F) -> F:
    return click.option("--space", "space_name", default=DEFAULT_SPACE, show_default=True,
                        help="Search space name (see `archrank spaces`).")(func)


def data_option(default: str = "auto") -> Callable[[F], F]:
    return click.option("--data", "data_spec", default=default, show_default=True, help=DATA_HELP)


def device_option(func: F) -> F:
    return click.option("--device", default="cpu", show_default=True, help="cpu, cuda or cuda:N.")(func)


def threads_option(func: F) -> F:
    return click.option("--threads", type=click.IntRange(min=1), default=None,
                        help="torch threads of this process (default: torch's choice; worker processes use one "
                        "each).")(func)


def workers_option(func: F) -> F:
    return click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
                        help="Parallel worker processes.")(func)


def seeds_option(default: str = "0", help: str = "Seeds, e.g. 0-29 or 0,3,5.") -> Callable[[F], F]:
    return click.option("--seeds", "seeds_spec", default=default, show_default=True, help=help)


def quiet_option(func: F) -> F:
    return click.option("--quiet", is_flag=True, help="No progress bar.")(func)


def selection_filters(func: F) -> F:
    """``--seed``/``--data``/``--batch``/``--device``/``--latest``: which stored results a reader uses."""
    return _apply(func, [
        click.option("--seed", type=int, default=None, help="Only results of this seed."),
        click.option("--data", "data_spec", default=None, help="Only results on this data kind (e.g. cifar10)."),
        click.option("--batch", "batch_hash", default=None, help="Only results on this batch (its content hash)."),
        click.option("--device", default=None, help="Only results computed on this device."),
        click.option("--latest", is_flag=True,
                     help="Where results of several seeds/data/devices/configs match, take the newest of each."),
    ])


def filters_from(opts: dict[str, Any]) -> dict[str, Any]:
    """:meth:`Store.score_table` keyword arguments from :func:`selection_filters`' values."""
    spec = opts.get("data_spec")
    return {"seed": opts.get("seed"), "data": None if spec is None else data_kind(spec),  # auto: what it is here
            "batch": opts.get("batch_hash"), "device": opts.get("device"), "latest": bool(opts.get("latest"))}


def parse_seeds(text: str) -> list[int]:
    """``--seeds`` (``0-29`` or ``0,3,5-7``) -> the seeds in order, without repeats; one error line when bad."""
    try:
        return list(dict.fromkeys(parse_int_list(text, "seed")))
    except ValueError as exc:
        raise fail(str(exc)) from None


def parse_shard(text: str) -> tuple[int, int]:
    """``--shard i/n`` -> ``(i, n)`` with ``0 <= i < n``; one error line when bad."""
    index, _, count = text.partition("/")
    try:
        shard, shards = int(index), int(count)
    except ValueError:
        raise fail(f"--shard takes I/N (e.g. 0/2), not {text!r}") from None
    if not 0 <= shard < shards:
        raise fail(f"--shard {text}: I must be in 0..N-1")
    return shard, shards


def checked_path(path: Path, what: str = "output") -> Path:
    """``path`` when its folder exists, else one error line."""
    if not path.resolve().parent.is_dir():
        raise fail(f"cannot write {what} {path}: folder {path.resolve().parent} does not exist")
    return path
