"""Training data for reduced-training proxies: whole splits held as tensors, reduced once, augmented in batches.

EcoNAS (Zhou et al., CVPR 2020) reduces the input resolution (``r``) and the training-sample ratio (``s``). Here the
whole training and test splits are loaded once as uint8 tensors; the resolution reduction is one antialiased
bilinear ``F.interpolate`` of each split up front (the test split is evaluated at the same reduced resolution as
training); the sample reduction is a seeded class-balanced subset; the usual augmentation (random crop with a
4-pixel zero padding scaled to the resolution, horizontal flip) is applied to each mini-batch with tensor indexing,
never a Python loop over samples.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from archrank.econas.setting import Setting

CIFAR_PADDING = 4
CIFAR_SIDE = 32
SAVED_FORMAT = "archrank-econas-data-1"


@dataclass(frozen=True)
class RawData:
    """A classification data set held in memory: uint8 images N×C×H×W and int64 labels for train and test."""

    name: str
    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    reduced_from: tuple[str, int] | None = None  # (key, side) of the data set this copy was resized from

    @cached_property
    def key(self) -> str:
        """Identifies the data in the store: name, split sizes and a hash of the labels and pixels (of the data set
        a copy reduced in advance came from, so its trainings share the original's results)."""
        if self.reduced_from is not None:
            return self.reduced_from[0]
        digest = hashlib.sha256()
        for part in (self.train_images, self.train_labels, self.test_images, self.test_labels):
            digest.update(part.contiguous().numpy().tobytes())
        return f"{self.name}-{len(self.train_labels)}-{len(self.test_labels)}-{digest.hexdigest()[:8]}"

    @property
    def side(self) -> int:
        """The side of the images as the settings see it: the original side for a copy reduced in advance."""
        return self.reduced_from[1] if self.reduced_from is not None else int(self.train_images.shape[-1])

    @classmethod
    def from_arrays(
        cls,
        train: tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor],
        test: tuple[np.ndarray | torch.Tensor, np.ndarray | torch.Tensor],
        name: str = "custom",
        num_classes: int | None = None,
        mean: tuple[float, ...] | None = None,
        std: tuple[float, ...] | None = None,
    ) -> RawData:
        """Wrap uint8 image arrays (N×C×H×W) and integer labels; channel mean/std default to the train split's."""
        tx, ty = (torch.as_tensor(np.asarray(v)) for v in train)
        vx, vy = (torch.as_tensor(np.asarray(v)) for v in test)
        if tx.dtype != torch.uint8 or vx.dtype != torch.uint8 or tx.ndim != 4 or vx.ndim != 4:
            raise ValueError("images must be uint8 arrays of shape N×C×H×W")
        if len(tx) != len(ty) or len(vx) != len(vy):
            raise ValueError("each split needs one label per image")
        ty, vy = ty.long(), vy.long()
        classes = int(num_classes if num_classes is not None else int(max(ty.max(), vy.max())) + 1)
        if mean is None or std is None:
            pixels = tx.float().div(255.0)
            mean = tuple(float(v) for v in pixels.mean(dim=(0, 2, 3)))
            std = tuple(max(float(v), 1e-3) for v in pixels.std(dim=(0, 2, 3)))
        return cls(name, tx.contiguous(), ty, vx.contiguous(), vy, classes, tuple(mean), tuple(std))


def load_data(data: RawData | tuple[str, str | os.PathLike[str] | None] | str) -> RawData:
    """Data from a :class:`RawData`, a ``(name, root)`` pair, ``"name[:root]"`` (``cifar10``, ``cifar100``), or
    the path of a file written by :func:`save_data` (``.npz``).

    ``root=None`` uses :func:`archrank.config.data_root` (the shared data: here a 5085-image CIFAR-10 training
    subset and 1017 test images).
    """
    if isinstance(data, RawData):
        return data
    if isinstance(data, str) and data.endswith(".npz"):
        return load_saved_data(data)
    if isinstance(data, str):
        name, _, root_text = data.partition(":")
        root: str | os.PathLike[str] | None = root_text or None
    else:
        name, root = data
    from archrank.data.cifar import CIFAR_SPECS, load_cifar

    name = name.lower()
    if name not in CIFAR_SPECS:
        raise ValueError(f"unknown data set {name!r} for reduced training; expected one of {', '.join(CIFAR_SPECS)}")
    spec = CIFAR_SPECS[name]
    train = load_cifar(root, name, "train")
    test = load_cifar(root, name, "test")
    return RawData.from_arrays(train, test, name=name, num_classes=spec.num_classes, mean=spec.mean, std=spec.std)


