"""Search algorithms on a small synthetic space with a planted optimum; warmup and move proposal semantics."""

from __future__ import annotations

import random

import numpy as np
import pytest

from archrank import search
from archrank.search.guidance import MoveProposal, Warmup, order_best_first
from archrank.search.toy import ToySpace, planted_oracle, planted_proxy, planted_value

TARGET = (1, 2, 3, 0, 1)
FAST_PREDICTOR = {"epochs": 60, "ensemble_size": 3, "hidden": 16, "batch_size": 5}


@pytest.fixture()
def space() -> ToySpace:
    return ToySpace((4, 4, 4, 4, 4))


def proxy_scorer(space: ToySpace, seconds: float = 0.5) -> search.FunctionScorer:
    return search.FunctionScorer(space, planted_proxy(TARGET, noise=10.0), name="planted", seconds=seconds)


@pytest.mark.parametrize(
    ("algorithm", "budget", "kwargs"),
    [
        ("rea", 200, {}),
        ("reinforce", 250, {"lr": 0.1}),
        ("predictor", 60, FAST_PREDICTOR),
    ],
)
def test_each_algorithm_finds_the_planted_optimum(space: ToySpace, algorithm: str, budget: int, kwargs: dict) -> None:
    for seed in (0, 1):
        hist = search.run(space, algorithm, planted_oracle(TARGET), budget=budget, seed=seed, **kwargs)
        assert hist.best().arch == TARGET, (algorithm, seed, hist.best())
        assert len(hist) <= budget
        assert len(set(hist.keys)) == len(hist.keys), "an architecture was trained twice"


def test_random_search_covers_a_small_space_without_repeats() -> None:
    space = ToySpace((4, 4, 4))
    target = (3, 0, 2)
    hist = search.run(space, "random", planted_oracle(target), budget=len(space), seed=3)
    assert len(hist) == len(space) and len(set(hist.keys)) == len(space)
    assert hist.best().arch == target


def test_guided_variants_find_the_optimum_with_fewer_queries(space: ToySpace) -> None:
    def hits(**kw: object) -> list[int]:
        out = []
        for seed in range(4):
            hist = search.run(space, "rea", planted_oracle(TARGET), budget=300, seed=seed,
                              proxy_scorer=proxy_scorer(space), **kw)
            out.append(hist.first_reach(100.0 - 1e-9) or 10**6)
        return out

    plain = np.median(hits())
    guided = np.median(hits(warmup=("planted", 300), move="planted"))
    assert guided < plain


def test_warmup_pool_is_ordered_by_proxy_score(space: ToySpace) -> None:
    scorer = proxy_scorer(space, seconds=0.0)
    warm = Warmup.compute(space, scorer, 200, seed=1)
    assert len(warm) == 200 and len({space.key(a) for a in warm.archs}) == 200
    assert np.all(np.diff(warm.scores) <= 0)
    assert np.allclose(warm.scores, scorer(warm.archs))


@pytest.mark.parametrize(("algorithm", "n_seeded", "kwargs"), [
    ("rea", 10, {}),
    ("rea", 16, {"population_size": 16, "sample_size": 4}),
    ("random", 25, {"warmup_picks": 25}),
    ("reinforce", 10, {}),
    ("predictor", 10, FAST_PREDICTOR),
])
def test_warmup_seeds_the_algorithm_with_the_proxys_top_picks(
    space: ToySpace, algorithm: str, n_seeded: int, kwargs: dict
) -> None:
    scorer = proxy_scorer(space, seconds=0.0)
    hist = search.run(space, algorithm, planted_oracle(TARGET), budget=n_seeded, seed=5, warmup=("planted", 300),
                      proxy_scorer=scorer, **kwargs)
    expected = Warmup.compute(space, proxy_scorer(space, 0.0), 300, seed=_warm_rng(5)).top(n_seeded)
    assert [q.arch for q in hist.queries] == expected
    pool = space.sample_many(300, seed=_warm_rng(5))
    best = sorted(scorer(pool), reverse=True)[:n_seeded]
    assert np.allclose(scorer(expected), best)


def _warm_rng(seed: int) -> random.Random:
    """The warmup generator ``search.run`` derives from its seed."""
    master = random.Random(seed)
    return random.Random(master.getrandbits(64))


