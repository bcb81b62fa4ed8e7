"""EZNAS primitives: hand-computed values, safety on degenerate inputs, and typing of programs."""

from __future__ import annotations

import math
import random

import pytest
import torch
from deap import gp
from hypothesis import given, settings
from hypothesis import strategies as st

from archrank.eznas import PRIMITIVES, TERMINALS, Program, Scalar, Tensor, build_pset
from archrank.eznas import primitives as P
from archrank.eznas.gp import GPConfig, _lent_random, _toolbox

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def t(*rows: object) -> torch.Tensor:
    """A layer-batched tensor with one layer."""
    return torch.tensor([rows], dtype=torch.float32).reshape(1, -1)


def close(a: torch.Tensor, b: object, tol: float = 1e-5) -> bool:
    return torch.allclose(a.double(), torch.as_tensor(b, dtype=torch.float64).reshape(a.shape), atol=tol)


# ------------------------------------------------------------------------------------------- hand-computed values
def test_elementwise_unary_values() -> None:
    e = math.e
    assert close(P.op_log(t(-1.0, 0.0, e)), [0, 0, 1])
    assert close(P.op_abslog(t(-e, 0.0, 1 / e)), [1, 0, 1])
    assert close(P.op_abs(t(-2.0, 3.0)), [2, 3])
    assert close(P.op_square(t(-2.0, 3.0)), [4, 9])
    assert close(P.op_exp(t(0.0, 1.0)), [1, e])
    assert torch.isfinite(P.op_exp(t(1e4))).all()
    assert close(P.op_normalize(t(1.0, 2.0, 3.0)), [-1, 0, 1])
    assert close(P.op_normalize(t(5.0, 5.0)), [0, 0])
    assert close(P.op_relu(t(-1.0, 2.0)), [0, 2])
    assert close(P.op_sign(t(-3.0, 0.0, 2.0)), [-1, 0, 1])
    assert close(P.op_heaviside(t(-1.0, 0.0, 2.0)), [0, 0, 1])
    assert close(P.op_reciprocal(t(0.0, 2.0, -4.0)), [0, 0.5, -0.25])
    assert close(P.op_sigmoid(t(0.0)), [0.5])
    assert close(P.op_softmax(t(0.0, math.log(3.0))), [0.25, 0.75])


def test_normalize_and_softmax_are_per_layer() -> None:
    x = torch.tensor([[1.0, 3.0], [10.0, 30.0]])
    assert close(P.op_normalize(x), [[-0.7071068, 0.7071068], [-0.7071068, 0.7071068]])
    assert close(P.op_softmax(x).sum(dim=1), [1.0, 1.0])


def test_logdet_batched_with_reference_conventions() -> None:
    mats = torch.tensor([[[2.0, 0.0], [0.0, 3.0]], [[0.0, 1.0], [1.0, 0.0]], [[1.0, 1.0], [1.0, 1.0]]])
    out = P.op_logdet(mats.unsqueeze(0))  # (1 layer, 3 matrices)
    assert out.shape == (1, 3)
    assert close(out, [[math.log(6.0), 0.0, P.LOG_FLOOR]])  # det<0 -> 0 (reference), singular -> floor
    # non-square: leading square block
    assert close(P.op_logdet(torch.tensor([[[[2.0, 0.0, 9.0], [0.0, 5.0, 9.0]]]])), [[math.log(10.0)]])


