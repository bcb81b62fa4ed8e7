"""NDS epoch factor: rank consistency of early-epoch errors with the final error (no training)."""

from __future__ import annotations

import math

import pytest

from archrank.config import data_root
from archrank.econas.epochs import epoch_consistency, error_curves, nds_epoch_table


def records(curves: list[list[float]]) -> list[dict]:
    return [{"test_ep_top1": curve} for curve in curves]


def test_reversed_then_agreeing_ranking() -> None:
    # epoch 1 ranks the 5 models in reverse of the final order; from epoch 3 on they agree with it
    curves = [[50 - i, 40 + i, 30 + i, 20 + i] for i in range(5)]
    table = epoch_consistency(records(curves), epochs=(1, 2, 3, 4, 9))
    assert list(table["epoch"]) == [1, 2, 3, 4]  # epoch 9 is past the curves' end: left out
    assert table.loc[0, "spearman"] == pytest.approx(-1.0)
    assert table.loc[1, "spearman"] == pytest.approx(1.0)
    assert table.loc[3, "kendall"] == pytest.approx(1.0)
    assert table.loc[0, "fraction"] == pytest.approx(0.25)
    assert table.loc[0, "top10_overlap"] == 0.0 and table.loc[3, "top10_overlap"] == 1.0


def test_non_finite_errors_are_left_out_not_filled() -> None:
    curves = [[float(i), float(i)] for i in range(6)]
    curves[2][0] = math.nan
    table = epoch_consistency(records(curves), epochs=(1, 2))
    assert list(table["models"]) == [5, 6]


@pytest.mark.parametrize(
    ("bad", "message"),
    [([{"test_ep_top1": [1.0, 2.0]}, {"test_ep_top1": [1.0]}, {"test_ep_top1": [3.0, 1.0]}], "different lengths"),
     ([{"params": 3}], "no per-epoch error list")],
)
def test_bad_records_raise_one_clear_error(bad: list[dict], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        error_curves(bad)


def test_epochs_are_one_based_and_need_three_models() -> None:
    with pytest.raises(ValueError, match="1-based"):
        epoch_consistency(records([[1.0, 2.0]] * 3), epochs=(0,))
    with pytest.raises(ValueError, match="at least 3"):
        epoch_consistency(records([[1.0, 2.0]] * 2))


@pytest.mark.skipif(data_root() is None, reason="needs ../shared/data (NDS records)")
def test_nds_final_epoch_agrees_with_itself() -> None:
    table = nds_epoch_table(("ResNeXt-A",), epochs=(1, 50))
    assert table.loc[table["epoch"] == 50, "spearman"].item() == pytest.approx(1.0)
    assert -1.0 <= table.loc[table["epoch"] == 1, "spearman"].item() < 1.0


def test_nds_epoch_table_reads_every_family_whose_file_has_curves(tmp_path, monkeypatch) -> None:
    """The families come from the NDS spaces' truth sources: a structure-only family joins once its file has
    per-epoch errors; a family without them is refused by name."""
    import json

    from archrank import get_space

    monkeypatch.setenv("ARCHRANK_DATA", str(tmp_path))
    with pytest.raises(ValueError, match="present: none"):
        nds_epoch_table()
    space = get_space("nds-pnas")
    nets = [json.loads(space.to_str(a)) for a in space.sample_many(5, seed=1)]
    path = tmp_path / "nds" / "structure_only" / "PNAS_in.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps([{"net": net} for net in nets]))
    with pytest.raises(ValueError, match="PNAS"):
        nds_epoch_table(("PNAS",))
    path.write_text(json.dumps([{"net": net, "test_ep_top1": [80.0 - i, 50.0 - 2 * i]} for i, net in enumerate(nets)]))
    table = nds_epoch_table(epochs=(1, 2))
    assert list(table["family"]) == ["PNAS", "PNAS"] and table["spearman"].tolist() == pytest.approx([1.0, 1.0])
