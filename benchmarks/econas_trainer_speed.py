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

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/econas_trainer_speed.py --data cifar10:/work/econas_data
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
    args = parser.parse_args()
    torch.set_num_threads(1)
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


def _wilcoxon_p(differences: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p-value of ``differences`` (1.0 when every difference is zero)."""
    if not np.any(differences):
        return 1.0
    return float(stats.wilcoxon(differences).pvalue)


if __name__ == "__main__":
    main()