def reduce_in_advance(raw: RawData, side: int) -> RawData:
    """A copy of ``raw`` with both splits resized once to ``side``×``side`` (float32, exactly as :func:`prepare`
    resizes them), for carrying a data set to another machine (e.g. a GPU machine) at a fraction of its size.

    Trainings from the copy at that resolution are identical to trainings from ``raw`` (every sample reduction
    and the augmentation act on the resized images, as :func:`prepare` does) and are stored under ``raw``'s key.
    Settings of another resolution are refused by :func:`prepare`.
    """
    if raw.reduced_from is not None:
        raise ValueError(f"{raw.name} data was already reduced in advance; reduce the original data set")
    return RawData(
        raw.name, resize(raw.train_images, side), raw.train_labels, resize(raw.test_images, side), raw.test_labels,
        raw.num_classes, raw.mean, raw.std, reduced_from=(raw.key, raw.side),
    )


def validation_split(raw: RawData, fraction: float = 0.1, seed: int = 0) -> RawData:
    """``raw`` with a seeded, class-balanced ``fraction`` of its *training* images held out as the split trainings
    are measured on, and the rest as the training split; the test images are left out entirely.

    A search that selects architectures by reduced-training accuracy trains on this copy, so it never selects on
    the test images (NAS-Bench-201's protocol likewise searches on a validation split of the training set). The
    copy is named ``<name>-valid``; its key (content hash) differs from ``raw``'s, so its trainings are stored apart.
    """
    if raw.reduced_from is not None:
        raise ValueError(f"{raw.name} data was reduced in advance; split the original data set, then reduce it")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the held-out fraction must be in (0, 1), got {fraction}")
    held = balanced_subset(raw.train_labels, fraction, seed, raw.num_classes)
    keep = torch.ones(len(raw.train_labels), dtype=torch.bool)
    keep[held] = False
    return RawData(
        f"{raw.name}-valid", raw.train_images[keep].contiguous(), raw.train_labels[keep],
        raw.train_images[held].contiguous(), raw.train_labels[held], raw.num_classes, raw.mean, raw.std,
    )


def save_data(raw: RawData, path: str | os.PathLike[str]) -> Path:
    """Write ``raw`` (typically from :func:`reduce_in_advance`) to one compressed ``.npz`` file that
    :func:`load_data` reads back exactly, key included."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"data files end in .npz, not {path.name!r}")
    meta = {"format": SAVED_FORMAT, "name": raw.name, "num_classes": raw.num_classes, "mean": list(raw.mean),
            "std": list(raw.std), "key": raw.key, "side": raw.side}
    np.savez_compressed(
        path, meta=np.array(json.dumps(meta)), train_images=raw.train_images.numpy(),
        train_labels=raw.train_labels.numpy(), test_images=raw.test_images.numpy(), test_labels=raw.test_labels.numpy(),
    )
    return path


def load_saved_data(path: str | os.PathLike[str]) -> RawData:
    """The data set in a file written by :func:`save_data`; ValueError with the reason for anything else."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            arrays = {name: torch.from_numpy(archive[name].copy())
                      for name in ("train_images", "train_labels", "test_images", "test_labels")}
    except FileNotFoundError:
        raise ValueError(f"no data file at {path}") from None
    except (OSError, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} is not an archrank data file ({exc})") from None
    if meta.get("format") != SAVED_FORMAT:
        raise ValueError(f"{path} is not an archrank data file of format {SAVED_FORMAT}")
    images = arrays["train_images"]
    reduced = None if images.dtype == torch.uint8 and images.shape[-1] == meta["side"] else (meta["key"], meta["side"])
    raw = RawData(meta["name"], images, arrays["train_labels"], arrays["test_images"], arrays["test_labels"],
                  int(meta["num_classes"]), tuple(meta["mean"]), tuple(meta["std"]), reduced_from=reduced)
    if reduced is None and raw.key != meta["key"]:
        raise ValueError(f"{path}: the pixels do not match the key recorded with them ({meta['key']})")
    return raw


