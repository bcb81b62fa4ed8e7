"""The shared CLI helpers: int lists, data for a space's own input size and class count."""

from __future__ import annotations

import pytest

from archrank.cli.options import default_num_classes, load_data, parse_int_list, parse_seeds
from archrank.spaces import get_space


def test_int_lists_and_seeds() -> None:
    assert parse_int_list("3, 7,10-12") == [3, 7, 10, 11, 12]
    assert parse_seeds("0-2,1,5") == [0, 1, 2, 5]
    for bad in ("", "5-1", "a"):
        with pytest.raises(ValueError):
            parse_int_list(bad)


def test_synthetic_data_takes_the_space_input_shape_and_classes() -> None:
    tnb = get_space("tnb101-micro")
    (x, _), digest = load_data("synthetic", 2, 0, tuple(tnb.input_shape))
    assert tuple(x.shape[1:]) == tuple(tnb.input_shape) == (3, 256, 256)
    assert default_num_classes(tnb, "synthetic") == tnb.num_classes
    nb201 = get_space("nb201")
    (x32, _), digest32 = load_data("synthetic", 2, 0, tuple(nb201.input_shape))
    assert tuple(x32.shape[1:]) == (3, 32, 32) and digest32 != digest
    assert default_num_classes(nb201, "cifar100") == 100  # a CIFAR-style space takes the data's classes
