"""TransNAS-Bench-101 micro space: NASLib tuple keys, the benchmark's own strings, exact class_scene/class_object
parameter counts, ground truth per task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from archrank import get_space
from archrank.bench.truth import load_truth
from archrank.proxies.cost import count_flops, count_params
from archrank.spaces.tnb101 import TASKS, TNB101MicroSpace


@pytest.fixture(scope="module")
def space() -> TNB101MicroSpace:
    sp = get_space("tnb101-micro")
    assert isinstance(sp, TNB101MicroSpace)
    return sp


@pytest.fixture(scope="module")
def suite_zero(data_root: Path) -> dict[str, dict]:
    path = data_root / "transnas" / "suite_zero_tnb101_micro.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return json.loads(path.read_text())


def test_keys_round_trip(space: TNB101MicroSpace, suite_zero: dict[str, dict]) -> None:
    assert len(space) == 4096
    for key in suite_zero["class_scene"]:
        arch = space.parse(key)
        assert space.to_str(arch) == key
        assert space.parse(space.benchmark_string(arch)) == arch
    assert space.parse("64-41414-1_00_210") == (1, 0, 0, 2, 1, 0)


@pytest.mark.parametrize(("task", "classes"), [("class_scene", 63), ("class_object", 100)])
def test_params_and_flops_match_suite_zero(suite_zero: dict[str, dict], task: str, classes: int) -> None:
    space = TNB101MicroSpace(task)
    assert space.num_classes == classes and space.input_shape == (3, 256, 256)
    for key in list(suite_zero[task])[::300]:
        model = space.build(space.parse(key))
        assert count_params(model) == round(suite_zero[task][key]["params"]["score"] * 1e6)
        assert count_flops(model, space.input_shape) == pytest.approx(
            suite_zero[task][key]["flops"]["score"] * 1e6, rel=1e-9)


def test_forward_and_search_operations(space: TNB101MicroSpace) -> None:
    arch = space.sample(0)
    assert space.build(arch)(torch.zeros(1, 3, 64, 64)).shape == (1, 63)
    assert len(space.neighbours(arch)) == 18 and space.encode(arch).shape == (24,)
    assert space.canonical((1, 0, 0, 0, 1, 0)) == space.canonical((0, 0, 0, 1, 0, 0))  # both: input -> output skip


def test_invalid_references_rejected(space: TNB101MicroSpace) -> None:
    for bad in ("(1, 0, 0, 2, 1)", "(1, 0, 0, 2, 1, 4)", "64-41414-1_00_21", "64-41411-1_00_210", "cell"):
        with pytest.raises(ValueError, match="TransNAS-Bench-101"):
            space.parse(bad)
    with pytest.raises(ValueError, match="no classification decoder"):
        TNB101MicroSpace("jigsaw").build((1, 0, 0, 2, 1, 0))


def test_ground_truth_per_task(space: TNB101MicroSpace, data_root: Path) -> None:
    scene = load_truth("auto", space)
    assert len(scene.values) == 4096 and "class_scene" in scene.source
    jigsaw = load_truth("benchmark:jigsaw", space)
    assert len(jigsaw.values) == 4096 and "jigsaw" in jigsaw.source
    assert not scene.values.equals(jigsaw.values)
    assert {s.name for s in space.truth_sources()} >= set(TASKS)
    suite = load_truth("benchmark:suite-zero-class_scene", space)
    assert 0 < len(suite.values) < 4096
