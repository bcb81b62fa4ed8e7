"""The validation split a search selects on: held out of the training images, never the test images."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from archrank.econas.data import RawData, reduce_in_advance, validation_split


def _raw() -> RawData:
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (100, 3, 8, 8), dtype=np.uint8), np.arange(100) % 5)
    test = (rng.integers(0, 256, (30, 3, 8, 8), dtype=np.uint8), np.arange(30) % 5)
    return RawData.from_arrays(train, test, name="cifar10", num_classes=5)


def _rows(images: torch.Tensor) -> set[bytes]:
    return {image.numpy().tobytes() for image in images}


def test_validation_split_holds_out_training_images_only() -> None:
    raw = _raw()
    split = validation_split(raw, 0.2, seed=0)
    assert split.name == "cifar10-valid" and split.key != raw.key
    assert (len(split.train_labels), len(split.test_labels)) == (80, 20)
    assert torch.bincount(split.test_labels, minlength=5).tolist() == [4] * 5  # class-balanced
    assert not _rows(split.train_images) & _rows(split.test_images)  # disjoint
    assert _rows(split.train_images) | _rows(split.test_images) == _rows(raw.train_images)  # all from training
    assert not _rows(split.test_images) & _rows(raw.test_images)  # the test split is never used
    assert torch.equal(validation_split(raw, 0.2, seed=0).test_images, split.test_images)  # seeded
    assert not torch.equal(validation_split(raw, 0.2, seed=1).test_images, split.test_images)
    assert (split.mean, split.std) == (raw.mean, raw.std)  # the original's normalisation


def test_validation_split_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="split the original"):
        validation_split(reduce_in_advance(_raw(), 4))
    with pytest.raises(ValueError, match="fraction"):
        validation_split(_raw(), 1.5)
