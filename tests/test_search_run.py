"""search.run: cost accounting, persistence and resume, early stopping, oracles and proxy resolution."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archrank import search
from archrank.executors import LocalExecutor
from archrank.search.history import HistoryDB
from archrank.search.toy import ToySpace, planted_oracle, planted_proxy, planted_value
from archrank.store import ScoreRow, Store

TARGET = (1, 2, 3, 0, 1)


@pytest.fixture()
def space() -> ToySpace:
    return ToySpace((4, 4, 4, 4, 4))


def scorer(space: ToySpace, seconds: float = 0.25) -> search.FunctionScorer:
    return search.FunctionScorer(space, planted_proxy(TARGET), name="planted", seconds=seconds)


def trajectory(hist: search.History) -> list[tuple]:
    return [(q.arch, q.valid, q.test, round(q.cumulative_cost_s, 9)) for q in hist.queries]


# --- cost accounting ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["rea", "reinforce", "predictor"])
def test_cost_adds_up(space: ToySpace, algorithm: str) -> None:
    proxy = scorer(space, seconds=0.25)
    kwargs = {"epochs": 30, "ensemble_size": 2} if algorithm == "predictor" else {}
    hist = search.run(space, algorithm, planted_oracle(TARGET, cost_s=100.0), budget=40, seed=2,
                      warmup=("planted", 50), move="planted", proxy_scorer=proxy, **kwargs)
    cumulative = [q.cumulative_cost_s for q in hist.queries]
    steps = np.array(hist.train_seconds) + np.array(hist.proxy_seconds)
    assert np.allclose(np.cumsum(steps), cumulative)
    assert hist.train_seconds == [100.0] * len(hist)
    # every architecture the proxy scored is paid for exactly once, and all of it is in the total
    assert sum(hist.proxy_seconds) == pytest.approx(proxy.seconds) == pytest.approx(0.25 * proxy.scored)
    assert hist.proxy_seconds[0] >= 0.25 * 50  # the warmup pool is charged to the first query
    assert hist.total_cost_s == pytest.approx(100.0 * len(hist) + proxy.seconds)


def test_plain_search_costs_only_training(space: ToySpace) -> None:
    hist = search.run(space, "rea", planted_oracle(TARGET, cost_s=7.0), budget=30, seed=0)
    assert [q.cumulative_cost_s for q in hist.queries] == [7.0 * (i + 1) for i in range(30)]
    assert hist.proxy_seconds == [0.0] * 30


def test_scorer_caches_and_charges_once(space: ToySpace) -> None:
    proxy = scorer(space, seconds=1.0)
    archs = space.sample_many(10, seed=0)
    first = proxy(archs + archs[:3])
    again = proxy(archs[::-1])
    assert proxy.scored == 10 and proxy.seconds == 10.0
    assert np.allclose(first[:10], again[::-1])


def test_forks_share_scores_but_each_pays_its_own_cost(space: ToySpace) -> None:
    calls: list[tuple] = []

    def fn(arch: tuple) -> float:
        calls.append(arch)
        return float(sum(arch))

    parent = search.FunctionScorer(space, fn, name="f", seconds=2.0)
    archs = space.sample_many(6, seed=0)
    first, second = parent.fork(), parent.fork()
    assert np.allclose(first(archs), [sum(a) for a in archs]) and first.seconds == 12.0
    assert np.allclose(second(archs[:4]), [sum(a) for a in archs[:4]]) and second.seconds == 8.0
    assert len(calls) == 6 and parent.seconds == 12.0
    runs = [search.run(space, "rea", planted_oracle(TARGET), budget=20, seed=0, warmup=("f", 50),
                       proxy_scorer=parent.fork()) for _ in range(2)]
    assert trajectory(runs[0]) == trajectory(runs[1])
    assert runs[0].proxy_seconds[0] == runs[1].proxy_seconds[0] == 100.0


@pytest.mark.parametrize("mapping", [False, True])
def test_a_shared_scorer_charges_each_run_what_fresh_scorers_would(space: ToySpace, mapping: bool) -> None:
    """A scorer given to several runs charged the proxy seconds of earlier runs to the next run's first query."""
    def given() -> search.FunctionScorer | dict[str, search.FunctionScorer]:
        proxy = scorer(space, seconds=1.0)
        return {"planted": proxy} if mapping else proxy

    kwargs = dict(algorithm="rea", oracle=planted_oracle(TARGET), budget=15, warmup=("planted", 50), move="planted")
    shared = given()
    together = search.run_many(space, [0, 1], proxy_scorer=shared, **kwargs)
    in_tasks = search.run_many(space, [0, 1], proxy_scorer=shared, executor=LocalExecutor(1), **kwargs)
    alone = [search.run(space, seed=s, proxy_scorer=given(), **kwargs) for s in (0, 1)]
    assert [h.proxy_seconds for h in together] == [h.proxy_seconds for h in alone]
    assert [trajectory(h) for h in together] == [trajectory(h) for h in alone] == [trajectory(h) for h in in_tasks]
    assert together[1].proxy_seconds[0] >= 50.0  # the second run pays for its own warmup pool, no more
    assert together[0].scorers == {"planted": "FunctionScorer"}