def test_binary_ops_and_shape_rule() -> None:
    a, b = t(1.0, 2.0, 3.0), t(4.0, 5.0, 6.0)
    assert close(P.op_add(a, b), [5, 7, 9])
    assert close(P.op_sub(a, b), [-3, -3, -3])
    assert close(P.op_mul(a, b), [4, 10, 18])
    assert close(P.op_lt(a, t(2.0, 2.0, 2.0)), [1, 0, 0])
    assert close(P.op_gt(a, t(2.0, 2.0, 2.0)), [0, 0, 1])
    assert close(P.op_eq(a, t(2.0, 2.0, 2.0)), [0, 1, 0])
    # different shapes: flatten per layer, truncate to the shorter
    m = torch.arange(4.0).reshape(1, 2, 2)  # [[0,1],[2,3]] -> flat 0,1,2,3
    out = P.op_add(m, t(10.0, 20.0, 30.0))
    assert out.shape == (1, 3) and close(out, [10, 21, 32])
    # a one-element operand broadcasts
    assert close(P.op_mul(m, torch.tensor([[2.0]])), [[0, 2, 4, 6]])


def test_matmul_truncates_inner_dimension() -> None:
    a = torch.tensor([[[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]]])  # (1, 2, 3)
    b = torch.tensor([[[1.0, 1.0], [2.0, 0.0]]])  # (1, 2, 2): inner dim 2 -> a truncated to 2 columns
    assert close(P.op_matmul(a, b), [[[3.0, 2.0], [1.0, 0.0]]])
    assert P.op_matmul(a, a).shape == (1, 2, 2)


def test_reductions() -> None:
    assert close(P.op_frobenius_norm(t(3.0, 4.0)), [5])
    assert close(P.op_mean(t(1.0, -3.0)), [-1])
    assert close(P.op_mean_abs(t(1.0, -3.0)), [2])
    diag = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    assert close(P.op_logdet_gram(diag), [math.log(4.0)])
    assert close(P.op_logdet_gram(torch.ones(1, 2, 2)), [P.LOG_FLOOR])
    assert close(P.op_eig_ratio(diag), [4.0])  # eig(G + Gᵀ) = {2, 8}
    assert close(P.op_eig_ratio(torch.zeros(1, 2, 2)), [0.0])
    assert close(P.op_hamming(t(1.0, -1.0, 2.0), t(1.0, 1.0, -2.0)), [2])
    assert close(P.op_kl_div(t(1.0, 2.0), t(1.0, 2.0)), [0])
    assert P.op_kl_div(t(1.0, 2.0), t(2.0, 1.0)).item() > 0
    assert close(P.op_cosine(t(1.0, 0.0), t(0.0, 1.0)), [0])
    assert close(P.op_cosine(t(1.0, 2.0), t(2.0, 4.0)), [1])
    assert close(P.op_cosine(t(0.0, 0.0), t(1.0, 1.0)), [0])


def test_scalar_ops() -> None:
    s = torch.tensor([1.0, 6.0])
    assert close(P.op_add_s(s, 1.0), [2, 7])
    assert close(P.op_sub_s(s, s), [0, 0])
    assert close(P.op_mul_s(s, s), [1, 36])
    assert close(P.op_div_s(s, torch.tensor([0.0, 2.0])), [0, 3])


# ------------------------------------------------------------------------------------------- safety
DEGENERATE = {
    "zeros": torch.zeros(3, 2, 4, 4),
    "ones (singular)": torch.ones(3, 2, 4, 4),
    "rank-one": torch.arange(4.0).repeat(3, 2, 4, 1),
    "tiny": torch.full((3, 2, 4, 4), 1e-30),
    "mixed signs": torch.tensor([-1.0, 0.0, 1.0, 2.0]).repeat(3, 2, 4, 1),
}


@pytest.mark.parametrize("kind", list(DEGENERATE))
def test_every_primitive_is_total_and_finite_on_degenerate_inputs(kind: str) -> None:
    x = DEGENERATE[kind]
    other = torch.zeros(3, 5)  # a different shape for the binary shape rule
    for spec in PRIMITIVES:
        if spec.args == (Tensor,):
            outs = [spec.fn(x)]
        elif spec.args == (Tensor, Tensor):
            outs = [spec.fn(x, x), spec.fn(x, other), spec.fn(other, x)]
        else:
            outs = [spec.fn(P.op_mean(x), P.op_mean(x)), spec.fn(P.op_mean(x), 1.0)]
        for out in outs:
            out = torch.as_tensor(out)
            assert out.shape[0] == 3 if out.dim() else True, spec.name
            assert torch.isfinite(out).all(), f"{spec.name} not finite on {kind}"


