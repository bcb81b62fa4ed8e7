"""Input-Jacobian proxies: reductions over per-sample gradients of Σ logits with respect to the input.

The probe computes the Jacobian rows ``J_n = ∂(Σ_{n',c} f_c(x_{n'}))/∂x_n`` with a second backward of the main
forward (train mode, so BatchNorm couples the samples exactly as in the reference code).
"""

from __future__ import annotations

import math

import torch

from archrank.proxies.probe import Probe
from archrank.proxies.registry import ScoreNaN, register_proxy


def _corrcoef64(rows: torch.Tensor) -> torch.Tensor:
    return torch.corrcoef(rows.to(torch.float64))


@register_proxy(
    "jacov",
    requires=("jacobian",),
    negated=True,
    citation="Mellor et al., Neural Architecture Search without Training, arXiv:2006.04647v1 (2020)",
)
def jacov(probe: Probe, *, k: float = 1e-5) -> float:
    """jacov (jacob_cov): −Σ_i [log(λ_i + k) + 1/(λ_i + k)], λ the eigenvalues of the correlation matrix of the
    per-sample input Jacobians, k = 1e-5 (Mellor et al., 2020, v1; as in Abdelfattah et al. and NASLib).

    Raw Σ[log(λ+k)+1/(λ+k)] is lower-is-better, so the value is its negative (``negated``). Deviation: the
    correlation matrix is symmetric, so we use the symmetric solver ``eigvalsh`` in float64 where the reference
    calls the general ``numpy.linalg.eig``. A correlation with NaN (a constant Jacobian row) is status ``nan``.
    """
    jac = probe.get("jacobian")
    corr = _corrcoef64(jac)
    if not torch.isfinite(corr).all():
        raise ScoreNaN("Jacobian correlation matrix has NaN (a sample's input gradient is constant)")
    eig = torch.linalg.eigvalsh(corr)
    return -float((torch.log(eig + k) + 1.0 / (eig + k)).sum())


@register_proxy(
    "epe_nas",
    requires=("jacobian", "logits"),
    needs_labels=True,
    citation="Lopes et al., EPE-NAS: Efficient Performance Estimation Without Training for NAS, ICANN 2021",
)
def epe_nas(probe: Probe, *, k: float = 1e-5) -> float:
    """epe_nas: per-class Jacobian correlations (Lopes et al., ICANN 2021, as implemented in NASLib).

    For each class c present in the labels, s_c = Σ log(|corr(J_c)| + k) over the correlation matrix of that
    class's Jacobian rows (a class with one sample gives log(1 + k)); with at most 100 classes the score is
    Σ_c |s_c|; otherwise s_c is divided by the class's sample count, singleton classes are skipped, and the score
    is Σ_{c,c'} |s_c − s_c'| / #classes seen (all as in the reference). Classes come from the
    labels (one-hot labels are arg-maxed); the class count is ``num_classes`` when given, else the logits' width.
    """
    jac = probe.get("jacobian")
    logits = probe.get("logits")
    y = probe.y
    if y is None:
        raise ValueError("epe_nas needs labels")
    labels = y.argmax(1) if y.dim() == 2 else y
    n_classes = int(probe.num_classes) if probe.num_classes else int(logits.shape[-1])
    per_class: dict[int, float] = {}
    for c in sorted(set(labels.tolist())):
        rows = jac[labels == c]
        if rows.shape[0] == 1:
            if n_classes <= 100:  # np.corrcoef of one row is 1; with >100 classes the reference skips it
                per_class[c] = math.log(1.0 + k)
            continue
        corr = _corrcoef64(rows)
        s_c = float(torch.log(corr.abs() + k).sum())
        per_class[c] = s_c / rows.shape[0] if n_classes > 100 else s_c
    values = list(per_class.values())
    if n_classes <= 100:
        return float(sum(abs(v) for v in values))
    total = sum(abs(a - b) for a in values for b in values)
    return total / len(values) if values else 0.0