def test_shared_proxy_name_is_scored_once_for_warmup_and_move(space: ToySpace) -> None:
    calls: list[tuple] = []

    def fn(arch: tuple) -> float:
        calls.append(arch)
        return planted_value(arch, TARGET)

    proxy = search.FunctionScorer(space, fn, name="p", seconds=0.0)
    search.run(space, "rea", planted_oracle(TARGET), budget=60, seed=0, warmup=("p", 200), move="p",
               proxy_scorer=proxy)
    assert len(calls) == len(set(calls))


def test_an_aggregate_shares_its_members_with_their_other_uses(space: ToySpace) -> None:
    """Warmup by ``a+b`` and move proposal by ``a``: ``a`` scores each architecture once, and the run is charged
    once for every score computed (the aggregate only sums its members' costs)."""
    calls: dict[str, list[tuple]] = {"a": [], "b": []}

    def counted(name: str):
        def fn(arch: tuple) -> float:
            calls[name].append(arch)
            return planted_value(arch, TARGET)
        return fn

    given = {name: search.FunctionScorer(space, counted(name), name=name, seconds=cost)
             for name, cost in (("a", 0.5), ("b", 0.25))}
    hist = search.run(space, "rea", planted_oracle(TARGET, cost_s=0.0), budget=40, seed=0, warmup=("a+b", 100),
                      move="a", proxy_scorer=given)
    assert len(calls["a"]) == len(set(calls["a"])) and len(calls["b"]) == len(set(calls["b"])) == 100
    assert len(calls["a"]) > 100  # the move proposal scored more than the warmup pool, through the same scorer
    assert sum(hist.proxy_seconds) == pytest.approx(0.5 * len(calls["a"]) + 0.25 * len(calls["b"]))
    assert hist.scorers["a+b"] == "MeanRankScorer"


# --- persistence and resume --------------------------------------------------------------------------------
class Interrupt(Exception):
    pass


class FlakyOracle(search.Oracle):
    """Raises once at a given query number (a crash mid-search)."""

    def __init__(self, inner: search.Oracle, fail_at: int) -> None:
        self.inner, self.fail_at, self.calls = inner, fail_at, 0

    def query(self, arch: object) -> search.OracleResult:
        self.calls += 1
        if self.calls == self.fail_at:
            raise Interrupt
        return self.inner.query(arch)


@pytest.mark.parametrize(("algorithm", "kwargs"), [
    ("random", {}),
    ("rea", {"warmup": ("planted", 100), "move": "planted"}),
    ("reinforce", {"warmup": ("planted", 100), "move": "planted"}),
    ("predictor", {"warmup": ("planted", 100), "move": "planted", "epochs": 30, "ensemble_size": 2}),
])
def test_interrupted_run_resumes_to_the_same_trajectory(
    space: ToySpace, tmp_path: Path, algorithm: str, kwargs: dict
) -> None:
    budget = 45
    full = search.run(space, algorithm, planted_oracle(TARGET), budget=budget, seed=7, proxy_scorer=scorer(space),
                      **kwargs)
    path = tmp_path / "results.db"
    flaky = FlakyOracle(planted_oracle(TARGET), fail_at=23)
    with pytest.raises(Interrupt):
        search.run(space, algorithm, flaky, budget=budget, seed=7, proxy_scorer=scorer(space), store=path,
                   run_name="r", **kwargs)
    with HistoryDB(path) as db:
        assert len(db.queries("r", 7)) == 22
    counting = FlakyOracle(planted_oracle(TARGET), fail_at=-1)
    resumed = search.run(space, algorithm, counting, budget=budget, seed=7, proxy_scorer=scorer(space), store=path,
                         run_name="r", **kwargs)
    assert resumed.resumed == 22 and counting.calls == budget - 22
    assert trajectory(resumed) == trajectory(full)
    assert resumed.proxy_seconds == pytest.approx(full.proxy_seconds)
    with HistoryDB(path) as db:
        rows = db.queries("r", 7)
    assert list(rows["step"]) == list(range(budget))
    assert list(rows["arch_key"]) == full.keys


