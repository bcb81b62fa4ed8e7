"""Issue 12's findings as a new user: no silent mixing, no empty selections, one clear line instead of a traceback,
foreign files untouched, and every run kind listed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from archrank.cli import main
from archrank.config import data_root
from archrank.spaces import get_space
from archrank.store import Store


def one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error:"), result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def invoke(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.mark.parametrize(("selection", "message"), [
    (["--indices", "5-1"], "empty index range"),
    (["--indices", ""], "empty index list"),
    (["--sample", "0"], "--sample must be at least 1"),
    (["--sample", "-5"], "--sample must be at least 1"),
])
def test_empty_selections_are_errors(tmp_path: Path, selection: list[str], message: str) -> None:
    store = tmp_path / "s.db"
    one_line_error(invoke("score", *selection, "--proxies", "params", "--data", "synthetic", "--store", str(store),
                          "--quiet"), message)


def test_empty_proxy_list_and_unknown_pattern_are_errors(tmp_path: Path) -> None:
    one_line_error(invoke("score", "--indices", "1", "--proxies", ",", "--data", "synthetic", "--store",
                          str(tmp_path / "s.db")), "empty proxy list")
    one_line_error(invoke("proxies", "zzz*"), "no proxy matches 'zzz*'")


def test_unclosed_naslib_tuple_is_refused() -> None:
    one_line_error(invoke("describe", "(2,2,0,2,2,2"), "malformed NASLib tuple")


def test_bad_store_paths_are_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"\x00garbage" * 50)
    base = ["score", "--indices", "1", "--proxies", "params", "--data", "synthetic", "--quiet", "--store"]
    one_line_error(invoke(*base, str(garbage)), "not an archrank store")
    one_line_error(invoke(*base, str(tmp_path / "nonexistent" / "x.db")), "does not exist")
    one_line_error(invoke(*base, str(tmp_path)), "is a directory")
    one_line_error(invoke("evaluate", "--store", str(tmp_path / "missing.db"), "--out", str(tmp_path / "ev")),
                   "no store at")
    assert not (tmp_path / "missing.db").exists()
    one_line_error(invoke("runs", "--store", str(tmp_path / "missing.db")), "no store at")


def test_foreign_sqlite_file_is_left_untouched(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE photos (id INTEGER)")
    con.commit()
    con.close()
    before = other.read_bytes()
    one_line_error(invoke("score", "--indices", "1", "--proxies", "params", "--data", "synthetic", "--quiet",
                          "--store", str(other)), "another program")
    one_line_error(invoke("runs", "--store", str(other)), "another program")
    assert other.read_bytes() == before and not Path(f"{other}-wal").exists()


def test_bad_device_and_threads_write_nothing(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    base = ["score", "--indices", "1", "--proxies", "params", "--data", "synthetic", "--quiet", "--store", str(store)]
    one_line_error(invoke(*base, "--device", "tpu"), "unknown device 'tpu'")
    assert not store.exists() or Store(store).runs().empty  # no empty run row left behind
    result = invoke(*base, "--threads", "-2")
    assert result.exit_code == 2 and "--threads" in result.output and "Traceback" not in result.output


def test_export_into_missing_folder_and_wide_export_infers_the_space(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    assert invoke("score", "--indices", "1,2", "--proxies", "params,flops", "--data", "synthetic", "--quiet",
                  "--store", str(store)).exit_code == 0
    one_line_error(invoke("export", str(tmp_path / "no" / "x.csv"), "--store", str(store)), "does not exist")
    result = invoke("export", str(tmp_path / "scores.parquet"), "--wide", "--store", str(store))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "scores.parquet").exists()


def test_export_applies_the_filters_and_refuses_to_write_nothing(tmp_path: Path) -> None:
    """The long export keeps only the rows the filters pick, as the wide one does; an export that matches nothing
    writes no file and says so in one line."""
    from archrank.store import ScoreRow
    from archrank.store.table import read_table

    store = tmp_path / "s.db"
    with Store(store) as db:
        db.put_scores([ScoreRow("nb201", key, "nwot", "c", seed, "b", "cpu", float(seed), 1.0, "ok")
                       for key in ("k1", "k2") for seed in (0, 1)])
    assert invoke("export", str(tmp_path / "s0.csv"), "--seed", "1", "--store", str(store)).exit_code == 0
    frame = read_table(tmp_path / "s0.csv")
    assert frame["seed"].tolist() == [1, 1] and frame["score"].tolist() == [1.0, 1.0]
    for wide in ([], ["--wide"]):
        one_line_error(invoke("export", str(tmp_path / "none.csv"), *wide, "--seed", "7", "--store", str(store)),
                       "nothing to export", "matching the filters")
        assert not (tmp_path / "none.csv").exists()
    one_line_error(invoke("export", str(tmp_path / "l.csv"), "--latest", "--store", str(store)), "--wide")


def test_mixed_configurations_name_an_option_the_command_has(tmp_path: Path) -> None:
    """Export has no --config: a refusal over mixed configurations names --latest, the option that picks one."""
    from archrank.store import ScoreRow

    store = tmp_path / "s.db"
    with Store(store) as db:
        db.put_scores([ScoreRow("nb201", "k1", "nwot", config, 0, "b", "cpu", 1.0, 1.0, "ok") for config in "cd"])
    result = invoke("export", str(tmp_path / "w.csv"), "--wide", "--store", str(store))
    one_line_error(result, "2 configurations", "--latest")
    assert "--config" not in result.output


@pytest.mark.skipif(data_root() is None or not (data_root() / "cifar-10-batches-py").is_dir(),
                    reason="needs the shared CIFAR-10 data (ARCHRANK_DATA or ../shared/data)")
def test_rank_shows_the_values_of_its_own_data_never_another_runs(tmp_path: Path) -> None:
    store = tmp_path / "s.db"
    common = ["--proxies", "nwot", "--store", str(store), "--quiet"]
    assert invoke("score", "--indices", "1", "--data", "synthetic", *common).exit_code == 0
    assert invoke("score", "--indices", "1", "--data", "cifar10", *common).exit_code == 0
    result = invoke("rank", "--indices", "1,2,3", "--data", "synthetic", *common)
    assert result.exit_code == 0, result.output
    with Store(store) as db:
        synthetic = db.score_table("nb201", ["nwot"], data="synthetic")
        cifar = db.score_table("nb201", ["nwot"], data="cifar10")
    space = get_space("nb201")
    key = space.key(space.from_index(1))
    assert synthetic.loc[key, "nwot"] != cifar.loc[key, "nwot"]
    assert f"{synthetic.loc[key, 'nwot']:.6g}" in result.output
    assert f"{cifar.loc[key, 'nwot']:.6g}" not in result.output
    # a reader that would mix the two refuses and says which filter to add
    one_line_error(invoke("export", str(tmp_path / "w.csv"), "--wide", "--store", str(store)), "--data")
    assert invoke("export", str(tmp_path / "w.csv"), "--wide", "--data", "cifar10", "--store",
                  str(store)).exit_code == 0


def test_runs_lists_every_kind(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store(path) as store:
        for kind in ("score", "search", "dps", "evolve", "train"):
            store.start_run("cpu", kind=kind, name=f"{kind}-1")
    result = invoke("runs", "--store", str(path))
    assert result.exit_code == 0, result.output
    for kind in ("score", "search", "dps", "evolve", "train"):
        assert f"{kind}-1" in result.output
    assert "search-1" in invoke("runs", "--store", str(path), "--kind", "search").output
    assert "dps-1" not in invoke("runs", "--store", str(path), "--kind", "search").output


BAD_INPUTS = [  # (arguments, fragment of the one error line); a store path is appended where the command takes one
    (["dps", "--base", "no-such-config.json"], "config file not found: no-such-config.json"),
    (["eproxy", "--data", "no-such-data", "--sample", "2"], "unknown dataset 'no-such-data'"),
    (["evolve", "--data", "no-such-data"], "unknown dataset 'no-such-data'"),
    (["search", "--move", "no-such-proxy", "--budget", "5"], "unknown proxy 'no-such-proxy'"),
    (["search", "--move", "no-such-proxy", "--budget", "5", "--seeds", "0-1", "--workers", "2"],
     "unknown proxy 'no-such-proxy'"),
    (["evaluate", "--space", "no-such-space"], "Error: unknown search space 'no-such-space'"),  # no quotes around it
    (["consistency", "--settings", "c4r4"], "malformed EcoNAS setting 'c4r4'"),
    (["score", "--space", "nds-pnas", "--with-truth", "--sample", "2", "--proxies", "params", "--data",
      "synthetic", "--quiet"], "ground truth 'nds-pnas' of nds-pnas needs"),
]


@pytest.mark.parametrize(("args", "fragment"), BAD_INPUTS, ids=[" ".join(a[:3]) for a, _ in BAD_INPUTS])
def test_bad_input_of_every_command_is_one_line(tmp_path: Path, monkeypatch, args: list[str], fragment: str) -> None:
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "s.db"
    Store(store).close()
    result = invoke(*args, "--store", str(store))
    if result.exit_code == 2:  # click's usage error: the usage line, a hint, then the one error line
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        errors = [ln for ln in result.output.splitlines() if ln.startswith("Error:")]
        assert len(errors) == 1 and fragment in errors[0], result.output
    else:
        one_line_error(result, fragment)


@pytest.mark.parametrize("option", [["--space", "nb101"], ["--truth", "analog"], ["--metric", "x"], ["--sample", "5"],
                                    ["--ensemble", "synflow"], ["--topk", "5"], ["--title", "T"], ["--target", "0.9"]])
def test_all_spaces_refuses_the_options_it_would_ignore(tmp_path: Path, option: list[str]) -> None:
    """``evaluate --all-spaces`` picks each space's own truth, metric and ensembles: an option it would silently
    ignore is one error line naming it, before anything is read."""
    store = tmp_path / "s.db"
    one_line_error(invoke("evaluate", "--all-spaces", *option, "--store", str(store), "--out", str(tmp_path / "o")),
                   option[0], "cannot be used with it")
    assert not store.exists() and not (tmp_path / "o").exists()
