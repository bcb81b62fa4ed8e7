"""The four AZ-NAS components (Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search",
CVPR 2024), each registered as its own proxy; AZ-NAS itself ranks architectures by Σ_i log(rank_i / m) over them.

One shared ``az`` pass (:mod:`archrank.proxies.passes.az`), as in the official code: the network with
Kaiming-normal parameters (fan-in, ReLU gain; biases 0; BatchNorm γ=1, β=0), one train-mode forward, and the
feature map after the stem and after every block. Expressivity and progressivity read the features' channel
covariances (a forward without gradients suffices when they are asked alone); trainability reads the block-wise
vector-Jacobian cross-moments; requested together they share one run. Blocks default to the model's top-level
children with containers of composite modules expanded and the head after the last block removed — for
NAS-Bench-201: the stem, the 15 cells and the two residual blocks (18 features, the official
``extract_cell_features``); a ``blocks`` config names them explicitly.

Inputs: standard Gaussian noise of the batch's shape (``inputs="gaussian"``, the default), as in the official
NAS-Bench-201 code, which scores AZ-NAS with ``trainloader=None`` and hence ``torch.randn`` inputs (batch 64);
the batch's values are not used. ``inputs="data"`` feeds the real batch instead, which ranks much worse (100
seeded NAS-Bench-201 cells vs CIFAR-10 test accuracy: progressivity ρ 0.32 instead of 0.73, the AZ-NAS aggregate
of the four components 0.79 instead of 0.91; the paper reports 0.91 on all 15625 cells).

Undefined scores: the official code turns a NaN component into −inf and scores an identity block −inf, so such
architectures rank last when the ranks are aggregated. archrank records them as status ``nan`` with the reason
(never as a number); rank aggregation puts them last with ``nan_policy="worst"``, which reproduces AZ-NAS.
"""

from __future__ import annotations

import itertools
import math

import torch

from archrank.proxies.cost import count_flops
from archrank.proxies.probe import Probe
from archrank.proxies.registry import ScoreNaN, register_proxy

_AZNAS = "Lee & Ham, AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search, CVPR 2024"


def isotropy_entropy(covariance: torch.Tensor) -> float:
    """AZ-NAS expressivity of one feature map from its channel covariance: entropy of the normalised eigenvalues.

    A feature without variance (e.g. the all-zero output of a disconnected NAS-Bench-201 cell) has no spectrum to
    normalise: NaN, as in the official code (which then scores the architecture −inf).
    """
    eig = torch.linalg.eigvalsh(covariance).clamp_min(0.0)
    total = eig.sum()
    if not total > 0:
        return math.nan
    prob = eig / total
    return float((-prob * torch.log(prob + 1e-8)).sum())


def block_trainability(cross_moment: torch.Tensor | None) -> float:
    """AZ-NAS trainability of one block: −σ − 1/σ + 2 with σ the top singular value of the VJP cross-moment
    (−inf for an identity block, ``None``, as in the reference)."""
    if cross_moment is None:
        return -math.inf
    sigma = float(torch.linalg.svdvals(cross_moment).max())
    return -sigma - 1.0 / (sigma + 1e-6) + 2.0


def _expressivity(probe: Probe, init: str, blocks: tuple[str, ...] | list[str], inputs: str, batch_size: int) -> list:
    covariances = _az(probe, "az_covariances", init, blocks, inputs, batch_size)["covariances"]
    return [isotropy_entropy(c) for c in covariances]


def _az(
    probe: Probe, product: str, init: str, blocks: tuple[str, ...] | list[str], inputs: str, batch_size: int
) -> dict:
    options = {"init": str(init), "blocks": tuple(blocks), "inputs": str(inputs), "batch_size": int(batch_size)}
    return probe.get(product, **options)