def test_extending_the_budget_continues_the_same_run(space: ToySpace, tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    short = search.run(space, "rea", planted_oracle(TARGET), budget=20, seed=1, store=path)
    longer = search.run(space, "rea", planted_oracle(TARGET), budget=50, seed=1, store=path)
    fresh = search.run(space, "rea", planted_oracle(TARGET), budget=50, seed=1)
    assert trajectory(longer)[:20] == trajectory(short)
    assert trajectory(longer) == trajectory(fresh) and longer.resumed == 20
    assert short.run_name == longer.run_name == "toy-rea"


def test_a_different_setup_under_the_same_name_is_refused(space: ToySpace, tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    search.run(space, "rea", planted_oracle(TARGET), budget=5, seed=0, store=path, run_name="x")
    with pytest.raises(ValueError, match="different setup"):
        search.run(space, "rea", planted_oracle(TARGET), budget=5, seed=0, store=path, run_name="x",
                   population_size=20)


def test_search_history_lives_in_the_one_store(space: ToySpace, tmp_path: Path) -> None:
    path = tmp_path / "archrank.db"
    with Store(path) as store:
        store.put_scores([ScoreRow("toy", "0-0-0-0-0", "p", "h", 0, "b", "cpu", 1.0, 0.1, "ok")])
        search.run(space, "random", planted_oracle(TARGET), budget=4, seed=0, store=store, run_name="s")
        assert store.count()["ok"] == 1
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"measurements", "runs", "trials"} <= tables and not {"search_runs", "search_queries"} & tables
    with Store(path) as store:
        searches = store.runs(kind="search")
        assert searches["name"].tolist() == ["s#seed=0"] and searches["trials"].tolist() == [4]
    with HistoryDB(path) as db:
        assert db.runs()["queries"].tolist() == [4]
        assert len(db.trajectories(["s"])) == 4


# --- stopping ----------------------------------------------------------------------------------------------
def test_until_stops_early(space: ToySpace) -> None:
    hist = search.run(space, "rea", planted_oracle(TARGET), budget=500, seed=0,
                      until=lambda h: h.best().valid >= 100.0)
    assert hist.stopped == "until" and hist.queries[-1].arch == TARGET
    assert hist.first_reach(100.0) == len(hist)


def test_repeated_proposals_are_free_and_bounded() -> None:
    space = ToySpace((2, 2))
    hist = search.run(space, "rea", planted_oracle((1, 1)), budget=100, seed=0)
    assert len(hist) == 4 and "every architecture" in hist.stopped
    converged = search.run(ToySpace((2, 2, 2)), "rea", planted_oracle((1, 1, 1)), budget=100, seed=0,
                           population_size=1, sample_size=1, max_repeats=3)
    assert len(converged) < 8 and "3 proposals in a row were already trained" in converged.stopped


# --- oracles -----------------------------------------------------------------------------------------------
def toy_table(space: ToySpace) -> pd.DataFrame:
    archs = list(space.enumerate())
    values = [planted_value(a, TARGET) for a in archs]
    return pd.DataFrame({
        "arch": [space.to_str(a) for a in archs], "val": values, "tst": [v - 1.0 for v in values],
        "secs": [10.0 + sum(a) for a in archs], "size": [float(sum(a)) for a in archs],
    })


def test_table_oracle_from_csv_and_frame(space: ToySpace, tmp_path: Path) -> None:
    frame = toy_table(space)
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    oracle = search.TableOracle.from_csv(path, valid="val", test="tst", cost="secs", arch_column="arch")
    hist = search.run(space, "rea", oracle, budget=30, seed=0)
    for q, cost in zip(hist.queries, hist.train_seconds, strict=True):
        assert q.valid == planted_value(q.arch, TARGET) and q.test == q.valid - 1.0
        assert cost == 10.0 + sum(q.arch)
    same = search.TableOracle.from_frame(frame, valid="val", test="tst", cost="secs", arch_column="arch", space=space)
    assert same.query(TARGET) == (100.0, 99.0, 17.0)
    assert same.top_threshold(1 / len(frame)) == 99.0
    with pytest.raises(ValueError, match="missing column"):
        search.TableOracle.from_frame(frame, valid="nope", test="tst", arch_column="arch")
    with pytest.raises(KeyError, match="not in the table"):
        search.TableOracle.from_frame(frame.iloc[:3], valid="val", test="tst", cost=None, arch_column="arch",
                                      space=space).query(TARGET)
    broken = frame.astype({"val": object})
    broken.loc[5, "val"] = "abc"
    broken.to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"column 'val' is not numeric \(e.g. 'abc' at row 6\)"):
        search.TableOracle.from_csv(path, valid="val", test="tst", cost="secs", arch_column="arch")