def test_overflow_makes_program_invalid_not_a_crash() -> None:
    from archrank.eznas import NetworkStats, StatsBatch, evaluate

    layer = {name: torch.full((2, 2), 1e30) for name in TERMINALS}
    batch = StatsBatch([NetworkStats([layer], ["l0"])])
    scores = evaluate("frobenius_norm(square(square(input_data)))", batch)
    assert scores.shape == (1,) and math.isnan(scores[0])


# ------------------------------------------------------------------------------------------- typing
def _well_typed(tree: gp.PrimitiveTree) -> bool:
    def check(index: int) -> tuple[type, int]:
        node = tree[index]
        if isinstance(node, gp.Terminal):
            return node.ret, index + 1
        nxt = index + 1
        for want in node.args:
            got, nxt = check(nxt)
            if got is not want:
                raise TypeError(f"{node.name} wants {want.__name__}, got {got.__name__}")
        return node.ret, nxt

    ret, end = check(0)
    return ret is Scalar and end == len(tree)


def test_generated_and_varied_trees_are_well_typed() -> None:
    toolbox = _toolbox(GPConfig(max_height=6))
    rng = random.Random(123)
    with _lent_random(rng):
        trees = [toolbox.individual() for _ in range(200)]
        for _ in range(200):
            a, b = rng.sample(range(len(trees)), 2)
            c1, c2 = toolbox.mate(toolbox.clone(trees[a]), toolbox.clone(trees[b]))
            (m,) = toolbox.mutate(toolbox.clone(trees[a]))
            trees += [c1, c2, m]
    for tree in trees:
        assert _well_typed(tree), str(tree)
        assert tree.height <= 6
        assert Program.parse(str(tree)).text == str(tree)


@pytest.mark.parametrize(
    "text",
    [
        "sign(input_data)",  # root is a Tensor, not a Scalar
        "frobenius_norm(mean(input_data))",  # Scalar where a Tensor is expected
        "mean(input_data, act_data)",  # wrong arity
        "mean(unknown_stat)",  # unknown terminal
        "mean()",
        "",
        "one one",
    ],
)
def test_ill_typed_or_malformed_programs_are_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        Program.parse(text)


def test_program_string_round_trip_and_file(tmp_path) -> None:
    prog = Program.parse("  frobenius_norm( sigmoid(logdet(sign(input_grad_data))))")
    assert prog.text == "frobenius_norm(sigmoid(logdet(sign(input_grad_data))))"
    assert prog.terminals == {"input_grad_data"}
    assert (prog.height, len(prog)) == (4, 5)
    path = prog.save(tmp_path / "p.json", fitness=0.5)
    assert Program.load(path) == prog


def test_pset_has_every_primitive_and_terminal() -> None:
    pset = build_pset()
    assert {p.name for p in PRIMITIVES} <= set(pset.mapping)
    assert set(TERMINALS) <= set(pset.mapping)
    assert len(TERMINALS) == 22


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_random_programs_never_raise(seed: int) -> None:
    from archrank.eznas import NetworkStats, StatsBatch, evaluate

    gen = torch.Generator().manual_seed(seed)
    nets = []
    for _ in range(2):
        layers = []
        for shape in ((2, 3, 4, 4), (2, 3, 2, 2)):
            layers.append(
                {n: torch.randn((3, 3, 1, 1) if n.startswith("weight") else shape, generator=gen) for n in TERMINALS}
            )
        nets.append(NetworkStats(layers, ["a", "b"]))
    batch = StatsBatch(nets)
    toolbox = _toolbox(GPConfig(max_height=6))
    with _lent_random(random.Random(seed)):
        tree = toolbox.individual()
    scores = evaluate(Program.from_tree(tree), batch)
    assert scores.shape == (2,)
