"""EZNAS: discover zero-cost proxies by genetic programming (issue 6).

Akhauri, Muñoz, Jain & Iyer, "EZNAS: Evolving Zero-Cost Proxies for Neural Architecture Scoring", NeurIPS 2022.
A proxy is a typed expression tree over per-block network statistics, searched with DEAP's strongly-typed GP,
fitness = minimum over tasks of the rank correlation with trained accuracy. Blocks are ReLU → Conv → BN triples
(``RCBBlock``, NB201/DARTS-style cells) or, in networks without any, Conv → BN → ReLU blocks (``CBRBlock``, ResNet-
style); ``find_blocks`` picks the kind per network as the authors' code does.

Public API::

    from archrank.eznas import Program, extract_stats, StatsBatch, evaluate, run_gp, GPConfig, Task
    stats = extract_stats(model, x)                          # 22 statistics per block (RCB, else CBR)
    find_blocks(model, x)                                    # the blocks they are read from
    evaluate("frobenius_norm(sigmoid(logdet(sign(input_grad_data))))", StatsBatch([stats]))
    create_proxy("eznas")                                    # the published program EZNAS-A
    create_proxy("eznas", program="mean_abs(act_grad_noise)")  # any program

Importing this package registers the ``eznas`` proxy.
"""

from __future__ import annotations

from archrank.eznas.gp import GPConfig, GPResult, Task, fitness_key, program_fitness, run_gp
from archrank.eznas.primitives import PRIMITIVES, Scalar, Tensor
from archrank.eznas.program import Program, StatsBatch, build_pset, evaluate
from archrank.eznas.proxy import EZNAS_A, EZNAS_A_WEIGHT_GRAD_NOISE
from archrank.eznas.stats import (
    STATS_FORMAT_VERSION,
    TERMINALS,
    Block,
    CBRBlock,
    NetworkStats,
    RCBBlock,
    StatsCache,
    StatsConfig,
    Summary,
    extract_stats,
    extract_stats_views,
    find_blocks,
    find_cbr_blocks,
    find_rcb_blocks,
)
from archrank.eznas.store import EznasStore, FitnessRecord

__all__ = [
    "EZNAS_A",
    "EZNAS_A_WEIGHT_GRAD_NOISE",
    "PRIMITIVES",
    "STATS_FORMAT_VERSION",
    "TERMINALS",
    "Block",
    "CBRBlock",
    "EznasStore",
    "FitnessRecord",
    "GPConfig",
    "GPResult",
    "NetworkStats",
    "Program",
    "RCBBlock",
    "Scalar",
    "StatsBatch",
    "StatsCache",
    "StatsConfig",
    "Summary",
    "Task",
    "Tensor",
    "build_pset",
    "evaluate",
    "extract_stats",
    "extract_stats_views",
    "find_blocks",
    "find_cbr_blocks",
    "find_rcb_blocks",
    "fitness_key",
    "program_fitness",
    "run_gp",
]