def test_top_threshold_leaves_nan_out() -> None:
    """NaN (a row without a result) sorts first once reversed: it was the threshold."""
    frame = pd.DataFrame({"arch": ["a", "b", "c", "d", "e"], "val": [1.0, 2.0, 3.0, 4.0, 5.0],
                          "tst": [50.0, np.nan, 90.0, 70.0, 60.0]})
    oracle = search.TableOracle.from_frame(frame, valid="val", test="tst", cost=None, arch_column="arch")
    assert oracle.top_threshold(0.01) == 90.0 and oracle.top_threshold(0.5) == 70.0  # ceil(0.5 * 4) = 2nd best
    no_test = search.TableOracle.from_frame(frame.assign(tst=np.nan), valid="val", test="tst", arch_column="arch",
                                            cost=None)
    assert np.isnan(no_test.top_threshold())  # no bar without a number


def test_a_nan_cost_is_refused_when_the_table_oracle_is_built(space: ToySpace) -> None:
    """A NaN cost made the cumulative cost NaN, and a search with max_cost never stopped."""
    frame = toy_table(space)
    frame.loc[3, "secs"] = np.nan
    with pytest.raises(ValueError, match=r"cost column 'secs' has 1 NaN value\(s\) \(e.g. row 4"):
        search.TableOracle.from_frame(frame, valid="val", test="tst", cost="secs", arch_column="arch")
    search.TableOracle.from_frame(frame, valid="val", test="tst", cost=None, arch_column="arch")  # not charged


def test_training_oracle_wraps_callables() -> None:
    timed = search.TrainingOracle(lambda arch: (90.0, 89.0))
    result = timed.query("a")
    assert result.valid == 90.0 and result.test == 89.0 and 0.0 <= result.cost_s < 1.0
    assert search.TrainingOracle(lambda arch: (90.0, 89.0, 12.5)).query("a") == (90.0, 89.0, 12.5)
    with pytest.raises(TypeError, match="must return"):
        search.TrainingOracle(lambda arch: 3.0).query("a")


def test_plain_callable_is_accepted_as_oracle(space: ToySpace) -> None:
    hist = search.run(space, "random", lambda a: (planted_value(a, TARGET), 0.0, 2.0), budget=5, seed=0)
    assert hist.total_cost_s == 10.0