def test_rea_initial_population_is_the_warmup_top(space: ToySpace) -> None:
    warm = Warmup.compute(space, proxy_scorer(space, 0.0), 100, seed=0)
    sampler = search.RegularizedEvolution(space, seed=0, warmup=warm, population_size=8)
    oracle = planted_oracle(TARGET)
    asked = []
    for _ in range(8):
        arch = sampler.ask()
        asked.append(arch)
        sampler.tell(arch, oracle.query(arch).valid)
    assert asked == warm.top(8)
    assert [a for a, _ in sampler.population] == warm.top(8)


def test_move_proposal_picks_the_best_scored_neighbour(space: ToySpace) -> None:
    scorer = proxy_scorer(space, seconds=0.0)
    mover = MoveProposal(space, scorer, random_prob=0.0)
    rng = random.Random(0)
    for parent in space.sample_many(20, seed=2):
        neighbours = space.neighbours(parent)
        best = neighbours[int(np.argmax(scorer(neighbours)))]
        assert mover.propose(parent, rng) == best
        # an already-trained best neighbour is skipped in favour of the best fresh one
        fresh = [n for n in neighbours if n != best]
        second = fresh[int(np.argmax(scorer(fresh)))]
        assert mover.propose(parent, rng, exclude={space.key(best)}) == second


def test_move_proposal_random_probability(space: ToySpace) -> None:
    scorer = proxy_scorer(space, seconds=0.0)
    parent = (0, 0, 0, 0, 0)
    neighbours = space.neighbours(parent)
    best = neighbours[int(np.argmax(scorer(neighbours)))]
    always_random = MoveProposal(space, scorer, random_prob=1.0)
    rng = random.Random(1)
    picks = [always_random.propose(parent, rng) for _ in range(300)]
    assert len(set(picks)) > len(neighbours) // 2
    half = MoveProposal(space, scorer, random_prob=0.5)
    share = np.mean([half.propose(parent, rng) == best for _ in range(400)])
    assert 0.45 < share < 0.65  # 0.5 + 0.5 / len(neighbours)


def test_rea_with_move_uses_the_proposal(space: ToySpace) -> None:
    """With random_prob=0 every child after the initial population is the parent's best-scored fresh neighbour."""
    scorer = proxy_scorer(space, seconds=0.0)
    sampler = search.RegularizedEvolution(space, seed=3, move=MoveProposal(space, scorer, 0.0), population_size=5,
                                          sample_size=2)
    oracle = planted_oracle(TARGET)
    for step in range(40):
        arch = sampler.ask()
        if step >= 5:
            parents = [a for a, _ in sampler.population]
            assert any(arch in space.neighbours(p) for p in parents)
            assert space.key(arch) not in sampler.observed or all(
                space.key(n) in sampler.observed for p in parents for n in space.neighbours(p)
            )
        sampler.tell(arch, oracle.query(arch).valid)


def test_move_is_refused_for_random_search(space: ToySpace) -> None:
    with pytest.raises(ValueError, match="move proposal does not apply"):
        search.run(space, "random", planted_oracle(TARGET), budget=5, move="planted",
                   proxy_scorer=proxy_scorer(space))


def test_reinforce_policy_gradient_moves_toward_rewarded_choices(space: ToySpace) -> None:
    sampler = search.Reinforce(space, seed=0, lr=0.05)
    for _ in range(200):
        arch = sampler.sample_policy()
        sampler.tell(arch, planted_value(arch, TARGET))
    probs = sampler.probabilities()
    assert all(int(np.argmax(p)) == t for p, t in zip(probs, TARGET, strict=True))


def test_order_best_first_puts_nan_last() -> None:
    assert list(order_best_first(np.array([1.0, np.nan, 3.0, 3.0]))) == [2, 3, 0, 1]


def test_unknown_algorithm_is_a_clear_error(space: ToySpace) -> None:
    with pytest.raises(ValueError, match="unknown algorithm 'bohb'"):
        search.run(space, "bohb", planted_oracle(TARGET), budget=5)


