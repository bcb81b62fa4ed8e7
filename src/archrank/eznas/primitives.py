"""The typed primitives of EZNAS programs (Akhauri, Muñoz, Jain & Iyer, "EZNAS: Evolving Zero-Cost Proxies for
Neural Architecture Scoring", NeurIPS 2022), made numerically safe.

Values are *layer-batched*: a :class:`Tensor` value is a ``torch.Tensor`` whose first dimension indexes ``L``
layers that are evaluated together (all of the same shape), and a :class:`Scalar` value is a ``(L,)`` tensor, one
number per layer (or a Python float constant, broadcast). Every operation therefore acts on each layer separately:
reductions reduce over all dimensions but the first, "matrix" operations act on the last two dimensions.

Operations follow the authors' reference implementation (IntelLabs/Hardware-Aware-Automated-Machine-Learning,
``EZNAS/gp_func_defs.py``) where that is well defined, and are made total where it is not, so that a program never
raises: where the reference would produce NaN or raise, the safe rule below applies (and is part of the op's
documentation). A program whose final per-layer value is still NaN/inf (e.g. an overflowing ``exp`` of an
``exp``) is *invalid*; :mod:`archrank.eznas.program` reports that, it never crashes.

Binary shape rule (element-wise ops, comparisons, Hamming, KL, cosine): equal shapes combine element-wise; otherwise
both operands are flattened per layer, a one-element operand is broadcast, and the longer one is truncated to the
shorter length (result shape ``(L, n)``). ``matmul`` views each operand per layer as a matrix ``(first dim, rest)``
and returns ``A₂·B₂ᵀ`` with the inner dimension truncated to the shorter of the two.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "LOG_FLOOR",
    "PRIMITIVES",
    "SCALAR_CONSTANTS",
    "PrimitiveSpec",
    "Scalar",
    "Tensor",
]

LOG_FLOOR = -1000.0
"""Value of a log-determinant of a singular matrix (the reference gives ``-inf``; ``sigmoid`` maps both to 0)."""
_EXP_MAX = 80.0  # exp(80) ≈ 5.5e34 stays finite in float32


class Tensor:
    """Type tag of layer-batched tensors (DEAP strongly-typed GP); never instantiated."""


class Scalar:
    """Type tag of one number per layer; the root type of every program."""


@dataclass(frozen=True)
class PrimitiveSpec:
    """One primitive: its name (as printed in programs), function, argument types and return type."""

    name: str
    fn: Callable[..., torch.Tensor]
    args: tuple[type, ...]
    ret: type
    doc: str


# ---------------------------------------------------------------------------------------------- helpers
def _flat(x: torch.Tensor) -> torch.Tensor:
    """(L, n): everything but the layer dimension flattened."""
    return x.reshape(x.shape[0], -1)


def _align(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The binary shape rule: same shape as is; otherwise flatten, broadcast one-element operands, truncate."""
    if a.shape == b.shape:
        return a, b
    fa, fb = _flat(a), _flat(b)
    na, nb = fa.shape[1], fb.shape[1]
    if na == 1 and nb != 1:
        return fa.expand(-1, nb), fb
    if nb == 1 and na != 1:
        return fa, fb.expand(-1, na)
    n = min(na, nb)
    return fa[:, :n], fb[:, :n]


def _as_matrix(x: torch.Tensor) -> torch.Tensor:
    """(L, d0, rest): each layer's value viewed as a matrix (a 1-D value becomes a single row)."""
    if x.dim() == 1:
        return x.reshape(-1, 1, 1)
    if x.dim() == 2:
        return x.unsqueeze(1)
    return x.reshape(x.shape[0], x.shape[1], -1)


