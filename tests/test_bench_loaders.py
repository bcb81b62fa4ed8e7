"""Ground-truth loaders on small files the tests write, broken files included; optional packages faked."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import pickle
import sys
import types
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from archrank.bench import (
    GroundTruthError,
    load_analog_nasbench,
    load_naslib_nb201,
    load_nb201_api,
    load_suite_zero,
    load_truth,
    spearman,
)
from archrank.bench import loaders as loaders_module
from archrank.spaces import NB201Space

TUPLE = "(0, 2, 3, 2, 3, 1)"
TUPLE_STR = "|skip_connect~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_1x1~0|nor_conv_1x1~1|none~2|"
BEST_TUPLE = "(2, 2, 0, 2, 2, 2)"
BEST_STR = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    return path


# --- Suite-Zero ----------------------------------------------------------------------------------------


def test_suite_zero_nested_schema(tmp_path: Path, nb201: NB201Space) -> None:
    data = {"cifar10": {
        TUPLE: {"idx": "534", "arch": TUPLE, "val_accuracy": 86.06,
                "synflow": {"score": 41.9, "time": 0.4}, "nwot": {"score": 406.5, "time": 0.5}},
        BEST_TUPLE: {"idx": "1", "arch": BEST_TUPLE, "val_accuracy": 91.5,
                     "synflow": {"score": None, "time": 0.3}, "nwot": {"score": 420.0, "time": 0.5}},
    }}
    got = load_suite_zero(write_json(tmp_path / "zc.json", data), nb201)
    assert list(got.truth.index) == [TUPLE_STR, BEST_STR]
    assert got.truth.loc[BEST_STR, "val_accuracy"] == 91.5
    assert got.scores.loc[TUPLE_STR, "synflow"] == 41.9
    assert pd.isna(got.scores.loc[BEST_STR, "synflow"])  # a missing score stays missing
    assert got.seconds.loc[TUPLE_STR, "nwot"] == 0.5
    assert "idx" not in got.scores.columns and "arch" not in got.scores.columns


def test_suite_zero_flat_schema(tmp_path: Path, nb201: NB201Space) -> None:
    data = {"nasbench201": {"cifar10": {TUPLE: {"val_accuracy": 86.0, "synflow": 41.9, "jacov": -32.3}},
                            "cifar100": {TUPLE: {"val_accuracy": 60.0, "synflow": 1.0}}}}
    got = load_suite_zero(write_json(tmp_path / "flat.json", data), nb201)
    assert got.truth.loc[TUPLE_STR, "val_accuracy"] == 86.0
    assert got.scores.loc[TUPLE_STR, "jacov"] == -32.3  # signs kept
    assert load_suite_zero(tmp_path / "flat.json", nb201, dataset="cifar100").truth.iloc[0, 0] == 60.0


def test_suite_zero_broken_files(tmp_path: Path, nb201: NB201Space) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_suite_zero(tmp_path / "absent.json", nb201)
    full = json.dumps({"cifar10": {TUPLE: {"val_accuracy": 86.0, "synflow": {"score": 1.0, "time": 0.1}}}})
    (tmp_path / "cut.json").write_text(full[: len(full) // 2])
    with pytest.raises(GroundTruthError, match="not valid JSON"):
        load_suite_zero(tmp_path / "cut.json", nb201)
    with pytest.raises(GroundTruthError, match="no dataset 'cifar10'"):
        load_suite_zero(write_json(tmp_path / "d.json", {"cifar100": {TUPLE: {"val_accuracy": 1.0}}}), nb201)
    with pytest.raises(GroundTruthError, match="does not belong"):
        load_suite_zero(write_json(tmp_path / "b.json", {"cifar10": {"(9, 9, 9, 9, 9, 9)": {"val_accuracy": 1}}}),
                        nb201)
    with pytest.raises(GroundTruthError, match="no val_accuracy"):
        load_suite_zero(write_json(tmp_path / "n.json", {"cifar10": {TUPLE: {"synflow": 1.0}}}), nb201)
    twice = {"cifar10": {TUPLE: {"val_accuracy": 1.0}, "(0,2,3,2,3,1)": {"val_accuracy": 2.0}}}
    with pytest.raises(GroundTruthError, match="more than once"):
        load_suite_zero(write_json(tmp_path / "t.json", twice), nb201)
    with pytest.raises(GroundTruthError, match="not a number"):
        load_suite_zero(write_json(tmp_path / "s.json", {"cifar10": {TUPLE: {"val_accuracy": "high"}}}), nb201)
    with pytest.raises(GroundTruthError, match="expected 5"):
        load_suite_zero(write_json(tmp_path / "ok.json", {"cifar10": {TUPLE: {"val_accuracy": 1.0}}}), nb201,
                        expected_rows=5)


def test_shared_suite_zero_matches_the_published_reference(data_root: Path, nb201: NB201Space) -> None:
    path = data_root / "nb201" / "suite_zero_nb201_cifar10.json"
    if not path.is_file():
        pytest.skip(f"{path} is missing")
    got = load_suite_zero(path, nb201, expected_rows=725)
    assert got.scores.shape == (725, 12)
    truth = load_truth("nb201-csv", nb201).values.reindex(got.scores.index)
    assert spearman(got.scores["nwot"], truth) == pytest.approx(0.800, abs=0.002)  # shared/README.md figures
    assert spearman(got.scores["plain"], truth) == pytest.approx(-0.251, abs=0.002)


# --- NASLib pickles ------------------------------------------------------------------------------------


def test_naslib_pickle(tmp_path: Path, nb201: NB201Space) -> None:
    data = {TUPLE_STR: {"cifar10-valid": {"eval_acc1es": [50.0, 60.0, 70.0], "train_acc1es": [1.0, 2.0, 3.0]}},
            BEST_STR: {"cifar10-valid": {"eval_acc1es": [55.0, 65.0, 91.0], "train_acc1es": [1.0, 2.0, 4.0]}}}
    path = tmp_path / "nb201_cifar10_full_training.pickle"
    path.write_bytes(pickle.dumps(data))
    got = load_naslib_nb201(path, nb201)
    assert got.loc[BEST_STR, "val_acc"] == 91.0 and got.loc[TUPLE_STR, "val_acc"] == 70.0
    first = load_naslib_nb201(path, nb201, metrics={"acc": "eval_acc1es", "train": "train_acc1es"}, epoch=0)
    assert list(first.loc[TUPLE_STR]) == [50.0, 1.0]
    with pytest.raises(GroundTruthError, match="no 'cifar100' results"):
        load_naslib_nb201(path, nb201, dataset="cifar100")
    with pytest.raises(GroundTruthError, match="no field 'x'"):
        load_naslib_nb201(path, nb201, metrics={"a": "x"})
    (tmp_path / "cut.pickle").write_bytes(path.read_bytes()[:40])
    with pytest.raises(GroundTruthError, match="not a readable pickle"):
        load_naslib_nb201(tmp_path / "cut.pickle", nb201)


class Exploit:
    def __reduce__(self) -> tuple[Any, ...]:
        return (print, ("pwned",))


def test_pickles_cannot_run_code(tmp_path: Path, nb201: NB201Space) -> None:
    path = tmp_path / "evil.pickle"
    path.write_bytes(pickle.dumps({TUPLE_STR: Exploit()}))
    with pytest.raises(GroundTruthError, match=r"refusing to load builtins\.print"):
        load_naslib_nb201(path, nb201)


# --- analog-nasbench -----------------------------------------------------------------------------------


def fake_analog_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, records: dict[Any, dict[str, Any]]) -> Path:
    """A data.anb written with stand-ins of the package's own record classes (module analognasbench.data)."""
    module = types.ModuleType("analognasbench.data")

    class Architecture:
        pass

    class DriftMeasurement:
        pass

    for cls in (Architecture, DriftMeasurement):
        cls.__module__ = "analognasbench.data"
        cls.__qualname__ = cls.__name__
        setattr(module, cls.__name__, cls)
    parent = types.ModuleType("analognasbench")
    parent.data = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "analognasbench", parent)
    monkeypatch.setitem(sys.modules, "analognasbench.data", module)
    data = {}
    for key, attrs in records.items():
        record = Architecture()
        record.__dict__.update(attrs)
        drift = DriftMeasurement()
        drift.__dict__.update(value=attrs.get("analog_accuracy", 0.0) - 1.0, uncertainty=0.1)
        record.__dict__["analog_drift_60"] = drift
        data[key] = record
    path = tmp_path / "data.anb"
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def analog_record(acc: float) -> dict[str, float]:
    return {"architecture": None, "baseline_accuracy": acc, "ptq_accuracy": acc - 1, "qat_accuracy": acc - 0.5,
            "noisy_accuracy": 10.0, "analog_accuracy": acc - 5}