@register_proxy("az_expressivity", requires=("az_covariances",), needs_data=False, citation=_AZNAS, version=3)
def az_expressivity(
    probe: Probe,
    *,
    init: str = "kaiming_normal_fan_in",
    blocks: tuple[str, ...] = (),
    inputs: str = "gaussian",
    batch_size: int = 0,
) -> float:
    """az_expressivity: Σ over block features of the entropy −Σ p log(p + 1e-8) of the normalised eigenvalues of
    the channel covariance (positions × samples as observations) — isotropy of the feature space (AZ-NAS, s_E).

    Gaussian inputs by default (``inputs``, ``batch_size``: see the module docstring). Deviations from the
    official code: eigenvalues are computed in float64 and clamped at 0 before normalising (in float32,
    round-off makes them slightly negative for ill-conditioned features, e.g. skip/pool-only NAS-Bench-201 cells
    whose scale grows block by block; the official code then gets NaN and scores −inf). A feature without
    variance (a disconnected cell's zeros) has no defined entropy: status ``nan`` (official: NaN → −inf).
    """
    values = _expressivity(probe, init, blocks, inputs, batch_size)
    _require_defined(values)
    return float(sum(values))


def _require_defined(entropies: list[float]) -> None:
    if not all(math.isfinite(v) for v in entropies):
        raise ScoreNaN("a block's features have no variance (e.g. a cell cut off from the input): entropy undefined")


@register_proxy("az_progressivity", requires=("az_covariances",), needs_data=False, citation=_AZNAS, version=3)
def az_progressivity(
    probe: Probe,
    *,
    init: str = "kaiming_normal_fan_in",
    blocks: tuple[str, ...] = (),
    inputs: str = "gaussian",
    batch_size: int = 0,
) -> float:
    """az_progressivity: min over consecutive blocks of the increase of expressivity, s_E(l) − s_E(l−1) (AZ-NAS,
    s_P). Needs at least two block features. Gaussian inputs by default; the per-block entropies are those of
    ``az_expressivity`` (a variance-free feature makes it ``nan``, as there)."""
    values = _expressivity(probe, init, blocks, inputs, batch_size)
    if len(values) < 2:
        raise ValueError("az_progressivity needs at least two block features")
    _require_defined(values)
    return float(min(b - a for a, b in itertools.pairwise(values)))


@register_proxy("az_trainability", requires=("az_cross_moments",), needs_data=False, citation=_AZNAS, version=3)
def az_trainability(
    probe: Probe,
    *,
    init: str = "kaiming_normal_fan_in",
    blocks: tuple[str, ...] = (),
    inputs: str = "gaussian",
    batch_size: int = 0,
) -> float:
    """az_trainability: mean over blocks of −σ − 1/σ + 2, σ the largest singular value of the block's
    vector-Jacobian cross-moment E[g_in g_outᵀ] for a Rademacher g_out (AZ-NAS, s_T; maximal, 0, at σ = 1).

    Gaussian inputs by default. Blocks that change resolution are compared after pixel-unshuffling g_in, as in
    the official code. A block whose output is its input (identity: g_in = g_out exactly, e.g. a NAS-Bench-201
    cell whose only live path is a skip) scores −inf in the official code, which ranks the architecture last:
    here it is status ``nan`` with that reason (rank aggregation with ``nan_policy="worst"`` puts it last). A dead
    block (g_in = 0) gets the formula's own value, −1/(0 + 1e−6) + 2.
    """
    moments = _az(probe, "az_cross_moments", init, blocks, inputs, batch_size)["cross_moments"]
    values = [block_trainability(m) for m in moments]
    if not values:
        raise ValueError("az_trainability needs at least two block features")
    if any(v == -math.inf for v in values):
        raise ScoreNaN("an identity block (output = input) has trainability −inf in AZ-NAS")
    if not all(math.isfinite(v) for v in values):
        raise ScoreNaN("a block's trainability is not finite")
    return float(sum(values) / len(values))


@register_proxy("az_complexity", requires=(), needs_data=False, citation=_AZNAS)
def az_complexity(probe: Probe, *, convention: str = "macs") -> float:
    """az_complexity: FLOPs of the network (AZ-NAS, s_C); by default NAS-Bench-201's own convention
    (conv/linear multiply-accumulates, ``convention="macs"``), which is what the official code reads from the
    benchmark API."""
    if probe.input_shape is None:
        raise ValueError("az_complexity needs the input shape: pass a batch or input_shape")
    return float(count_flops(probe.model, probe.input_shape, convention=convention))
