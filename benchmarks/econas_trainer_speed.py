"""Speed and equivalence of the stacked EcoNAS trainer against today's per-architecture trainer, side by side.

Both trainers train the same NB201 architectures under the same setting (default ``c4r4s0e10``: C=4, 8×8 inputs,
batch 256, cosine schedule, NB201 recipe) with the same seed, on the same class-balanced slice of the training
set, one torch thread, in this one process:

- ``today``: :func:`archrank.econas.trainer.train`, one architecture at a time;
- ``stacked``: :func:`archrank.econas.batched.train_stacked`, ``--stack`` architectures as one network.

Cost is process CPU seconds (and wall seconds) per architecture; with ``--train-images`` the slice gives
``epochs × ceil(images / 256)`` SGD steps, and the per-step cost is projected to the steps of the setting on the
full 50 000 images (1960 for ``c4r4s0e10``; the target: ≤ 60 CPU s per architecture). Equivalence: the
per-architecture accuracies of the two trainers are paired (same seed) and compared with the seed-to-seed
differences of the stacked trainer (seed 1 vs seed 0): Wilcoxon signed-rank test of the paired differences,
and the spread of both differences.

``--variants N`` times N SGD steps per architecture of each candidate per-step reduction instead (channels-last,
bfloat16 autocast, stacked at each of ``--stacks``, optionally ``--compile``; the per-architecture ones
interleaved so the machine's load hits them alike), and prints a torch.profiler breakdown of one step of today's
trainer.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/econas_trainer_speed.py --data cifar10:/work/econas_data
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/econas_trainer_speed.py --data cifar10:/work/econas_data \
        --archs 32 --stacks 8,16,32 --no-layouts --variants 5
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from dataclasses import replace

import numpy as np
import torch
from scipy import stats

from archrank import get_space
from archrank.econas import load_data, parse_setting, prepare, train
from archrank.econas.batched import train_stacked
from archrank.econas.data import TrainData, balanced_subset
from archrank.econas.setting import iterations

FULL_TRAIN_IMAGES = 50_000


def sliced(data: TrainData, images: int, test_images: int, seed: int) -> TrainData:
    """``data`` with a class-balanced ``images``-image training slice and the first ``test_images`` test images."""
    index = balanced_subset(data.train_y, images / len(data.train_y), seed, data.num_classes)
    return replace(data, train_x=data.train_x[index], train_y=data.train_y[index],
                   test_x=data.test_x[:test_images], test_y=data.test_y[:test_images])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="cifar10", help="cifar10[:DIR] (the full JPEG-decoded set: cifar10:DIR)")
    parser.add_argument("--setting", default="c4r4s0e10")
    parser.add_argument("--archs", type=int, default=32, help="NB201 architectures (uniform sample, --sample-seed)")
    parser.add_argument("--sample-seed", type=int, default=0)
    parser.add_argument("--stack", type=int, default=32)
    parser.add_argument("--train-images", type=int, default=2560, help="training slice (0 = the whole split)")
    parser.add_argument("--test-images", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps-only", type=int, default=0,
                        help="time only this many SGD steps per trainer (models built untimed; no evaluation)")
    parser.add_argument("--variants", type=int, default=0,
                        help="time this many SGD steps per architecture of each per-step variant (layout, bf16, "
                        "stacked, optionally compiled) after one untimed warm-up step; print a profile of one step")
    parser.add_argument("--stacks", default="",
                        help="with --variants: comma-separated stack sizes to time (default: --stack)")
    parser.add_argument("--no-layouts", action="store_true",
                        help="with --variants: leave out the channels-last and bfloat16 variants")
    parser.add_argument("--compile", action="store_true",
                        help="with --variants: add torch.compile (inductor) of the first architecture, compile "
                        "CPU seconds (this process and its compiler subprocesses) counted")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.variants:
        variants(args)
        return
    if args.steps_only:
        steps_only(args)
        return

    space = get_space("nb201")
    setting = parse_setting(args.setting)
    archs = space.sample_many(args.archs, seed=args.sample_seed)
    raw = load_data(args.data)
    full = prepare(raw, setting, args.seed)
    data = sliced(full, args.train_images, args.test_images, args.seed) if args.train_images else full
    steps = setting.epochs * math.ceil(len(data.train_y) / 256)
    print(f"data {raw.key}: {len(data.train_y)} training images ({steps} SGD steps of {setting}), "
          f"{len(data.test_y)} test images; {len(archs)} NB201 archs; torch {torch.__version__}, 1 thread, "
          f"{platform.machine()}; the machine is shared with other jobs: CPU seconds are the cost to compare",
          flush=True)

    cpu0, wall0 = time.process_time(), time.perf_counter()
    today = [train(space, a, setting, data, seed=args.seed) for a in archs]
    today_cpu, today_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    stacked = [r for i in range(0, len(archs), args.stack)
               for r in train_stacked(space, archs[i : i + args.stack], setting, data, seed=args.seed)]
    stacked_cpu, stacked_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    other_seed = [r for i in range(0, len(archs), args.stack)
                  for r in train_stacked(space, archs[i : i + args.stack], setting, data, seed=args.seed + 1)]

    n = len(archs)
    full_steps = iterations(setting, FULL_TRAIN_IMAGES, 256)
    print("\n| trainer | CPU s / arch | wall s / arch | CPU ms / step / arch | projected CPU s / arch, "
          f"{setting} on 50k ({full_steps} steps) |")
    print("|---|---|---|---|---|")
    for name, cpu, wall in (("today (per arch)", today_cpu, today_wall),
                            (f"stacked (k={args.stack})", stacked_cpu, stacked_wall)):
        per_step = cpu / n / steps
        print(f"| {name} | {cpu / n:.2f} | {wall / n:.2f} | {1000 * per_step:.1f} | "
              f"{per_step * full_steps:.0f} |")
    print(f"\nspeed-up (CPU seconds, today / stacked): {today_cpu / stacked_cpu:.2f}x; "
          f"wall: {today_wall / stacked_wall:.2f}x")

    a_today = np.array([r.accuracy for r in today])
    a_stack = np.array([r.accuracy for r in stacked])
    a_seed1 = np.array([r.accuracy for r in other_seed])
    same = a_stack - a_today
    seeds = a_seed1 - a_stack
    print(f"\naccuracy %: today mean {a_today.mean():.2f}, stacked mean {a_stack.mean():.2f}; "
          f"identical in {int((same == 0).sum())}/{n} archs")
    print(f"stacked - today (same seed): mean {same.mean():+.3f}, sd {same.std(ddof=1):.3f}, "
          f"max |d| {np.abs(same).max():.2f}; Wilcoxon p = {_wilcoxon_p(same):.3f}")
    print(f"seed 1 - seed 0 (stacked):   mean {seeds.mean():+.3f}, sd {seeds.std(ddof=1):.3f}, "
          f"max |d| {np.abs(seeds).max():.2f}")
    print(f"Spearman(today, stacked) across archs = {stats.spearmanr(a_today, a_stack).statistic:.3f}; "
          f"Spearman(seed 0, seed 1) = {stats.spearmanr(a_stack, a_seed1).statistic:.3f}")


def steps_only(args: argparse.Namespace) -> None:
    """CPU seconds of ``--steps-only`` SGD steps (one epoch over a slice of that many batches) of today's
    per-architecture loop and of the stacked loop, the models built and the data prepared outside the timing."""
    import torch.nn.functional as F

    from archrank.econas.batched import StackedNB201, stacked_loss
    from archrank.econas.trainer import Recipe, fit, make_optimizer, reduced_build_kwargs, seeded_model, speed_up_pools

    space = get_space("nb201")
    setting = parse_setting(args.setting).with_epochs(1)
    archs = space.sample_many(args.archs, seed=args.sample_seed)
    raw = load_data(args.data)
    data = sliced(prepare(raw, setting, args.seed), args.steps_only * 256, 10, args.seed)
    recipe = Recipe()
    kwargs = reduced_build_kwargs(space, setting)
    fmt, no_autocast = torch.contiguous_format, (lambda: torch.autocast("cpu", enabled=False))

    def single_loss(logits: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loss = F.cross_entropy(logits, yb)
        return loss, loss.detach() * len(yb), (logits.detach().argmax(1) == yb).sum()

    today = 0.0
    for arch in archs:
        model = seeded_model(space, arch, args.seed, 10, kwargs)
        speed_up_pools(model)
        optimizer = make_optimizer(model, recipe)
        cpu0 = time.process_time()
        fit(model, optimizer, data, setting, recipe, args.seed, fmt, no_autocast, None, single_loss)
        today += time.process_time() - cpu0
    stacked = 0.0
    for i in range(0, len(archs), args.stack):
        model = StackedNB201([seeded_model(space, a, args.seed, 10, kwargs) for a in archs[i : i + args.stack]])
        optimizer = make_optimizer(model, recipe)
        cpu0 = time.process_time()
        fit(model, optimizer, data, setting, recipe, args.seed, fmt, no_autocast, None, stacked_loss)
        stacked += time.process_time() - cpu0
    steps, n = args.steps_only, len(archs)
    full_steps = iterations(parse_setting(args.setting), FULL_TRAIN_IMAGES, 256)
    print(f"{n} NB201 archs, {steps} SGD steps of {setting.with_epochs(parse_setting(args.setting).epochs)} "
          f"(batch 256, data {raw.key}), 1 thread, shared machine")
    for name, cpu in (("today (per arch)", today), (f"stacked (k={args.stack})", stacked)):
        per_step = cpu / n / steps
        print(f"| {name} | {1000 * per_step:.1f} CPU ms / step / arch | projected {per_step * full_steps:.0f} CPU s "
              f"/ arch for {full_steps} steps |")
    print(f"speed-up (CPU seconds of the steps, today / stacked): {today / stacked:.2f}x")


def variants(args: argparse.Namespace) -> None:
    """CPU ms per SGD step per architecture of the candidate per-step reductions, side by side on the same
    architectures, batches and seed: today's loop (NCHW, float32), channels-last, bfloat16 autocast (oneDNN/AMX),
    the stacked network, and (``--compile``) inductor; then where the time of today's step goes (torch.profiler)."""
    import resource

    import torch.nn.functional as F
    from torch.profiler import ProfilerActivity, profile

    from archrank.econas.batched import StackedNB201, stacked_loss
    from archrank.econas.trainer import Recipe, make_optimizer, reduced_build_kwargs, seeded_model, speed_up_pools

    space = get_space("nb201")
    setting = parse_setting(args.setting)
    archs = space.sample_many(args.archs, seed=args.sample_seed)
    raw = load_data(args.data)
    data = sliced(prepare(raw, setting, args.seed), (args.variants + 1) * 256, 10, args.seed)
    batches = [((data.train_x[i * 256 : (i + 1) * 256] - data.mean) / data.std, data.train_y[i * 256 : (i + 1) * 256])
               for i in range(args.variants + 1)]
    kwargs = reduced_build_kwargs(space, setting)
    recipe = Recipe()

    def run_steps(model: torch.nn.Module, fmt: torch.memory_format, bf16: bool, loss_of, forward=None) -> float:
        """CPU seconds of the timed steps (the first batch is an untimed warm-up step)."""
        forward = forward or model
        optimizer = make_optimizer(model, recipe)
        elapsed = 0.0
        for i, (xb, yb) in enumerate(batches):
            cpu0 = time.process_time()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_of(forward(xb.contiguous(memory_format=fmt)).float(), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if i:
                elapsed += time.process_time() - cpu0
        return elapsed

    def single(arch, fmt=torch.contiguous_format) -> torch.nn.Module:
        model = seeded_model(space, arch, args.seed, 10, kwargs)
        speed_up_pools(model)
        return model.to(memory_format=fmt)

    def cross_entropy(logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, yb)

    def stacked_cross_entropy(logits: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        return stacked_loss(logits, yb)[0]

    totals: dict[str, float] = {}
    cl, nchw = torch.channels_last, torch.contiguous_format
    for arch in archs:  # interleaved, so the shared machine's load hits every variant alike
        totals["today (NCHW, float32)"] = totals.get("today (NCHW, float32)", 0.0) + run_steps(
            single(arch), nchw, False, cross_entropy)
        if not args.no_layouts:
            totals["channels-last"] = totals.get("channels-last", 0.0) + run_steps(single(arch, cl), cl, False,
                                                                                 cross_entropy)
            totals["bfloat16 autocast"] = totals.get("bfloat16 autocast", 0.0) + run_steps(
                single(arch), nchw, True, cross_entropy)
    for stack in [int(k) for k in args.stacks.split(",") if k] or [args.stack]:
        name = f"stacked (k={stack})"
        for start in range(0, len(archs), stack):
            group = sorted(archs[start : start + stack], key=lambda a: a.ops)  # as train_stacked orders them
            model = StackedNB201([seeded_model(space, a, args.seed, 10, kwargs) for a in group])
            totals[name] = totals.get(name, 0.0) + run_steps(model, nchw, False, stacked_cross_entropy)
    n, steps = len(archs), args.variants
    full_steps = iterations(setting, FULL_TRAIN_IMAGES, 256)
    print(f"{n} NB201 archs, {steps} timed SGD steps each (after 1 warm-up step), {setting} model and batches "
          f"(batch 256, data {raw.key}), 1 thread, shared machine (load {_load()})")
    print("\n| variant | CPU ms / step / arch | projected CPU s / arch, 1960 steps | today / variant |")
    print("|---|---|---|---|")
    base = totals["today (NCHW, float32)"]
    for name, cpu in totals.items():
        per_step = cpu / n / steps
        print(f"| {name} | {1000 * per_step:.1f} | {per_step * full_steps:.0f} | {base / cpu:.2f}x |")
    if args.compile:
        children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu0 = time.process_time()
        model = single(archs[0])
        compiled = torch.compile(model)
        first = run_steps(model, nchw, False, cross_entropy, forward=compiled)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        total = time.process_time() - cpu0 + (children.ru_utime + children.ru_stime
                                              - children0.ru_utime - children0.ru_stime)
        eager = run_steps(single(archs[0]), nchw, False, cross_entropy)
        print(f"\ntorch.compile (inductor) of arch 0: first {steps + 1} steps incl. compilation {total:.0f} CPU s "
              f"(compiler subprocesses included); compiled steps: {1000 * first / steps:.1f} CPU ms / step, eager "
              f"{1000 * eager / steps:.1f} (warm-up excluded; the warm-up step holds the compilation)")
    model = single(archs[0])
    optimizer = make_optimizer(model, recipe)
    xb, yb = batches[0]
    for _ in range(2):
        loss = F.cross_entropy(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3):
            loss = F.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    print(f"\nwhere today's step goes (arch 0 = {space.key(archs[0])}, 3 steps, torch.profiler, self CPU):")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


def _load() -> str:
    """The 1-minute load average (how shared the machine was)."""
    import os

    return f"{os.getloadavg()[0]:.1f}"


def _wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of ``differences`` (1.0 when every difference is zero)."""
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences).pvalue)


if __name__ == "__main__":
    main()
