"""Forward-activation proxies: reductions over what the main forward pass sees (no gradients needed).

Binary ReLU codes are taken at the *input* of every ReLU-family module (``nn.ReLU``, ``ReLU6``, ``LeakyReLU``,
``PReLU``, ``RReLU``): code = input > 0. ReLUs called functionally inside ``forward`` are invisible to hooks.
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from archrank.proxies.probe import Probe
from archrank.proxies.registry import ScoreNaN, register_proxy


@register_proxy(
    "nwot",
    requires=("relu_gram",),
    citation="Mellor et al., Neural Architecture Search without Training, ICML 2021",
)
def nwot(probe: Probe) -> float:
    """nwot (NASWOT): log|det K|, K_ij = number of ReLU units on which samples i and j have the same binary code
    (Mellor et al., ICML 2021; NAS-Bench-Suite-Zero's ``nwot``).

    K = Σ_layers [c cᵀ + (1−c)(1−c)ᵀ] is accumulated per hooked ReLU call exactly as the reference, but through
    the ±1 form (a aᵀ + units)/2 with a = 2c − 1, which is exact. A singular K (two samples with identical codes)
    has log-determinant −inf: status ``nan``.
    """
    gram = probe.get("relu_gram")
    sign, logdet = torch.linalg.slogdet(gram)
    if not math.isfinite(float(logdet)) or float(sign) == 0.0:
        raise ScoreNaN("NASWOT kernel is singular (two samples share every ReLU code)")
    return float(logdet)


@register_proxy(
    "swap",
    requires=("relu_patterns",),
    citation="Peng et al., SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS, ICLR 2024",
)
def swap(probe: Probe) -> float:
    """swap: the number of distinct sample-wise activation patterns (Peng et al., ICLR 2024).

    Each ReLU unit with a 4-D (convolutional) input gets the binary vector of its codes over the N samples of
    the batch; the score is the number of distinct vectors over all such units (at most min(units, 2^N)). This
    is the plain SWAP score; the paper's size regularisation (for its search, with μ, σ in parameters) is not
    applied. Patterns are bit-packed so that the count is exact without materialising a units×N matrix twice.
    """
    patterns = probe.get("relu_patterns")
    if not patterns:
        raise ValueError("swap found no ReLU-family module with a 4-D input")
    packed = torch.cat(patterns, 0)
    if packed.dim() == 1:
        return float(torch.unique(packed).numel())
    return float(torch.unique(packed, dim=0).shape[0])


@register_proxy(
    "meco",
    requires=("meco",),
    citation="Jiang et al., MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum Eigenvalue of "
    "Correlation, NeurIPS 2023",
)
def meco(probe: Probe) -> float:
    """meco: Σ over module calls of λ_min of the channel-correlation matrix of that module's output for one
    sample (Jiang et al., NeurIPS 2023).

    As in the official code, every module (containers included) is hooked, the feature map of the first sample
    of the batch is reshaped to (channels, positions), NaN/inf correlations (constant channels) are set to 0,
    and the minimum eigenvalues are summed; the forward runs on the whole batch in train mode. Deviation: the
    correlation matrix is symmetric, so we use ``eigvalsh`` (float64) instead of the general ``eig``.
    """
    values = [v for v in meco_min_eigenvalues(probe.get("meco")) if not math.isnan(v)]
    return float(sum(values))


def meco_min_eigenvalues(features: list[torch.Tensor]) -> list[float]:
    """λ_min of the row-correlation matrix of each (channels, positions) feature, in input order.

    Features of one shape are stacked and processed together (float64): Pearson correlation as ``corrcoef``,
    NaN/inf entries (constant rows, a single position) set to 0 as in MeCo's code, then batched ``eigvalsh``.
    """
    result: list[float] = [math.nan] * len(features)
    by_shape: dict[tuple[int, ...], list[int]] = defaultdict(list)
    for i, f in enumerate(features):
        by_shape[tuple(f.shape)].append(i)
    for (channels, _), idx in by_shape.items():
        if channels == 1:  # a 1x1 correlation matrix is [1]
            for i in idx:
                result[i] = 1.0
            continue
        x = torch.stack([features[i] for i in idx]).to(torch.float64)
        x = x - x.mean(dim=2, keepdim=True)
        cov = x @ x.transpose(1, 2)
        std = torch.sqrt(torch.diagonal(cov, dim1=1, dim2=2))
        corr = cov / (std[:, :, None] * std[:, None, :])
        corr = torch.nan_to_num(corr.clamp(-1.0, 1.0), nan=0.0, posinf=0.0, neginf=0.0)
        eig = torch.linalg.eigvalsh(corr)
        for i, value in zip(idx, eig[:, 0].tolist(), strict=True):
            result[i] = value
    return result
