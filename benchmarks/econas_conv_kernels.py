"""Why a reduced NB201 training step costs what it does on CPU: the tiny convolution kernels, side by side.

At ``c4r4`` an NB201 cell edge is ReLU → 3×3 convolution → BatchNorm on 4 channels of 8×8 pixels (stage 1), 8 of
4×4 and 16 of 2×2 (stages 2 and 3), for a batch of 256. The stacked trainer (``archrank.econas.batched``) serves
the ``m`` networks that chose the same op on an edge with one grouped convolution (``groups=m``). This benchmark
times, per network, forward + backward (input and weight gradients) of the alternatives a faster trainer could
use, all in one process, interleaved, one torch thread, CPU seconds:

- ``grouped``: today's stacked kernel, ``groups=m``, NCHW;
- ``packed``: ``p = 16 // C`` networks per 16-channel group with a block-diagonal masked weight (oneDNN pads 4
  channels to 16-channel blocks anyway), NCHW;
- ``grouped NHWC`` / ``packed NHWC``: the same in channels-last;
- ``native``: ``groups=m`` with oneDNN switched off (PyTorch's own im2col + GEMM path);
- ``op``: the whole ReLU → conv → BatchNorm edge op, grouped and packed, NCHW and NHWC.

    OMP_NUM_THREADS=1 python benchmarks/econas_conv_kernels.py --networks 6,32 --reps 5 --rounds 7
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import warnings
from collections.abc import Callable

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore", message="TF32 acceleration")  # printed by mkldnn.flags on CPU builds

# (channels, side) of the three NB201 stages at c4r4: 16/4 channels at 32/4 pixels, then doubled/halved twice.
STAGES = ((4, 8), (8, 4), (16, 2))


def timed(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, reps: int, native: bool) -> float:
    """CPU ms of one forward + backward of ``fn(x)``, mean over ``reps`` (oneDNN off when ``native``)."""
    with torch.backends.mkldnn.flags(enabled=not native):
        start = time.process_time()
        for _ in range(reps):
            y = fn(x)
            y.backward(torch.ones_like(y))
        return (time.process_time() - start) / reps * 1000


def kernels(channels: int, side: int, m: int, batch: int) -> dict[str, Callable[[], tuple]]:
    """Name → builder of (fn, input) for ``m`` networks' convolution on one edge."""
    per = max(1, 16 // channels)  # networks per packed group
    groups = -(-m // per)
    mask = torch.block_diag(*[torch.ones(channels, channels)] * per).repeat(groups, 1)[:, :, None, None]

    def grouped(fmt: torch.memory_format, op: bool = False) -> tuple:
        x = torch.randn(batch, m * channels, side, side).contiguous(memory_format=fmt).requires_grad_()
        w = torch.randn(m * channels, channels, 3, 3, requires_grad=True)
        bn = torch.nn.BatchNorm2d(m * channels)
        if op:
            return (lambda t: bn(F.conv2d(F.relu(t), w, padding=1, groups=m))), x
        return (lambda t: F.conv2d(t, w, padding=1, groups=m)), x

    def packed(fmt: torch.memory_format, op: bool = False) -> tuple:
        width = groups * per * channels
        x = torch.randn(batch, width, side, side).contiguous(memory_format=fmt).requires_grad_()
        w = torch.randn(width, per * channels, 3, 3, requires_grad=True)
        bn = torch.nn.BatchNorm2d(width)
        if op:
            return (lambda t: bn(F.conv2d(F.relu(t), w * mask, padding=1, groups=groups))), x
        return (lambda t: F.conv2d(t, w * mask, padding=1, groups=groups)), x

    nchw, nhwc = torch.contiguous_format, torch.channels_last
    return {
        "grouped": lambda: grouped(nchw),
        "packed": lambda: packed(nchw),
        "grouped NHWC": lambda: grouped(nhwc),
        "packed NHWC": lambda: packed(nhwc),
        "native": lambda: grouped(nchw),
        "op grouped": lambda: grouped(nchw, op=True),
        "op packed": lambda: packed(nchw, op=True),
        "op grouped NHWC": lambda: grouped(nhwc, op=True),
        "op packed NHWC": lambda: packed(nhwc, op=True),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", default="6,32", help="comma-separated m: networks sharing an edge op")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--reps", type=int, default=5, help="repetitions per kernel per round")
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds; the median is printed")
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    print(f"CPU ms per network, forward + backward, median of {args.rounds} interleaved rounds of {args.reps}, "
          f"batch {args.batch}, 1 thread, torch {torch.__version__}, "
          f"load {os.getloadavg()[0]:.1f}\n")
    names = list(kernels(4, 8, 1, 1))
    print("| C | side | m | " + " | ".join(names) + " |")
    print("|---" * (3 + len(names)) + "|")
    for m in (int(v) for v in args.networks.split(",")):
        for channels, side in STAGES:
            built = {name: build() for name, build in kernels(channels, side, m, args.batch).items()}
            for name, (fn, x) in built.items():  # warm-up: oneDNN primitive creation, allocations
                timed(fn, x, 3, name == "native")
            rounds: dict[str, list[float]] = {name: [] for name in built}
            for _ in range(args.rounds):  # interleaved rounds: load changes hit every kernel alike
                for name, (fn, x) in built.items():
                    rounds[name].append(timed(fn, x, args.reps, name == "native") / m)
            cells = [statistics.median(values) for values in rounds.values()]
            print(f"| {channels} | {side} | {m} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")


if __name__ == "__main__":
    main()