def balanced_subset(labels: torch.Tensor, fraction: float, seed: int, num_classes: int) -> torch.Tensor:
    """Seeded indices of a class-balanced subset holding ``fraction`` of the samples (all of them when 1).

    Every class contributes ``floor(fraction * N / num_classes)`` samples (at least one), drawn without replacement;
    a class with fewer samples contributes all it has. Indices come back sorted.
    """
    total = int(labels.shape[0])
    if fraction >= 1.0:
        return torch.arange(total)
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"sample fraction must be in (0, 1], got {fraction}")
    per_class = max(1, int(fraction * total / num_classes))
    rng = np.random.default_rng(seed)
    array = labels.numpy()
    chosen = []
    for cls in range(num_classes):  # one vectorised draw per class, never per sample
        members = np.flatnonzero(array == cls)
        take = min(per_class, members.size)
        if take:
            chosen.append(rng.choice(members, size=take, replace=False))
    return torch.from_numpy(np.sort(np.concatenate(chosen))).long()


def resize(images: torch.Tensor, side: int) -> torch.Tensor:
    """uint8 or float images as float32 in [0, 1] at ``side``×``side`` (antialiased bilinear when shrinking)."""
    x = images.float().div(255.0) if images.dtype == torch.uint8 else images.float()
    if x.shape[-1] != side or x.shape[-2] != side:
        x = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False).clamp_(0, 1)
    return x.contiguous()


@dataclass(frozen=True)
class TrainData:
    """The reduced training and test tensors of one (data, resolution, sample fraction, subset seed)."""

    train_x: torch.Tensor  # float32 in [0, 1], N×C×h×w, un-normalised (padding is black, like torchvision)
    train_y: torch.Tensor
    test_x: torch.Tensor  # float32, normalised
    test_y: torch.Tensor
    mean: torch.Tensor  # 1×C×1×1
    std: torch.Tensor
    num_classes: int
    side: int
    padding: int
    key: str
    reduction: tuple[int, int]  # (resolution divisor, sample exponent s) it was prepared for

    def to(self, device: torch.device | str) -> TrainData:
        """The same data with every tensor on ``device``."""
        tensors = ("train_x", "train_y", "test_x", "test_y", "mean", "std")
        moved = {name: getattr(self, name).to(device) for name in tensors}
        return TrainData(
            **moved, num_classes=self.num_classes, side=self.side, padding=self.padding, key=self.key,
            reduction=self.reduction,
        )


def prepare(raw: RawData, setting: Setting, seed: int = 0) -> TrainData:
    """Reduce ``raw`` to ``setting``'s resolution and sample ratio (the subset is drawn with ``seed``)."""
    side = setting.resolution(raw.side)
    if raw.reduced_from is not None and raw.train_images.shape[-1] != side:
        stored = raw.train_images.shape[-1]
        raise ValueError(f"this {raw.name} data was reduced in advance to {stored}x{stored} pixels; setting {setting} "
                         f"needs {side}x{side}: use the full data set")
    padding = round(CIFAR_PADDING * side / CIFAR_SIDE)
    index = balanced_subset(raw.train_labels, setting.sample_fraction, seed, raw.num_classes)
    mean = torch.tensor(raw.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(raw.std, dtype=torch.float32).view(1, -1, 1, 1)
    return TrainData(
        train_x=resize(raw.train_images[index], side),
        train_y=raw.train_labels[index].contiguous(),
        test_x=(resize(raw.test_images, side) - mean) / std,
        test_y=raw.test_labels,
        mean=mean,
        std=std,
        num_classes=raw.num_classes,
        side=side,
        padding=padding,
        key=raw.key,
        reduction=(setting.resolution_divisor, setting.s),
    )


def augment(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crop (zero padding of ``padding`` pixels on each side) and random horizontal flip of a whole batch."""
    n, _, h, w = x.shape
    device = x.device
    if padding > 0:
        padded = F.pad(x, (padding, padding, padding, padding)).permute(0, 2, 3, 1)  # N×H'×W'×C view
        oy = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
        ox = torch.randint(0, 2 * padding + 1, (n, 1), generator=generator, device=device)
        rows = (oy + torch.arange(h, device=device)).unsqueeze(2)  # N×h×1
        cols = (ox + torch.arange(w, device=device)).unsqueeze(1)  # N×1×w
        batch = torch.arange(n, device=device).view(n, 1, 1)
        x = padded[batch, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mask = torch.rand(n, generator=generator, device=device) < 0.5
        x = torch.where(mask.view(n, 1, 1, 1), x.flip(3), x)
    return x.contiguous()
