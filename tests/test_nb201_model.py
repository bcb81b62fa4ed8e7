"""The NB201 network: exact parameter and FLOP counts against the benchmark, shapes and options."""

from __future__ import annotations

import random

import pandas as pd
import pytest
import torch
from torch import nn

from archrank.proxies.cost import count_flops, count_params
from archrank.spaces import NB201Arch, NB201Space

SAMPLE = 300


def test_params_and_flops_equal_benchmark_on_a_random_sample(nb201: NB201Space, nb201_csv: pd.DataFrame) -> None:
    rows = nb201_csv.sample(n=SAMPLE, random_state=0)
    for index, text, params_m, flops_m in rows[["nb201_index", "arch_str", "params_M", "flops_M"]].itertuples(
        index=False
    ):
        arch = nb201.from_index(int(index))
        assert nb201.to_str(arch) == text
        model = nb201.build(arch, num_classes=10)
        assert count_params(model) == round(params_m * 1e6), text
        assert count_flops(model) == round(flops_m * 1e6), text


def test_forward_shapes_and_num_classes(nb201: NB201Space) -> None:
    arch = nb201.from_index(1)
    for classes in (10, 100, 120):
        model = nb201.build(arch, num_classes=classes)
        assert model(torch.randn(2, 3, 32, 32)).shape == (2, classes)
    small = nb201.build(arch, num_classes=10)
    assert small(torch.randn(3, 3, 16, 16)).shape == (3, 10)  # any input size (ImageNet16)


def test_width_and_depth_options(nb201: NB201Space) -> None:
    arch = nb201.from_index(1)
    base = nb201.build(arch, C=16, N=5)
    narrow = nb201.build(arch, C=4, N=5)
    shallow = nb201.build(arch, C=16, N=1)
    assert narrow.stem[0].out_channels == 4
    assert [f.shape[1] for f in narrow.forward_features(torch.randn(1, 3, 32, 32))] == [4, 8, 16]
    assert count_params(narrow) < count_params(base)
    assert sum(1 for _ in shallow.stages[0]) == 1 and sum(1 for _ in base.stages[0]) == 5


def test_only_chosen_ops_are_instantiated(nb201: NB201Space) -> None:
    arch = NB201Arch(("nor_conv_3x3", "none", "none", "skip_connect", "none", "none"))
    model = nb201.build(arch)
    cell = model.stages[0][0]
    assert sorted(cell.edges.keys()) == ["1_0", "3_0"]
    convs = [m for m in cell.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 1 and convs[0].kernel_size == (3, 3)
    assert not any(isinstance(m, nn.AvgPool2d) for m in cell.modules())


def test_dead_cell_outputs_zero_but_keeps_graph(nb201: NB201Space) -> None:
    model = nb201.build(NB201Arch(("none",) * 6))
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    cell = model.stages[0][0]
    out = cell(x[:, :1].expand(2, 16, 32, 32))
    assert torch.count_nonzero(out) == 0 and out.requires_grad


def test_flop_counting_conventions_and_state_preserved() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=True), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 4 * 4, 5))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    # conv: 3*3*3*8 per position * 16 positions + bias 8*16; linear 128*5 (+bias in macs? no: macs only)
    macs = 3 * 3 * 3 * 8 * 16 + 8 * 16 + 128 * 5
    assert count_flops(model, (3, 4, 4), convention="macs") == macs
    assert count_flops(model, (3, 4, 4)) == macs + 2 * 128 + 128  # BN 2/element, ReLU 1/element
    assert model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    with pytest.raises(ValueError, match="unknown FLOP convention"):
        count_flops(model, (3, 4, 4), convention="thop")


def test_seeded_builds_are_identical(nb201: NB201Space) -> None:
    arch = nb201.from_index(random.Random(1).randrange(15625))
    torch.manual_seed(5)
    a = nb201.build(arch)
    torch.manual_seed(5)
    b = nb201.build(arch)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
