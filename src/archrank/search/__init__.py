"""Proxy-guided architecture search: random search, regularised evolution, REINFORCE and a predictor-based
search behind one ask/tell interface, with zero-cost **warmup** and **move proposal** (Abdelfattah et al.,
ICLR 2021), table and training oracles, cost accounting, SQLite persistence and resume.

    from archrank import search
    hist = search.run(space, algorithm="rea",
                      oracle=search.TableOracle.from_csv(path, valid="cifar10_valid_acc",
                                                         test="cifar10_test_acc",
                                                         cost="cifar10valid_train_time_200ep_s"),
                      budget=300, warmup=("synflow", 3000), move="synflow", seed=0)
    hist.queries   # [(arch, valid_acc, test_acc, cumulative_cost_s), ...] in query order
"""

from __future__ import annotations

from archrank.search.guidance import MoveProposal, Warmup
from archrank.search.history import History, HistoryDB, Query
from archrank.search.oracles import (
    CallableOracle,
    Fidelity,
    Oracle,
    OracleResult,
    TableOracle,
    TrainingOracle,
    econas_oracle,
)
from archrank.search.proxy import (
    FunctionScorer,
    LiveScorer,
    MeanRankScorer,
    ProxyScorer,
    TableScorer,
    resolve_scorer,
)
from archrank.search.run import run, run_many
from archrank.search.samplers import (
    ALGORITHMS,
    HierarchicalEvolution,
    PredictorSearch,
    RandomSearch,
    RegularizedEvolution,
    Reinforce,
    Sampler,
)

__all__ = [
    "ALGORITHMS",
    "CallableOracle",
    "Fidelity",
    "FunctionScorer",
    "HierarchicalEvolution",
    "History",
    "HistoryDB",
    "LiveScorer",
    "MeanRankScorer",
    "MoveProposal",
    "Oracle",
    "OracleResult",
    "PredictorSearch",
    "ProxyScorer",
    "Query",
    "RandomSearch",
    "RegularizedEvolution",
    "Reinforce",
    "Sampler",
    "TableOracle",
    "TableScorer",
    "TrainingOracle",
    "Warmup",
    "econas_oracle",
    "resolve_scorer",
    "run",
    "run_many",
]