def _finite_or(x: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    return torch.where(torch.isfinite(x), x, torch.full_like(x, value))


# ---------------------------------------------------------------------------------------------- unary Tensor->Tensor
def op_log(a: torch.Tensor) -> torch.Tensor:
    """log(x) for x > 0, 0 elsewhere (reference: non-positive entries are set to 1 before the log)."""
    return torch.where(a > 0, torch.log(torch.where(a > 0, a, torch.ones_like(a))), torch.zeros_like(a))


def op_abslog(a: torch.Tensor) -> torch.Tensor:
    """|log|x||, 0 where x = 0 (reference: |log x| with zeros set to 1; |x| makes negative entries defined)."""
    mag = a.abs()
    return torch.where(mag > 0, torch.log(torch.where(mag > 0, mag, torch.ones_like(mag))).abs(), torch.zeros_like(a))


def op_abs(a: torch.Tensor) -> torch.Tensor:
    """|x|."""
    return a.abs()


def op_square(a: torch.Tensor) -> torch.Tensor:
    """x² (the reference's "power")."""
    return a * a


def op_exp(a: torch.Tensor) -> torch.Tensor:
    """exp(min(x, 80)): finite in float32."""
    return torch.exp(a.clamp(max=_EXP_MAX))


def op_normalize(a: torch.Tensor) -> torch.Tensor:
    """Per-layer z-score (x − mean)/std; 0 where the std is 0 (reference: NaN set to 0)."""
    flat = _flat(a)
    mean = flat.mean(dim=1, keepdim=True)
    std = flat.std(dim=1, keepdim=True) if flat.shape[1] > 1 else torch.zeros_like(mean)
    z = torch.where(std > 0, (flat - mean) / torch.where(std > 0, std, torch.ones_like(std)), torch.zeros_like(flat))
    return z.reshape(a.shape)


def op_relu(a: torch.Tensor) -> torch.Tensor:
    """max(x, 0)."""
    return torch.relu(a)


def op_sign(a: torch.Tensor) -> torch.Tensor:
    """sign(x) ∈ {−1, 0, 1}."""
    return torch.sign(a)


def op_heaviside(a: torch.Tensor) -> torch.Tensor:
    """1 where x > 0, else 0 (the reference's Heaviside step with H(0) = 0)."""
    return (a > 0).to(a.dtype)


def op_reciprocal(a: torch.Tensor) -> torch.Tensor:
    """1/x, 0 where x = 0 (reference: 1/x, which is inf at 0)."""
    nonzero = a != 0
    return torch.where(nonzero, 1.0 / torch.where(nonzero, a, torch.ones_like(a)), torch.zeros_like(a))


def op_sigmoid(a: torch.Tensor) -> torch.Tensor:
    """1/(1 + e^(−x))."""
    return torch.sigmoid(a)


def op_softmax(a: torch.Tensor) -> torch.Tensor:
    """Softmax over all of a layer's entries (flattened), reshaped back."""
    return torch.softmax(_flat(a), dim=1).reshape(a.shape)


def op_logdet(a: torch.Tensor) -> torch.Tensor:
    """Log-determinant of every matrix in the last two dimensions (batched, as ``torch.logdet`` in the reference).

    Non-square matrices use their leading square block; a value with fewer than two dimensions per layer is a
    1×1 matrix per entry. Reference conventions: a negative determinant (NaN in ``torch.logdet``) gives 0, and so
    does a factorisation that breaks down (an exactly singular matrix whose LU meets several zero pivots can give a
    NaN log-determinant in float32: NaN in ``torch.logdet`` too, which the reference's OP20 maps to 0); a singular
    matrix with a finite ``-inf`` log-determinant gives :data:`LOG_FLOOR` instead of ``-inf``.

    Computed in the tensor's own precision (float32 for network statistics), as the reference's ``torch.logdet``.
    This matters for matrices that are singular in exact arithmetic but whose LU factorisation leaves a
    rounding-size pivot (e.g. the rank-deficient sign matrices EZNAS-A meets in NB201's deeper stages): their
    determinant's sign is rounding noise, so a different precision gives different values; in the input precision
    the values are the reference's (issue 17: bit-identical EZNAS-A scores on the same statistics).
    """
    x = a if a.dim() >= 3 else a.unsqueeze(-1).unsqueeze(-1)
    n = min(x.shape[-1], x.shape[-2])
    x = x[..., :n, :n]
    sign, logabs = torch.linalg.slogdet(x if x.is_floating_point() else x.float())
    nan_in_reference = (sign < 0) | torch.isnan(logabs)  # torch.logdet is NaN there; the reference maps NaN to 0
    logabs = logabs.clamp(min=LOG_FLOOR, max=-LOG_FLOOR)
    not_positive = torch.where(nan_in_reference, torch.zeros_like(logabs), torch.full_like(logabs, LOG_FLOOR))
    out = torch.where((sign > 0) & ~nan_in_reference, logabs, not_positive)
    return _finite_or(out, 0.0).to(a.dtype)


# ------------------------------------------------------------------------------------ binary Tensor,Tensor->Tensor
def op_add(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x + y (binary shape rule)."""
    x, y = _align(a, b)
    return x + y


def op_sub(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x − y (binary shape rule)."""
    x, y = _align(a, b)
    return x - y


def op_mul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """x · y element-wise (binary shape rule)."""
    x, y = _align(a, b)
    return x * y


def op_matmul(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """A₂·B₂ᵀ per layer, A₂ = A as (first dim, rest); the inner dimension is truncated to the shorter one."""
    x, y = _as_matrix(a), _as_matrix(b)
    k = min(x.shape[-1], y.shape[-1])
    return torch.bmm(x[..., :k], y[..., :k].transpose(1, 2))


def op_lt(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 where x < y, else 0 (binary shape rule)."""
    x, y = _align(a, b)
    return (x < y).to(x.dtype)


def op_gt(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 where x > y, else 0 (binary shape rule)."""
    x, y = _align(a, b)
    return (x > y).to(x.dtype)


def op_eq(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """1 where x = y, else 0 (binary shape rule)."""
    x, y = _align(a, b)
    return (x == y).to(x.dtype)


# ------------------------------------------------------------------------------------ reductions Tensor->Scalar
def op_frobenius_norm(a: torch.Tensor) -> torch.Tensor:
    """√Σx² over the layer (reference ``torch.norm(A, 'fro')``)."""
    return torch.linalg.vector_norm(_flat(a), dim=1)


def op_mean(a: torch.Tensor) -> torch.Tensor:
    """Σx / numel (the reference's "normalised sum")."""
    return _flat(a).mean(dim=1)


def op_mean_abs(a: torch.Tensor) -> torch.Tensor:
    """Σ|x| / numel (the reference's "L1 norm")."""
    return _flat(a).abs().mean(dim=1)


def _gram(a: torch.Tensor) -> torch.Tensor:
    m = _as_matrix(a).to(torch.float64)
    return m @ m.transpose(1, 2)


def op_logdet_gram(a: torch.Tensor) -> torch.Tensor:
    """log det of the per-layer Gram matrix A₂A₂ᵀ (first dim × first dim); :data:`LOG_FLOOR` when singular."""
    sign, logabs = torch.linalg.slogdet(_gram(a))
    out = torch.where(sign > 0, logabs.clamp(min=LOG_FLOOR), torch.full_like(logabs, LOG_FLOOR))
    return _finite_or(out, LOG_FLOOR).to(a.dtype)


def op_eig_ratio(a: torch.Tensor) -> torch.Tensor:
    """λ_max/λ_min of the symmetrised Gram matrix G + Gᵀ, G = A₂A₂ᵀ (reference "sym_eigen"); 0 if λ_min = 0."""
    g = _gram(a)
    eig = torch.linalg.eigvalsh(g + g.transpose(1, 2))
    lo, hi = eig[:, 0], eig[:, -1]
    out = torch.where(lo != 0, hi / torch.where(lo != 0, lo, torch.ones_like(lo)), torch.zeros_like(lo))
    return _finite_or(out, 0.0).to(a.dtype)


def op_hamming(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Number of positions where the Heaviside codes of x and y differ (reference: an unnormalised count)."""
    x, y = _align(a, b)
    return ((_flat(x) > 0) != (_flat(y) > 0)).sum(dim=1).to(a.dtype)


def op_kl_div(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """KL(softmax(x) ‖ softmax(y)) over the layer's flattened entries (a safe form of the reference's KLDivLoss)."""
    x, y = _align(a, b)
    lp, lq = torch.log_softmax(_flat(x), dim=1), torch.log_softmax(_flat(y), dim=1)
    return (lp.exp() * (lp - lq)).sum(dim=1)


def op_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of the layer's flattened x and y; 0 if either is all zeros."""
    x, y = _align(a, b)
    return F.cosine_similarity(_flat(x), _flat(y), dim=1, eps=1e-30)


# ---------------------------------------------------------------------------------------------- Scalar ops
def op_add_s(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """s + t."""
    return a + b


def op_sub_s(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """s − t."""
    return a - b


def op_mul_s(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """s · t."""
    return a * b


def op_div_s(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """s / t, 0 where t = 0."""
    a_t, b_t = torch.as_tensor(a), torch.as_tensor(b)
    nonzero = b_t != 0
    return torch.where(nonzero, a_t / torch.where(nonzero, b_t, torch.ones_like(b_t)), torch.zeros_like(a_t * b_t))


_T, _S = Tensor, Scalar
_TABLE: tuple[tuple[str, Callable[..., torch.Tensor], tuple[type, ...], type], ...] = (
    # element-wise unary
    ("log", op_log, (_T,), _T),
    ("abslog", op_abslog, (_T,), _T),
    ("abs", op_abs, (_T,), _T),
    ("square", op_square, (_T,), _T),
    ("exp", op_exp, (_T,), _T),
    ("normalize", op_normalize, (_T,), _T),
    ("relu", op_relu, (_T,), _T),
    ("sign", op_sign, (_T,), _T),
    ("heaviside", op_heaviside, (_T,), _T),
    ("reciprocal", op_reciprocal, (_T,), _T),
    ("sigmoid", op_sigmoid, (_T,), _T),
    ("softmax", op_softmax, (_T,), _T),
    ("logdet", op_logdet, (_T,), _T),
    # binary
    ("add", op_add, (_T, _T), _T),
    ("sub", op_sub, (_T, _T), _T),
    ("mul", op_mul, (_T, _T), _T),
    ("matmul", op_matmul, (_T, _T), _T),
    ("lt", op_lt, (_T, _T), _T),
    ("gt", op_gt, (_T, _T), _T),
    ("eq", op_eq, (_T, _T), _T),
    # reductions to one number per layer
    ("frobenius_norm", op_frobenius_norm, (_T,), _S),
    ("mean", op_mean, (_T,), _S),
    ("mean_abs", op_mean_abs, (_T,), _S),
    ("logdet_gram", op_logdet_gram, (_T,), _S),
    ("eig_ratio", op_eig_ratio, (_T,), _S),
    ("hamming", op_hamming, (_T, _T), _S),
    ("kl_div", op_kl_div, (_T, _T), _S),
    ("cosine", op_cosine, (_T, _T), _S),
    # scalar arithmetic
    ("add_s", op_add_s, (_S, _S), _S),
    ("sub_s", op_sub_s, (_S, _S), _S),
    ("mul_s", op_mul_s, (_S, _S), _S),
    ("div_s", op_div_s, (_S, _S), _S),
)

PRIMITIVES: tuple[PrimitiveSpec, ...] = tuple(
    PrimitiveSpec(name, fn, args, ret, (fn.__doc__ or "").split("\n", 1)[0]) for name, fn, args, ret in _TABLE
)
"""Every primitive, in a fixed order (the order matters for seeded GP runs)."""

SCALAR_CONSTANTS: tuple[tuple[str, float], ...] = (("one", 1.0),)
"""Scalar terminals; strongly-typed GP needs at least one terminal of every type it may have to close a branch."""
