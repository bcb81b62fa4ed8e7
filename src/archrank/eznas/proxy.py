"""EZNAS programs as zero-cost proxies: ``create_proxy("eznas", program="...")``; the default is the published one.

The shipped program, EZNAS-A of Akhauri, Muñoz, Jain & Iyer, "EZNAS: Evolving Zero-Cost Proxies for Neural
Architecture Scoring", NeurIPS 2022 (the program the authors evolved on NDS-DARTS CIFAR-10 and report on every
space), is::

    frobenius_norm(sigmoid(logdet(sign(input_grad_data))))

per block, averaged over blocks: the ReLU-Conv-BN blocks of NB201/NB301/NDS cell networks, or, in networks that
have none (NB101, the NDS ResNet/ResNeXt/Vanilla stage networks), their Conv-BN-ReLU blocks, where ``input_grad``
is the gradient with respect to the conv's input through that conv, as the authors' code reads it for NDS networks
(:func:`archrank.eznas.stats.find_blocks`, ``docs/results/eznas/blocks.md``).

**Provenance, stated plainly.** We could not read the paper's own text here; the expression is taken from the
authors' released code (github.com/IntelLabs/Hardware-Aware-Automated-Machine-Learning, ``EZNAS/evol_utilities.py``,
``get_individual("darts")``, evaluated by ``verify_scores.py`` whose README reports NB201 CIFAR-10 Kendall τ 0.620 /
Spearman ρ 0.808 at batch size 16). There the tree is ``OP18(OP29(OP20(OP14(ARG8))))`` = Frobenius norm ∘ sigmoid ∘
log-determinant ∘ sign, and the argument ``ARG8`` resolves — through ``populate()``'s ``fixed_ordering[i - 1]``
lookup and the key order of the statistics dictionaries the code builds — to ``inpactgraddata``: the gradient of
Σ(pooled features) with respect to the RCB block's input (the ReLU input) *through that block* (their backward hook
on the ReLU), for the data batch, our ``input_grad_data``. Run side by side with the authors' code on the same
networks, weights and inputs (``benchmarks/eznas_vs_authors.py``, ``docs/results/eznas/agreement.md``) all 22
statistics agree exactly. The same code's plotting helper labels that argument ``dataset_order[8]`` =
``wtgradnoise`` (the conv-weight gradient under noise), and secondary summaries of the paper describe EZNAS-A's
input that way; that reading is available as :data:`EZNAS_A_WEIGHT_GRAD_NOISE`. On NB201 CIFAR-10 only
``input_grad_data`` reproduces the published correlation (see ``docs/results/eznas``), so it is the default.

As in the reference, statistics come from a re-initialised copy (conv Kaiming-normal fan-out, BN γ=1 β=0, linear
N(0, 0.01²)), in train mode, with gradients of Σ of the input of the last linear layer (``grad_target``). Summary
options (``max_samples``, ``max_channels``, ``max_spatial``; 0 = whole) must match those a program was evolved with.
"""

from __future__ import annotations

import math
from typing import Any

from archrank.eznas.program import Program, StatsBatch, evaluate
from archrank.eznas.stats import StatsConfig, Summary, extract_stats
from archrank.proxies.registry import ScoreNaN, register_proxy

__all__ = ["CITATION", "EZNAS_A", "EZNAS_A_WEIGHT_GRAD_NOISE", "eznas_score"]

EZNAS_A = "frobenius_norm(sigmoid(logdet(sign(input_grad_data))))"
"""EZNAS-A as computed by the authors' released code (see the module docstring)."""

EZNAS_A_WEIGHT_GRAD_NOISE = "frobenius_norm(sigmoid(logdet(sign(weight_grad_noise))))"
"""The same tree read with the reference's plot labels (conv-weight gradient under noise); for comparison only."""

CITATION = (
    "Akhauri, Muñoz, Jain & Iyer, EZNAS: Evolving Zero-Cost Proxies for Neural Architecture Scoring, NeurIPS 2022 "
    "(program EZNAS-A as in the authors' code, IntelLabs/Hardware-Aware-Automated-Machine-Learning/EZNAS)"
)


def eznas_score(probe: Any, program: Program, config: StatsConfig, summary: Summary) -> float:
    """Score the probe's model with ``program`` (statistics cached on the probe per config and terminal set)."""
    if probe.x is None:
        raise ValueError("eznas needs a data batch (batch=None was given)")
    terminals = tuple(sorted(program.terminals))
    key = ("eznas_stats", config, summary, terminals)

    def compute() -> Any:
        return extract_stats(
            probe.model,
            probe.x,
            seed=probe.seed,
            config=config,
            summary=summary,
            terminals=terminals,
            device=probe.device,
        )

    stats = probe.cached(key, compute, pass_id="eznas")
    if not stats.layers:
        raise ScoreNaN("the model has no ReLU-Conv2d-BatchNorm2d or Conv2d-BatchNorm2d-ReLU blocks")
    value = float(evaluate(program, StatsBatch([stats], terminals))[0])
    if not math.isfinite(value):
        raise ScoreNaN(f"program {program.text} is NaN/inf on some block")
    return value


@register_proxy(
    "eznas",
    requires=(),
    needs_data=True,
    needs_labels=False,
    needs_gradients=True,
    bn_mode="train",
    citation=CITATION,
    # 2: input_grad through the block only, as the authors' code (issue 17); 3: Conv-BN-ReLU blocks where a network
    # has no ReLU-Conv-BN block (NaN before; values of ReLU-Conv-BN networks unchanged, bit for bit); 4: logdet 0
    # where torch.logdet is NaN because the LU breaks down, as the reference (LOG_FLOOR before; 37 of 1000 NB201 cells)
    version=4,
)
def eznas(
    probe: Any,
    *,
    program: str = EZNAS_A,
    grad_target: str = "features",
    init: str = "eznas",
    perturb_var: float = 0.01,
    max_samples: int = 0,
    max_channels: int = 0,
    max_spatial: int = 0,
) -> float:
    """An EZNAS program (default: the published EZNAS-A) averaged over the model's ReLU-Conv-BN blocks (its
    Conv-BN-ReLU blocks if it has none).

    ``program`` is any program string (see :mod:`archrank.eznas.program`); the other options are the statistics
    settings of :class:`~archrank.eznas.stats.StatsConfig` and :class:`~archrank.eznas.stats.Summary`. Labels are
    not used (gradients of Σ output); only the passes the program needs (data / noise / perturbed) are run.
    """
    return eznas_score(
        probe,
        Program.parse(program),
        StatsConfig(grad_target=grad_target, init=init, perturb_var=perturb_var),
        Summary(max_samples, max_channels, max_spatial),
    )