def test_analog_nasbench_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, nb201: NB201Space) -> None:
    path = fake_analog_file(tmp_path, monkeypatch, {(0, 2, 3, 2, 3, 1): analog_record(86.0),
                                                    (2, 2, 0, 2, 2, 2): analog_record(94.0)})
    for name in ("analognasbench.data", "analognasbench"):
        monkeypatch.delitem(sys.modules, name)  # loading must not need the package's classes
    got = load_analog_nasbench(nb201, path)
    assert got.loc[BEST_STR, "baseline_accuracy"] == 94.0
    assert got.loc[TUPLE_STR, "analog_accuracy"] == 81.0
    with_drift = load_analog_nasbench(nb201, path, drift=True)
    assert with_drift.loc[BEST_STR, "analog_drift_60"] == pytest.approx(88.0)
    with pytest.raises(GroundTruthError, match="expected 15625"):
        load_analog_nasbench(nb201, path, expected_rows=15625)


def test_analog_nasbench_broken_and_missing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            nb201: NB201Space) -> None:
    bad = fake_analog_file(tmp_path, monkeypatch, {(0, 2, 3, 2, 3, 1): {"baseline_accuracy": 1.0}})
    with pytest.raises(GroundTruthError, match="not an analog-nasbench architecture record"):
        load_analog_nasbench(nb201, bad)
    real_find_spec = importlib.util.find_spec

    def no_package(name: str, *args: Any) -> Any:
        return None if name == "analognasbench" else real_find_spec(name, *args)

    monkeypatch.setattr(loaders_module.importlib.util, "find_spec", no_package)
    with pytest.raises(ImportError, match=r"pip install analog-nasbench==0\.1\.3"):
        load_analog_nasbench(nb201)


