"""The four AZ-NAS components (Lee & Ham, "AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search",
CVPR 2024), each registered as its own proxy; AZ-NAS itself ranks architectures by Σ_i log(rank_i / m) over them.

One shared ``az`` pass, as in the official code: a private copy re-initialised with Kaiming-normal (fan-in, ReLU
gain; biases 0; BatchNorm γ=1, β=0), one train-mode forward on the batch, and the feature map after the stem and
after every block. Blocks default to the model's top-level children with containers of composite modules
expanded and the head after the last block removed — for NAS-Bench-201: the stem, the 15 cells and the two
residual blocks (18 features, the official ``extract_cell_features``); a ``blocks`` config names them explicitly.
"""

from __future__ import annotations

import itertools
import math

from archrank.proxies.cost import count_flops
from archrank.proxies.probe import Probe
from archrank.proxies.registry import ScoreNaN, register_proxy

_AZNAS = "Lee & Ham, AZ-NAS: Assembling Zero-Cost Proxies for Network Architecture Search, CVPR 2024"


def _az(probe: Probe, init: str, blocks: tuple[str, ...] | list[str]) -> dict:
    return probe.get("az", init=str(init), blocks=tuple(blocks))


@register_proxy("az_expressivity", requires=("az",), citation=_AZNAS)
def az_expressivity(probe: Probe, *, init: str = "kaiming_normal_fan_in", blocks: tuple[str, ...] = ()) -> float:
    """az_expressivity: Σ over block features of the entropy −Σ p log(p + 1e-8) of the normalised eigenvalues of
    the channel covariance (positions × samples as observations) — isotropy of the feature space (AZ-NAS, s_E).

    Deviation: eigenvalues are clamped at 0 before normalising (round-off can make them slightly negative, which
    gives NaN in the official code) and computed in float64.
    """
    return float(sum(_az(probe, init, blocks)["expressivity"]))


@register_proxy("az_progressivity", requires=("az",), citation=_AZNAS)
def az_progressivity(probe: Probe, *, init: str = "kaiming_normal_fan_in", blocks: tuple[str, ...] = ()) -> float:
    """az_progressivity: min over consecutive blocks of the increase of expressivity, s_E(l) − s_E(l−1) (AZ-NAS,
    s_P). Needs at least two block features."""
    values = _az(probe, init, blocks)["expressivity"]
    if len(values) < 2:
        raise ValueError("az_progressivity needs at least two block features")
    return float(min(b - a for a, b in itertools.pairwise(values)))


@register_proxy("az_trainability", requires=("az",), citation=_AZNAS)
def az_trainability(probe: Probe, *, init: str = "kaiming_normal_fan_in", blocks: tuple[str, ...] = ()) -> float:
    """az_trainability: mean over blocks of −σ − 1/σ + 2, σ the largest singular value of the block's
    vector-Jacobian cross-moment E[g_in g_outᵀ] for a Rademacher g_out (AZ-NAS, s_T; maximal, 0, at σ = 1).

    Blocks that change resolution are compared after pixel-unshuffling g_in, as in the official code. A block
    whose output is its input (identity) scores −inf in the official code: the result is then status ``nan``.
    """
    values = _az(probe, init, blocks)["trainability"]
    if not values:
        raise ValueError("az_trainability needs at least two block features")
    if any(math.isinf(v) for v in values):
        raise ScoreNaN("an identity block (output = input) has trainability −inf in AZ-NAS")
    return float(sum(values) / len(values))


@register_proxy("az_complexity", requires=(), needs_data=False, citation=_AZNAS)
def az_complexity(probe: Probe, *, convention: str = "macs") -> float:
    """az_complexity: FLOPs of the network (AZ-NAS, s_C); by default NAS-Bench-201's own convention
    (conv/linear multiply-accumulates, ``convention="macs"``), which is what the official code reads from the
    benchmark API."""
    if probe.input_shape is None:
        raise ValueError("az_complexity needs the input shape: pass a batch or input_shape")
    return float(count_flops(probe.model, probe.input_shape, convention=convention))