# --- proxy resolution --------------------------------------------------------------------------------------
def test_proxy_names_resolve_table_then_store_then_live(space: ToySpace, tmp_path: Path) -> None:
    oracle = search.TableOracle.from_frame(toy_table(space), valid="val", test="tst", cost="secs",
                                           arch_column="arch", space=space)
    by_table = search.resolve_scorer("size", space, oracle)
    assert isinstance(by_table, search.TableScorer) and by_table.score((3, 3, 3, 3, 3)) == 15.0

    path = tmp_path / "s.db"
    with Store(path) as store:
        store.put_scores([ScoreRow("toy", space.to_str(a), "zc", "h", 0, "b", "cpu", float(sum(a)), 0.5, "ok")
                          for a in space.sample_many(20, seed=0)])
    def fake_engine(model: object, names: list[str], batch: object = None, seed: int = 0) -> dict[str, float]:
        return {names[0]: 42.0}

    by_store = search.resolve_scorer("zc", space, oracle, store=path, score_fn=fake_engine, batch=(None, None))
    known = space.sample_many(20, seed=0)
    assert isinstance(by_store, search.TableScorer)
    assert np.allclose(by_store(known), [sum(a) for a in known]) and by_store.seconds == pytest.approx(10.0)
    # what the store lacks is computed live (and its measured time charged)
    assert by_store.score(next(a for a in space.enumerate() if a not in known)) == 42.0
    assert by_store.seconds > 10.0
    no_fallback = search.TableScorer.from_store(path, space, "zc")
    assert np.isnan(no_fallback.score(next(a for a in space.enumerate() if a not in known)))

    live = search.resolve_scorer("synflow", space, oracle, store=path,
                                 score_fn=fake_engine, batch=(None, None))
    assert isinstance(live, search.LiveScorer)
    assert live.score(TARGET) == 42.0 and live.seconds > 0.0

    both = search.resolve_scorer("size+zc", space, oracle, store=path)
    assert isinstance(both, search.MeanRankScorer) and both([known[0], known[1]]).shape == (2,)


def test_params_alias_uses_the_table_column(space: ToySpace) -> None:
    frame = toy_table(space).rename(columns={"size": "params_M"})
    oracle = search.TableOracle.from_frame(frame, valid="val", test="tst", cost="secs", arch_column="arch")
    hist = search.run(space, "rea", oracle, budget=15, seed=0, warmup=("params", 100), table_seconds=0.5)
    assert hist.scorers == {"params": "TableScorer"}
    assert hist.proxy_seconds[0] == pytest.approx(50.0)
    assert sum(hist.queries[0].arch) >= 13  # the population starts from the biggest cells of the pool


@settings(max_examples=20, deadline=None)
@given(
    sizes=st.lists(st.integers(2, 4), min_size=2, max_size=4),
    algorithm=st.sampled_from(["random", "rea", "reinforce", "predictor"]),
    guided=st.booleans(),
    seed=st.integers(0, 1000),
    budget=st.integers(1, 25),
)
def test_invariants_on_random_small_spaces(
    sizes: list[int], algorithm: str, guided: bool, seed: int, budget: int
) -> None:
    space = ToySpace(sizes)
    target = tuple(s - 1 for s in sizes)
    kwargs: dict = {"epochs": 5, "ensemble_size": 2, "n_init": 3} if algorithm == "predictor" else {}
    if guided:
        kwargs["warmup"] = ("p", 10)
        kwargs["move"] = None if algorithm == "random" else "p"
        kwargs["proxy_scorer"] = search.FunctionScorer(space, planted_proxy(target, seed=seed), "p", seconds=0.5)
    hist = search.run(space, algorithm, planted_oracle(target, cost_s=3.0), budget=budget, seed=seed,
                      max_repeats=200, **kwargs)
    assert len(hist) <= budget and len(set(hist.keys)) == len(hist.keys)
    assert len(hist) == min(budget, len(space)) or hist.stopped
    steps = np.array(hist.train_seconds) + np.array(hist.proxy_seconds)
    assert np.allclose(np.cumsum(steps), [q.cumulative_cost_s for q in hist.queries])
    valid, _ = hist.incumbent()
    assert np.all(np.diff(valid) >= 0) and (not len(hist) or valid[-1] == hist.best().valid)