def test_installed_analog_nasbench_agrees_with_nats_bench(nb201: NB201Space, data_root: Path) -> None:
    if importlib.util.find_spec("analognasbench") is None:
        pytest.skip("analog-nasbench is not installed (optional extra)")
    analog = load_analog_nasbench(nb201)
    assert len(analog) == 15625
    nats = load_truth("nb201-csv", nb201).values
    assert spearman(analog["baseline_accuracy"], nats.reindex(analog.index)) > 0.98


# --- official NAS-Bench-201 / NATS-Bench APIs ----------------------------------------------------------


class FakeNatsAPI:
    """Mimics NATStopology in fast mode: records load on query and stay cached unless dropped."""

    def __init__(self, archs: list[str], accs: list[float]) -> None:
        self.meta_archs = archs
        self._accs = accs
        self._fast_mode = True
        self.arch2infos_dict: dict[int, Any] = {}
        self.max_cached = 0

    def get_more_info(self, index: int, dataset: str, iepoch: Any = None, hp: str = "12",
                      is_random: bool = True) -> dict[str, float]:
        assert (hp, is_random, dataset) == ("200", False, "cifar10")
        self.arch2infos_dict[index] = object()
        self.max_cached = max(self.max_cached, len(self.arch2infos_dict))
        return {"test-accuracy": self._accs[index], "train-accuracy": 99.0}


class FakeNB201V1API:
    """Mimics nas_201_api 1.x: ``use_12epochs_result`` instead of ``hp``."""

    def __init__(self, path: str, verbose: bool = True) -> None:
        self.meta_archs = [TUPLE_STR, BEST_STR]

    def get_more_info(self, index: int, dataset: str, iepoch: Any = None, use_12epochs_result: bool = False,
                      is_random: bool = True) -> dict[str, float]:
        assert not use_12epochs_result and not is_random
        return {"test-accuracy": [80.0, 94.0][index]}


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> None:
    module = types.ModuleType(name)
    module.__spec__ = importlib.machinery.ModuleSpec(name, None)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)


def test_nats_bench_api_streams_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        nb201: NB201Space) -> None:
    api = FakeNatsAPI([TUPLE_STR, BEST_STR], [85.0, 94.37])
    calls: list[tuple[Any, ...]] = []

    def create(path: str, space: str, fast_mode: bool, verbose: bool) -> FakeNatsAPI:
        calls.append((space, fast_mode, verbose))
        return api

    fake_module(monkeypatch, "nats_bench", create=create)
    folder = tmp_path / "NATS-tss-v1_0-3ffb9-simple"
    folder.mkdir()
    seen: list[int] = []
    got = load_nb201_api(folder, nb201, progress=lambda done, total: seen.append(done))
    assert calls == [("tss", True, False)]
    assert got.loc[BEST_STR, "test_acc"] == 94.37
    assert api.max_cached == 1 and not api.arch2infos_dict  # streamed: one record in memory at a time
    assert seen == [1, 2]


