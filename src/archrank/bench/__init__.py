"""Evaluate and combine proxies: ground-truth loaders, rank metrics, ensembles, the evaluator.

- metrics (``(pred, truth)`` arrays, NaN policy explicit): :func:`spearman`, :func:`kendall`, :func:`pearson`,
  :func:`topk_precision`, :func:`topk_recall`, :func:`true_best_rank`, :func:`bootstrap_ci`, :func:`clean_pairs`;
- ensembles: :data:`ENSEMBLE_PROXIES`, :func:`aggregate` (label-free), :func:`fit_combination` /
  :func:`held_out_curve` (learned from k labels);
- ground truth: :func:`load_table`, :func:`load_nb201_cifar10`, :func:`load_suite_zero`,
  :func:`load_naslib_nb201`, :func:`load_nb201_api`, :func:`load_analog_nasbench`, :func:`load_truth`;
- the evaluator :func:`evaluate` -> :class:`Evaluation`, and :func:`write_report` (matplotlib, loaded on use);
- the whole pipeline, store -> truth -> evaluation -> report on disk: :func:`run_evaluation` (``archrank evaluate``);
- from a sample to the whole space: :mod:`archrank.bench.estimate` (a control-variate estimate of a Spearman).

Importing this package loads neither matplotlib nor any optional benchmark package.
"""

from __future__ import annotations

from archrank.bench.cross_space import evaluate_space
from archrank.bench.ensemble import (
    DEFAULT_METHOD,
    ENSEMBLE_PROXIES,
    LABEL_FREE_METHODS,
    Combination,
    aggregate,
    fit_combination,
    held_out_curve,
)
from archrank.bench.evaluate import Evaluation, evaluate
from archrank.bench.loaders import (
    GroundTruthError,
    SuiteZero,
    load_analog_nasbench,
    load_naslib_nb201,
    load_nb201_api,
    load_suite_zero,
)
from archrank.bench.members import MemberRule, MemberSelection, robust_aggregate, select_members
from archrank.bench.metrics import (
    NanReport,
    bootstrap_ci,
    clean_pairs,
    kendall,
    pearson,
    spearman,
    topk_precision,
    topk_recall,
    true_best_rank,
)
from archrank.bench.pipeline import run_evaluation
from archrank.bench.report import ReportInfo, write_report
from archrank.bench.tables import load_nb201_cifar10, load_table
from archrank.bench.truth import Truth, load_truth

__all__ = [
    "DEFAULT_METHOD",
    "ENSEMBLE_PROXIES",
    "LABEL_FREE_METHODS",
    "Combination",
    "Evaluation",
    "GroundTruthError",
    "MemberRule",
    "MemberSelection",
    "NanReport",
    "ReportInfo",
    "SuiteZero",
    "Truth",
    "aggregate",
    "bootstrap_ci",
    "clean_pairs",
    "evaluate",
    "evaluate_space",
    "fit_combination",
    "held_out_curve",
    "kendall",
    "load_analog_nasbench",
    "load_naslib_nb201",
    "load_nb201_api",
    "load_nb201_cifar10",
    "load_suite_zero",
    "load_table",
    "load_truth",
    "pearson",
    "robust_aggregate",
    "run_evaluation",
    "select_members",
    "spearman",
    "topk_precision",
    "topk_recall",
    "true_best_rank",
    "write_report",
]