# --- proxy scores from the results store ---------------------------------------------------------------------
def test_table_scorer_reads_through_score_table_newest_nan_included(space: ToySpace, tmp_path: Path) -> None:
    """A rescore whose newest value is NaN is NaN for the search too (a groupby().last() skipped it), and rows of
    other seeds are neither mixed in silently nor read without the filter that picks them."""
    import time

    arch = (1, 1, 1, 1, 1)
    key = space.to_str(arch)
    with Store(tmp_path / "s.db") as store:
        store.put_scores([ScoreRow("toy", key, "zc", "h1", 0, "b", "cpu", 3.0, 0.5, "ok")])
        time.sleep(0.01)
        store.put_scores([ScoreRow("toy", key, "zc", "h1", 1, "b", "cpu", None, 0.7, "nan", "log of 0")])
    path = tmp_path / "s.db"
    with pytest.raises(ValueError, match="seed"):
        search.TableScorer.from_store(path, space, "zc")  # two seeds: refused with one line, not mixed
    newest = search.TableScorer.from_store(path, space, "zc", latest=True)
    assert np.isnan(newest.score(arch)) and newest.seconds == pytest.approx(0.7)
    seed0 = search.TableScorer.from_store(path, space, "zc", seed=0)
    assert seed0.score(arch) == 3.0 and seed0.seconds == pytest.approx(0.5)
    with pytest.raises(KeyError, match="no scores of proxy 'zc'"):
        search.TableScorer.from_store(path, space, "zc", device="cuda")


def test_stored_scores_without_a_time_are_not_free(space: ToySpace, tmp_path: Path) -> None:
    """An imported score without its time is charged the median of the timed ones (it was charged 0 s), or the
    stated ``untimed_seconds`` when none is timed; a truly measured 0 s stays 0."""
    archs = space.sample_many(5, seed=0)
    timing = [2.0, 4.0, 0.0, None, None]
    path = tmp_path / "s.db"
    with Store(path) as store:
        store.put_scores([ScoreRow("toy", space.to_str(a), "zc", "h", 0, "b", "cpu", float(sum(a)), t, "ok")
                          for a, t in zip(archs, timing, strict=True)])
        store.put_scores([ScoreRow("toy", space.to_str(a), "imported", "h", 0, "b", "cpu", 1.0, None, "ok")
                          for a in archs])
    mixed = search.TableScorer.from_store(path, space, "zc")
    charged = []  # cumulative seconds after each architecture
    for a in archs:
        mixed.score(a)
        charged.append(mixed.seconds)
    assert np.diff([0.0, *charged]) == pytest.approx([2.0, 4.0, 0.0, 2.0, 2.0])
    untimed = search.TableScorer.from_store(path, space, "imported", untimed_seconds=0.25)
    for a in archs:
        untimed.score(a)
    assert untimed.seconds == pytest.approx(5 * 0.25)
    resolved = search.resolve_scorer("imported", space, None, store=path, table_seconds=0.5)
    resolved.score(archs[0])
    assert resolved.seconds == pytest.approx(0.5)


def test_a_table_scorer_refuses_unknown_costs(space: ToySpace) -> None:
    """A NaN cost, or a scored architecture without a cost, is an error (both were charged 0 s); an architecture the
    table does not score costs nothing, and a measured 0 s stays 0."""
    a, b, c = space.sample_many(3, seed=0)
    ka, kb = space.to_str(a), space.to_str(b)
    with pytest.raises(ValueError, match="1 cost"):
        search.TableScorer(space, {ka: 1.0, kb: 2.0}, name="zc", seconds={ka: 0.5, kb: float("nan")})
    with pytest.raises(ValueError, match="NaN"):
        search.TableScorer(space, {ka: 1.0}, name="zc", seconds=float("nan"))
    partial = search.TableScorer(space, {ka: 1.0, kb: 2.0}, name="zc", seconds={ka: 0.0})
    assert partial.score(a) == 1.0 and partial.seconds == 0.0
    with pytest.raises(KeyError, match="no cost"):
        partial.score(b)
    assert np.isnan(partial.score(c)) and partial.seconds == 0.0  # not in the table: nothing computed