def test_nb201_v1_api_and_missing_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           nb201: NB201Space) -> None:
    pth = tmp_path / "NAS-Bench-201-v1_0-e61699.pth"
    pth.write_bytes(b"not read by the fake")
    real_find_spec = importlib.util.find_spec

    def without_benchmarks(name: str, *args: Any) -> Any:
        return None if name in ("nas_201_api", "nats_bench") else real_find_spec(name, *args)

    with monkeypatch.context() as patch:
        patch.setattr(loaders_module.importlib.util, "find_spec", without_benchmarks)
        with pytest.raises(ImportError, match="pip install nas-bench-201"):
            load_nb201_api(pth, nb201)
        with pytest.raises(ImportError, match="pip install nats_bench"):
            load_nb201_api(tmp_path, nb201)
    with pytest.raises(FileNotFoundError):
        load_nb201_api(tmp_path / "absent.pth", nb201)
    fake_module(monkeypatch, "nas_201_api", NASBench201API=FakeNB201V1API)
    got = load_nb201_api(pth, nb201)
    assert got["test_acc"].to_dict() == {TUPLE_STR: 80.0, BEST_STR: 94.0}
    with pytest.raises(GroundTruthError, match="no valid-accuracy"):
        load_nb201_api(pth, nb201, metrics={"v": "valid-accuracy"})


# --- truth specs ---------------------------------------------------------------------------------------


def test_a_user_table_keeps_architecture_keys_verbatim(tmp_path: Path) -> None:
    """NAS-Bench-Macro keys are digit strings: ``"01012111"`` must not be read as the number 1012111 (and fail to
    parse), in a truth table or in a search oracle's table; the metric columns still parse as numbers and NaN."""
    from archrank.search import TableOracle
    from archrank.spaces import get_space

    macro = get_space("macro")
    keys = ["01012111", "11202010", "02122201"]
    csv = tmp_path / "macro.csv"
    csv.write_text("arch,acc,secs\n01012111,91.5,10\n11202010,NaN,12\n02122201,90.25,11\n")
    truth = load_truth(f"csv:{csv}:arch:acc", macro)
    assert list(truth.values.index) == keys
    assert truth.values.iloc[0] == 91.5 and pd.isna(truth.values.iloc[1])
    oracle = TableOracle.from_csv(csv, valid="acc", test="acc", cost="secs", arch_column="arch", space=macro)
    assert oracle.query(macro.parse("02122201")).valid == 90.25


def test_truth_specs(tmp_path: Path, nb201: NB201Space) -> None:
    csv = tmp_path / "acc.csv"
    pd.DataFrame({"arch": [TUPLE, BEST_STR], "acc": [80.0, 94.0]}).to_csv(csv, index=False)
    truth = load_truth(f"csv:{csv}:arch:acc", nb201)
    assert truth.values.to_dict() == {TUPLE_STR: 80.0, BEST_STR: 94.0}
    assert str(csv) in truth.source
    assert load_truth(f"csv:{csv}:arch", nb201, metric="acc").values.iloc[1] == 94.0
    with pytest.raises(ValueError, match="needs a metric"):
        load_truth(f"csv:{csv}:arch", nb201)
    assert load_truth(f"csv:{csv}:arch:acc", nb201, metric="acc").values.iloc[1] == 94.0  # the same metric twice
    with pytest.raises(ValueError, match="names the metric 'acc' and --metric says 'val'"):
        load_truth(f"csv:{csv}:arch:acc", nb201, metric="val")
    zc = write_json(tmp_path / "zc.json", {"cifar10": {TUPLE: {"val_accuracy": 86.0}}})
    suite = load_truth(f"suite-zero:{zc}", nb201)
    assert suite.values.to_dict() == {TUPLE_STR: 86.0} and "Suite-Zero" in suite.source
    with pytest.raises(ValueError, match="no metric 'nope'"):
        load_truth(f"suite-zero:{zc}", nb201, metric="nope")
    with pytest.raises(ValueError, match="unknown truth spec"):
        load_truth("imagenet", nb201)
