"""Data reduced in advance (to carry to a GPU machine): identical trainings, the original's key, clear refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from archrank import get_space
from archrank.cli import main
from archrank.econas import parse_setting, prepare, train
from archrank.econas.data import RawData, load_data, reduce_in_advance, save_data


@pytest.fixture
def raw() -> RawData:
    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (60, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 60))
    test = (rng.integers(0, 256, (20, 3, 32, 32), dtype=np.uint8), rng.integers(0, 10, 20))
    return RawData.from_arrays(train, test, name="cifar10", num_classes=10)


@pytest.mark.parametrize("setting", ["c4r4s0e1", "c4r4s1e1", "c8r4s0e1"])
def test_saved_reduced_copy_prepares_exactly_the_same_data(raw: RawData, tmp_path: Path, setting: str) -> None:
    path = save_data(reduce_in_advance(raw, 8), tmp_path / "small.npz")
    copy = load_data(str(path))
    assert copy.key == raw.key and copy.side == 32 and copy.train_images.shape[-1] == 8
    ours, theirs = prepare(raw, parse_setting(setting), 0), prepare(copy, parse_setting(setting), 0)
    for name in ("train_x", "train_y", "test_x", "test_y", "mean", "std"):
        assert torch.equal(getattr(ours, name), getattr(theirs, name)), name
    assert (ours.key, ours.padding, ours.side, ours.reduction) == (theirs.key, theirs.padding, theirs.side,
                                                                  theirs.reduction)


def test_training_from_the_copy_equals_training_from_the_original(raw: RawData, tmp_path: Path) -> None:
    space = get_space("nb201")
    arch = space.sample(0)
    copy = load_data(str(save_data(reduce_in_advance(raw, 8), tmp_path / "small.npz")))
    a = train(space, arch, "c4r4s0e1", raw, seed=0)
    b = train(space, arch, "c4r4s0e1", copy, seed=0)
    assert a.accuracy == b.accuracy and a.final_train_loss == b.final_train_loss and a.key == b.key


def test_other_resolutions_and_bad_files_are_refused(raw: RawData, tmp_path: Path) -> None:
    copy = reduce_in_advance(raw, 8)
    with pytest.raises(ValueError, match="reduced in advance to 8x8 pixels; setting c4r2s0e1 needs 16x16"):
        prepare(copy, parse_setting("c4r2s0e1"), 0)
    with pytest.raises(ValueError, match="already reduced"):
        reduce_in_advance(copy, 4)
    with pytest.raises(ValueError, match=r"end in \.npz"):
        save_data(copy, tmp_path / "small.pt")
    with pytest.raises(ValueError, match="no data file"):
        load_data(str(tmp_path / "missing.npz"))
    bogus = tmp_path / "bogus.npz"
    np.savez_compressed(bogus, meta=np.array("{}"), train_images=np.zeros(1), train_labels=np.zeros(1),
                        test_images=np.zeros(1), test_labels=np.zeros(1))
    with pytest.raises(ValueError, match="not an archrank data file"):
        load_data(str(bogus))
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not an archrank data file"):
        load_data(str(broken))


def test_a_full_resolution_copy_keeps_its_own_key_and_checks_it(raw: RawData, tmp_path: Path) -> None:
    path = save_data(raw, tmp_path / "full.npz")
    again = load_data(str(path))
    assert again.reduced_from is None and again.key == raw.key
    assert torch.equal(again.train_images, raw.train_images)


def test_econas_data_command_reports_one_line_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["econas-data", "--data", "imagenet", "--out", str(tmp_path / "x.npz")])
    assert result.exit_code != 0 and "unknown data set 'imagenet'" in result.output
    assert "Traceback" not in result.output