def test_reinforce_nan_reward_counts_as_the_worst_and_keeps_the_policy_finite(space: ToySpace) -> None:
    """A failed training (NaN) once made the baseline, Adam and the logits NaN for ever (one arch proposed)."""
    sampler = search.Reinforce(space, seed=0)
    sampler.tell((0, 0, 0, 0, 0), float("nan"))  # before any number: nothing to rank against, no update
    assert sampler.baseline is None and all(np.all(p == 0.0) for p in sampler.logits)
    archs = [(1, 2, 0, 0, 0), (0, 0, 0, 0, 0), (1, 2, 3, 3, 3)]
    values = [planted_value(a, TARGET) for a in archs]
    for arch, value in zip(archs, values, strict=True):
        sampler.tell(arch, value)
    baseline, failed = sampler.baseline, (3, 3, 3, 3, 3)
    before = np.prod([p[c] for p, c in zip(sampler.probabilities(), failed, strict=True)])
    sampler.tell(failed, float("nan"))
    assert sampler.baseline == pytest.approx(0.9 * baseline + 0.1 * min(values))
    assert all(np.all(np.isfinite(p)) for p in sampler.logits)
    after = np.prod([p[c] for p, c in zip(sampler.probabilities(), failed, strict=True)])
    assert after < before  # pushed away from the failed architecture
    assert len({sampler.sample_policy() for _ in range(20)}) > 1


def test_predictor_ranks_a_nan_observation_lowest(space: ToySpace) -> None:
    """A failed training (NaN) once made every regression target NaN, and the ensemble's weights with it, and it
    could be the first parent whose neighbours form the candidate pool."""
    sampler = search.PredictorSearch(space, seed=0, n_init=6, batch_size=3, epochs=20, ensemble_size=2,
                                     n_parents=1, n_random=0)
    failed, good = (0, 0, 0, 0, 0), (1, 2, 3, 0, 0)
    sampler.tell(failed, float("nan"))
    for arch in [good, (3, 3, 3, 3, 3), (2, 2, 2, 2, 2)]:
        sampler.tell(arch, planted_value(arch, TARGET))
    fresh = [a for a in space.neighbours(good) if sampler.is_new(a)]
    assert sampler.candidates() == fresh  # the one parent is the best number, not the NaN
    sampler._plan()
    assert all(np.isfinite(p.detach().numpy()).all() for pair in sampler.model.params for p in pair)


def test_hierarchical_never_promotes_a_failed_training(space: ToySpace) -> None:
    """With fewer numbers than ``promote_top`` in a level, NaN members (failed trainings) were promoted to the
    expensive fidelity."""
    sampler = search.HierarchicalEvolution(space, seed=0, levels=2, initial=3, promote_every=1, promote_top=5)
    told: dict[tuple, float] = {}
    promoted = []
    for step in range(10):
        arch, level = sampler.propose()
        if level == 1:
            promoted.append(arch)
        told.setdefault(arch, float("nan") if step % 2 == 0 else planted_value(arch, TARGET))
        sampler.tell(arch, told[arch], level)
    assert promoted and all(not np.isnan(told[a]) for a in promoted)


def test_move_proposal_picks_a_random_fresh_candidate_when_every_score_is_nan(space: ToySpace) -> None:
    """With no number to rank by, the first fresh neighbour always won."""
    nan_proxy = search.FunctionScorer(space, lambda arch: float("nan"), name="nan")
    move = MoveProposal(space, nan_proxy, random_prob=0.0)
    parent = (0, 0, 0, 0, 0)
    trained = {space.key(space.neighbours(parent)[0])}
    rng = random.Random(0)
    picks = {move.propose(parent, rng, exclude=trained) for _ in range(30)}
    assert len(picks) > 1 and not {space.key(p) for p in picks} & trained


def test_rea_start_with_and_warmup_picks_are_proposed_once(space: ToySpace) -> None:
    """A warmup pick also in ``start_with`` was proposed twice: a free repeat that entered the population twice."""
    warm = Warmup.compute(space, proxy_scorer(space, 0.0), 100, seed=0)
    start = [warm.archs[1], warm.archs[1]]
    sampler = search.RegularizedEvolution(space, seed=0, warmup=warm, population_size=4, start_with=start)
    asked = []
    for _ in range(4):
        asked.append(sampler.ask())
        sampler.tell(asked[-1], planted_value(asked[-1], TARGET))
    assert asked == [warm.archs[1], warm.archs[0], warm.archs[2], warm.archs[3]]
