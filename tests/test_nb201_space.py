"""NAS-Bench-201 space: index order, strings, NASLib tuples, isomorphism, mutation and neighbours."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archrank.spaces import NB201Arch, NB201Space
from archrank.spaces.nb201 import OPS, canonical_key, output_reachable


def test_len_and_registry(nb201: NB201Space) -> None:
    assert len(nb201) == 15625
    assert nb201.name == "nb201"


def test_index_to_string_matches_benchmark_for_all(nb201: NB201Space, nb201_csv: pd.DataFrame) -> None:
    assert len(nb201_csv) == 15625
    ours = [nb201.to_str(nb201.from_index(i)) for i in range(len(nb201))]
    assert ours == nb201_csv["arch_str"].tolist()
    for i, text in zip(nb201_csv["nb201_index"], nb201_csv["arch_str"], strict=True):
        assert nb201.index(nb201.from_str(text)) == i


def test_enumerate_is_index_order(nb201: NB201Space) -> None:
    archs = list(nb201.enumerate())
    assert len(set(archs)) == 15625
    assert [nb201.index(a) for a in archs[:50]] == list(range(50))


def test_naslib_tuple_round_trip_all(nb201: NB201Space) -> None:
    seen = set()
    for codes in itertools.product(range(5), repeat=6):
        arch = nb201.from_naslib(codes)
        assert nb201.to_naslib(arch) == codes
        seen.add(arch)
    assert len(seen) == 15625


def test_naslib_tuple_documented_examples(nb201: NB201Space) -> None:
    assert nb201.to_str(nb201.from_naslib((0, 2, 3, 2, 3, 1))) == (
        "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
    )
    best = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
    assert nb201.to_naslib(nb201.from_str(best)) == (2, 2, 0, 2, 2, 2)
    assert nb201.parse("(2, 2, 0, 2, 2, 2)") == nb201.from_str(best)


def test_isomorphism_classes(nb201: NB201Space) -> None:
    keys = {nb201.canonical(a) for a in nb201.enumerate()}
    assert len(keys) == 6466


def test_isomorphic_cells_share_key() -> None:
    # edge order: 1<-0, 2<-0, 2<-1, 3<-0, 3<-1, 3<-2
    # node 3 = conv3(input) + conv1(input), routed through node 1 in either order: the same function
    a = NB201Arch(("nor_conv_1x1", "none", "none", "nor_conv_3x3", "skip_connect", "none"))
    b = NB201Arch(("nor_conv_3x3", "none", "none", "nor_conv_1x1", "skip_connect", "none"))
    assert canonical_key(a) == canonical_key(b)
    c = NB201Arch(("nor_conv_3x3", "none", "none", "nor_conv_3x3", "skip_connect", "none"))
    assert canonical_key(a) != canonical_key(c)
    # the benchmark's convention keeps zero terms: these two differ although node 2 carries nothing
    d = NB201Arch(("nor_conv_1x1", "none", "none", "nor_conv_3x3", "skip_connect", "skip_connect"))
    assert canonical_key(a) != canonical_key(d)


def test_reachability() -> None:
    dead = NB201Arch(("none",) * 6)
    assert not output_reachable(dead)
    only_direct = NB201Arch(("none", "none", "none", "skip_connect", "none", "none"))
    assert output_reachable(only_direct)
    broken_chain = NB201Arch(("nor_conv_3x3", "none", "none", "none", "none", "nor_conv_3x3"))
    assert not output_reachable(broken_chain)  # node 2 has no input, so 2->3 carries nothing
    chain = NB201Arch(("nor_conv_3x3", "none", "skip_connect", "none", "none", "nor_conv_3x3"))
    assert output_reachable(chain)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("", "expected 3 nodes"),
        ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "expected 3 nodes"),
        ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown op 'conv'"),
        ("|none~0|+|none~0|none~1|+|none~0|none~1|", "node 3 needs 3"),
        ("|none~0|+|none~0|none~3|+|none~0|none~1|none~2|", "cannot take input 3"),
        ("|none~0|+|none~0|none~0|+|none~0|none~1|none~2|", "lists input 0 twice"),
        ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "node 1 must be written"),
        ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "is not 'op~input'"),
        ("garbage", "expected 3 nodes"),
    ],
)
def test_malformed_strings_rejected(nb201: NB201Space, text: str, needle: str) -> None:
    with pytest.raises(ValueError, match="malformed NB201 arch string") as info:
        nb201.from_str(text)
    assert needle in str(info.value)
    assert "\n" not in str(info.value)


@given(st.text(max_size=80))
def test_random_text_never_crashes_parser(text: str) -> None:
    space = NB201Space()
    try:
        arch = space.from_str(text)
    except ValueError as exc:
        assert str(exc)
    else:
        assert space.from_str(space.to_str(arch)) == arch


@given(st.lists(st.sampled_from(OPS), min_size=6, max_size=6))
def test_string_round_trip(ops: list[str]) -> None:
    space = NB201Space()
    arch = NB201Arch(tuple(ops))
    assert space.from_str(space.to_str(arch)) == arch


def test_edges_in_any_order_parse_to_the_same_cell(nb201: NB201Space) -> None:
    a = nb201.from_str("|none~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|none~1|nor_conv_3x3~2|")
    b = nb201.from_str("|none~0|+|nor_conv_1x1~1|skip_connect~0|+|nor_conv_3x3~2|avg_pool_3x3~0|none~1|")
    assert a == b


def test_index_out_of_range(nb201: NB201Space) -> None:
    with pytest.raises(ValueError, match=r"0\.\.15624"):
        nb201.from_index(15625)


def test_neighbours_and_mutation(nb201: NB201Space) -> None:
    arch = nb201.from_index(123)
    neigh = nb201.neighbours(arch)
    assert len(neigh) == 6 * 4
    assert len(set(neigh)) == 24
    for other in neigh:
        assert sum(x != y for x, y in zip(arch.ops, other.ops, strict=True)) == 1
    rng = random.Random(0)
    for _ in range(20):
        assert nb201.mutate(arch, rng) in neigh


def test_sampling_is_seeded_and_unique(nb201: NB201Space) -> None:
    first = nb201.sample_many(200, seed=3)
    assert first == nb201.sample_many(200, seed=3)
    assert len(set(first)) == 200
    assert first != nb201.sample_many(200, seed=4)


def test_encoding(nb201: NB201Space) -> None:
    arch = nb201.from_index(7)
    code = nb201.encode(arch)
    assert code.shape == (30,)
    assert code.sum() == 6
    blocks = code.reshape(6, 5)
    assert [OPS[int(np.argmax(b))] for b in blocks] == list(arch.ops)