def test_live_scores_are_stored_and_reused_by_later_seeds(space: ToySpace, tmp_path: Path) -> None:
    """Seed 1 computes nothing new (seed 0 stored every score under `archrank score`'s key) but is charged the
    same proxy seconds, read from the store."""
    calls: list[tuple] = []

    def engine(model: object, names: list[str], batch: object = None, seed: int = 0) -> dict[str, float]:
        calls.append(names[0])
        return {names[0]: float(model[-1].in_features)}  # the toy model's width: 4 + sum(arch)

    small = ToySpace((3, 3, 3))
    path = tmp_path / "r.db"
    kwargs = dict(budget=8, warmup=("synflow", len(small)), move="synflow", store=path,
                  live_kwargs={"score_fn": engine, "batch": (None, None)})
    first = search.run(small, "rea", planted_oracle((1, 2, 0)), seed=0, **kwargs)
    computed = len(calls)
    assert computed == len(small)  # the warmup pool is the whole space: every cell scored once
    second = search.run(small, "rea", planted_oracle((1, 2, 0)), seed=1, **kwargs)
    assert len(calls) == computed  # nothing new computed
    assert sum(second.proxy_seconds) == pytest.approx(sum(first.proxy_seconds)) and sum(first.proxy_seconds) > 0
    with Store(path) as store:
        rows = store.scores(space="toy", proxies=["synflow"])
    from archrank.runner import config_hashes, model_config

    assert len(rows) == len(small) and set(rows["batch_hash"]) == {"none"} and set(rows["seed"]) == {0}
    assert set(rows["config_hash"]) == {config_hashes(["synflow"], model_config(small, 10, {}))["synflow"]}
    table = search.TableScorer.from_store(path, small, "synflow")
    assert table.score((1, 2, 0)) == 7.0 and len(calls) == computed


@pytest.mark.parametrize("how", ["engine", "score_fn"])
def test_live_minus_inf_is_a_score_live_and_read_back(space: ToySpace, tmp_path: Path, how: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Synflow's disconnected cell is -inf, a known worst score (status ok): it was turned into NaN with status
    "ok", and storing it raised ValueError mid-search."""
    import math

    from archrank.proxies.engine import ProxyResult

    def engine(space_: object, arch: tuple, names: list[str], *args: object, **kwargs: object) -> dict:
        return {n: ProxyResult(-math.inf if sum(arch) == 0 else float(sum(arch)), 0.5, "ok") for n in names}

    def score_fn(model: object, names: list[str], batch: object = None, seed: int = 0) -> dict[str, float]:
        return {names[0]: -math.inf if model[-1].in_features == 4 else 1.0}  # the toy model's width: 4 + sum(arch)

    kwargs: dict = {"batch": (None, None)}
    if how == "engine":
        monkeypatch.setattr("archrank.runner.score_arch", engine)
    else:
        kwargs["score_fn"] = score_fn
    archs = [(0, 0, 0, 0, 0), (1, 0, 0, 0, 0)]
    alone = search.LiveScorer(space, "synflow", **kwargs)(archs)
    with Store(tmp_path / "s.db") as store:
        stored = search.LiveScorer(space, "synflow", store=store, **kwargs)(archs)
        again = search.LiveScorer(space, "synflow", store=store, **kwargs)
        read = again(archs)
        rows = store.scores(space="toy", proxies=["synflow"])
    assert alone[0] == stored[0] == read[0] == -math.inf and again.computed == 0
    assert np.isfinite(alone[1]) and alone[1] == stored[1] == read[1]
    assert set(rows["status"]) == {"ok"}


def test_live_scorers_close_the_stores_they_open(space: ToySpace, tmp_path: Path,
                                                 store_lifetimes: tuple[list, list]) -> None:
    """A LiveScorer opened a Store from a path and never closed it; a search's live scores now go through the
    search's own store."""
    def engine(model: object, names: list[str], batch: object = None, seed: int = 0) -> dict[str, float]:
        return {names[0]: float(model[-1].in_features)}

    opened, closed = store_lifetimes
    live = {"score_fn": engine, "batch": (None, None)}
    path = tmp_path / "r.db"
    search.run(space, "rea", planted_oracle(TARGET), budget=4, warmup=("synflow", 5), store=path, live_kwargs=live)
    assert len(opened) == 1 and closed == opened  # the search's store, also for the live scores
    with search.LiveScorer(space, "synflow", store=path, **live) as scorer:
        scorer([(0, 0, 0, 0, 0)])
    assert len(opened) == 2 and closed == opened
    with Store(path) as store:
        given = search.LiveScorer(space, "synflow", store=store, **live)
        given([(1, 0, 0, 0, 0)])
        given.close()
        assert store.count()  # a store given open stays open: its owner closes it
