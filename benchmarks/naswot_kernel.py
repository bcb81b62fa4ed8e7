"""NASWOT's kernel c cᵀ on the ReLU codes of real cells: the float32 product of today vs int8 ``_int_mm`` vs float64.

NASWOT (and every scoring of ``nwot``) turns the binary codes at each ReLU input (samples × units, units = C·H·W)
into c cᵀ. All three products are exact (every partial sum is an integer no larger than the unit count), so they
give the same kernel and the choice is speed alone. Until session 22 the engine used ``torch._int_mm`` on CPU
("about 3× faster than float32", measured on another machine); on this one it was the single most expensive call
of a NAS-Bench-101 cell, and this benchmark measures it side by side: for one seeded cell per space, the codes of
every ReLU call of a train-mode forward on a Gaussian batch (timing does not depend on the values; the shapes are
the real ones), each product timed (best of ``--repeats``) and checked equal to the others.

    .venv/bin/python benchmarks/naswot_kernel.py [--spaces nb201,nb101,tnb101-micro,nds-resnet] [--threads 1]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import time
from collections.abc import Callable

import torch

import archrank
from archrank.proxies.hooks import code_gram, forward_hooks
from archrank.proxies.torchutil import RELU_TYPES, flat_samples

BATCH = {"tnb101-micro": 16, "nds-resnet": 16, "nds-vanilla": 16, "nds-darts": 16}  # as the cross-space runs use


def int8_gram(codes: torch.Tensor) -> torch.Tensor:
    """The engine's former kernel: int8 × int8 → int32 (``torch._int_mm``, CPU)."""
    c8 = codes.to(torch.int8)
    return torch._int_mm(c8, c8.T.contiguous()).to(torch.float64)


def float64_gram(codes: torch.Tensor) -> torch.Tensor:
    """The reference: a float64 product (exact below 2**53 units)."""
    c = codes.to(torch.float64)
    return c @ c.T


def relu_codes(space_name: str, batch_size: int, seed: int) -> list[torch.Tensor]:
    """Binary codes (samples × units) at every ReLU input of one seeded cell of ``space_name``."""
    space = archrank.get_space(space_name)
    model = space.build(space.sample(seed), num_classes=10).train()
    x = torch.randn((batch_size, *space.input_shape), generator=torch.Generator().manual_seed(seed))
    codes: list[torch.Tensor] = []

    def hook(module: torch.nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        codes.append(flat_samples(inputs[0].detach() > 0))

    relus = [(m, hook) for m in model.modules() if isinstance(m, RELU_TYPES)]
    with forward_hooks(relus), torch.no_grad():
        model(x)
    return codes


def best_time(fn: Callable[[torch.Tensor], torch.Tensor], codes: torch.Tensor, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(codes)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spaces", default="nb201,nb101,tnb101-micro,nds-resnet")
    parser.add_argument("--batch-size", type=int, default=64, help="except the spaces the cross-space runs batch at 16")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    kernels = {"float32 (today)": code_gram, "int8 _int_mm": int8_gram, "float64": float64_gram}
    print(f"torch {torch.__version__}, {args.threads} thread(s); seconds per cell, summed over its ReLU calls")
    header = f"{'space':14} {'batch':>5} {'calls':>5} {'max units':>9} " + " ".join(f"{k:>16}" for k in kernels)
    print(header + f" {'int8 / float32':>15} {'equal':>6}")
    for name in args.spaces.split(","):
        batch = BATCH.get(name, args.batch_size)
        codes = relu_codes(name, batch, args.seed)
        totals = dict.fromkeys(kernels, 0.0)
        equal = True
        for c in codes:
            grams = {k: fn(c) for k, fn in kernels.items()}
            equal &= all(torch.equal(g, grams["float64"]) for g in grams.values())
            for k, fn in kernels.items():
                totals[k] += best_time(fn, c, args.repeats)
        units = max(c.shape[1] for c in codes)
        cells = " ".join(f"{totals[k]:16.3f}" for k in kernels)
        ratio = totals["int8 _int_mm"] / totals["float32 (today)"]
        print(f"{name:14} {batch:5d} {len(codes):5d} {units:9d} {cells} {ratio:15.1f} {equal!s:>6}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
