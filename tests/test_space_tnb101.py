"""TransNAS-Bench-101 micro and macro spaces: NASLib tuple keys, the benchmark's own strings, exact
class_scene/class_object parameter counts and FLOPs, invalid skeletons rejected, ground truth per task."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch

from archrank import get_space
from archrank.bench.truth import load_truth
from archrank.proxies.cost import count_flops, count_params
from archrank.spaces.tnb101 import TASKS, TNB101MicroSpace
from archrank.spaces.tnb101_macro import TNB101MacroSpace


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


# --- macro space ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def macro_space() -> TNB101MacroSpace:
    sp = get_space("tnb101-macro")
    assert isinstance(sp, TNB101MacroSpace)
    return sp


@pytest.fixture(scope="module")
def macro_suite_zero(data_root: Path) -> dict[str, dict]:
    path = data_root / "transnas" / "suite_zero_tnb101_macro.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    return json.loads(path.read_text())


def test_macro_enumerates_the_benchmark(macro_space: TNB101MacroSpace, data_root: Path) -> None:
    table = pd.read_csv(data_root / "transnas" / "tnb101_macro_all.csv", usecols=["arch"])
    archs = list(macro_space.enumerate())
    assert len(archs) == len(macro_space) == 3256
    in_file = {macro_space.key(macro_space.parse(a)) for a in table["arch"].unique()}
    assert in_file == {macro_space.key(a) for a in archs}
    for ref in table["arch"].unique()[:50]:
        arch = macro_space.parse(ref)
        assert macro_space.parse(macro_space.benchmark_string(arch)) == arch
        assert macro_space.to_str(arch).startswith(ref[:-1])  # unpadded CSV key = padded key without zeros


def test_macro_params_and_flops_match_suite_zero(macro_suite_zero: dict[str, dict]) -> None:
    for task, classes in (("class_scene", 63), ("class_object", 100)):
        space = TNB101MacroSpace(task)
        assert space.num_classes == classes
        for key in list(macro_suite_zero[task])[::330]:
            model = space.build(space.parse(key))
            assert space.to_str(space.parse(key)) == key
            assert count_params(model) == round(macro_suite_zero[task][key]["params"]["score"] * 1e6)
            assert count_flops(model, space.input_shape) == pytest.approx(
                macro_suite_zero[task][key]["flops"]["score"] * 1e6, rel=1e-9)


def test_macro_invalid_skeletons_rejected(macro_space: TNB101MacroSpace) -> None:
    for bad, message in (("(1, 1, 1)", "4..6 stages"), ("(1, 1, 1, 1, 1, 1)", "halvings"),
                         ("(4, 4, 4, 4)", "doublings"), ("(1, 0, 3, 2)", "pad the end"), ("(1, 5, 3, 2)", "1..4")):
        with pytest.raises(ValueError, match=message):
            macro_space.parse(bad)
    for arch in macro_space.sample_many(20, seed=0):
        assert all(macro_space.parse(macro_space.to_str(n)) == n for n in macro_space.neighbours(arch))
