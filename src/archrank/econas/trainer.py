"""Train any space's model under an EcoNAS reduced setting (Zhou et al., "EcoNAS", CVPR 2020).

The recipe is NAS-Bench-201's (and EcoNAS's CIFAR recipe): SGD with Nesterov momentum 0.9, learning rate 0.1 with a
per-step cosine decay to zero, weight decay 5e-4, batch size 256, random crop + horizontal flip, cross-entropy.
``Recipe.schedule_epochs`` stretches the cosine over more epochs than are trained: a snapshot of a longer run, as
the zero-cost paper read its EcoNAS proxy (:data:`ZERO_COST_PAPER_RECIPE`). The
setting reduces the width through the space's width parameter (``C`` of NB201), the resolution and the training
samples through :mod:`archrank.econas.data`, and sets the number of epochs. Accuracy is measured on the whole test
split at the reduced resolution.

Everything is seeded from ``seed``: the weights (``torch.manual_seed`` inside a forked RNG, so the caller's RNG is
untouched), the subset, the shuffling and the augmentation (one ``torch.Generator``). On CPU a training is
deterministic for a fixed number of threads (``torch.set_num_threads`` is the caller's choice). On CUDA the model
and data are ``channels_last`` and the forward pass runs under autocast (bfloat16 where supported, else float16
with a gradient scaler).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from archrank.econas.data import RawData, TrainData, augment, load_data, prepare
from archrank.econas.setting import Setting, parse_setting
from archrank.seeding import build_seeded
from archrank.spaces import Arch, SearchSpace

DEFAULT_WIDTH_KWARGS: dict[str, dict[str, int]] = {"nb201": {"C": 16}}


@dataclass(frozen=True)
class Recipe:
    """Optimisation hyper-parameters (defaults: NAS-Bench-201 / EcoNAS CIFAR recipe)."""

    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 5e-4
    flip: bool = True
    crop: bool = True
    eval_batch_size: int = 1024
    amp: bool = True  # CUDA only
    channels_last: bool = True  # CUDA only
    fast_pool: bool = True  # CPU only: see BoxAvgPool3x3
    schedule_epochs: int | None = None  # cosine horizon in epochs; None = the setting's epochs (anneal to zero)

    def __post_init__(self) -> None:
        if self.schedule_epochs is not None and (
            isinstance(self.schedule_epochs, bool) or not isinstance(self.schedule_epochs, int)
            or self.schedule_epochs < 1
        ):
            raise ValueError(f"schedule_epochs must be a positive integer or None, got {self.schedule_epochs!r}")
        if self.batch_size < 1 or self.eval_batch_size < 1:
            raise ValueError(f"batch sizes must be positive, got {self.batch_size} and {self.eval_batch_size}")
        if self.lr <= 0 or self.weight_decay < 0 or not 0 <= self.momentum < 1:
            raise ValueError(f"invalid optimiser settings lr={self.lr}, wd={self.weight_decay}, m={self.momentum}")

    def diffs(self) -> list[str]:
        """``name=value`` of the fields that differ from the default recipe and change the result."""
        default = Recipe()
        return [
            f"{k}={v}"
            for k, v in asdict(self).items()
            if v != getattr(default, k) and k not in ("eval_batch_size", "amp", "channels_last", "fast_pool")
        ]

    def horizon(self, setting: Setting) -> int:
        """Epochs the cosine learning rate decays over for ``setting``: ``schedule_epochs`` or the setting's own.
        ValueError when the schedule is shorter than the training (the rate would have reached zero)."""
        if self.schedule_epochs is None:
            return setting.epochs
        if self.schedule_epochs < setting.epochs:
            raise ValueError(f"schedule_epochs={self.schedule_epochs} is shorter than the {setting.epochs} epochs of "
                             f"{setting}")
        return self.schedule_epochs


ZERO_COST_PAPER_SETTING = "c4r4s0e20"
ZERO_COST_PAPER_RECIPE = Recipe(batch_size=2048, schedule_epochs=40)
"""The "EcoNAS" point of the zero-cost paper (Abdelfattah et al., ICLR 2021, Fig. 1-2, ρ ≈ 0.61 on NB201), as its
released code runs it (SamsungLabs/zero-cost-nas ``nasbench2_train.py`` defaults and
``notebooks/nasbench201_correlations.ipynb``): C=4, 8×8 inputs, all samples, SGD lr 0.1 Nesterov, weight decay 5e-4,
batch size 2048, a 40-epoch cosine schedule, validation accuracy read after epoch 20. Their schedule steps once per
epoch, ours per step (25 steps per epoch at this batch size)."""


def variant_tag(
    space: SearchSpace,
    recipe: Recipe | None = None,
    width_kwarg: Mapping[str, int] | None = None,
    build_kwargs: Mapping[str, Any] | None = None,
) -> str:
    """What besides the setting changes a training: ``""`` for the defaults, else ``"|k=v,..."`` (recipe changes,
    extra build options, a non-default full width). Appended to the setting in store keys."""
    parts = (recipe or Recipe()).diffs()
    parts += [f"{k}={v}" for k, v in sorted((build_kwargs or {}).items())]
    if width_kwarg is not None and dict(width_kwarg) != DEFAULT_WIDTH_KWARGS.get(space.name):
        parts += [f"full_{k}={v}" for k, v in sorted(width_kwarg.items())]
    return "|" + ",".join(parts) if parts else ""


@dataclass(frozen=True)
class TrainResult:
    """Outcome of one reduced training. ``accuracy`` is test accuracy in %, ``seconds`` the wall time of building,
    training and testing (data preparation excluded), ``cpu_seconds`` the process CPU time over the same span."""

    space: str
    arch_key: str
    setting: str
    seed: int
    data: str
    device: str
    accuracy: float
    seconds: float
    cpu_seconds: float
    epochs: int
    iterations: int
    final_train_loss: float
    final_train_accuracy: float
    num_params: int
    width: dict[str, int] = field(default_factory=dict)
    resolution: int = 0
    train_samples: int = 0
    test_samples: int = 0
    threads: int = 1
    recipe: str = ""  # variant tag (see variant_tag): "" for the default recipe and model options
    # Networks trained together as one stacked model (1: alone); ``seconds`` and ``cpu_seconds`` are then the
    # stack's totals divided by it. None: not recorded (trainings stored before the field existed).
    stack: int | None = None

    @property
    def key(self) -> tuple[str, str, str, int, str]:
        return (self.space, self.arch_key, self.setting + self.recipe, self.seed, self.data)


class BoxAvgPool3x3(nn.Module):
    """``AvgPool2d(3, stride=1, padding=1, count_include_pad=False)`` as two shifted-sum passes.

    Same values (up to float rounding); on CPU PyTorch's pooling kernels cost close to a millisecond per call on
    the small maps of reduced settings, where half of a c4r4 training went into pooling and its backward.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        padded = F.pad(x, (1, 1, 1, 1))
        rows = padded[..., :-2, :] + padded[..., 1:-1, :] + padded[..., 2:, :]
        total = rows[..., :-2] + rows[..., 1:-1] + rows[..., 2:]
        return total / (_window_counts(h, x.device)[:, None] * _window_counts(w, x.device)[None, :]).to(x.dtype)


def _window_counts(n: int, device: torch.device) -> torch.Tensor:
    index = torch.arange(n, device=device)
    return (index + 1).clamp(max=n - 1) - (index - 1).clamp(min=0) + 1


def speed_up_pools(model: nn.Module) -> int:
    """Swap every ``AvgPool2d(3, 1, 1, count_include_pad=False)`` of ``model`` for :class:`BoxAvgPool3x3`."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if (
                isinstance(child, nn.AvgPool2d)
                and child.kernel_size in (3, (3, 3))
                and child.stride in (1, (1, 1))
                and child.padding in (1, (1, 1))
                and not child.count_include_pad
                and not child.ceil_mode
                and child.divisor_override is None
            ):
                setattr(parent, name, BoxAvgPool3x3())
                swapped += 1
    return swapped


def reduced_build_kwargs(
    space: SearchSpace, setting: Setting, width_kwarg: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Build keyword arguments of the reduced width: ``{name: round(full / c)}`` for each width parameter.

    ``width_kwarg`` maps the space's width parameter(s) to their full value, e.g. ``{"C": 16}`` for NB201 (the
    default for known spaces). A space without one can only be trained at ``c0``/``c1``.
    """
    full = dict(width_kwarg) if width_kwarg is not None else DEFAULT_WIDTH_KWARGS.get(space.name)
    if full is None:
        if setting.channel_divisor != 1:
            raise ValueError(
                f"space {space.name!r} has no known width parameter: pass width_kwarg={{name: full_width}} "
                f"to reduce channels by {setting.channel_divisor}"
            )
        return {}
    return {name: setting.width(int(value)) for name, value in full.items()}


def seeded_model(space: SearchSpace, arch: Arch, seed: int, num_classes: int, kwargs: dict[str, Any]) -> nn.Module:
    """``space``'s model of ``arch`` initialised from ``seed`` (the caller's global RNG is left untouched)."""
    return build_seeded(space, arch, seed, num_classes, **kwargs)


def _cosine(step: int, total: int) -> float:
    return 0.5 * (1.0 + math.cos(math.pi * step / max(1, total)))


def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int, autocast: Any) -> float:
    """Accuracy (%) of ``model`` on normalised inputs ``x`` with labels ``y`` (eval mode, no gradients)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            xb = x[start : start + batch_size]
            with autocast():
                logits = model(xb)
            correct += int((logits.argmax(1) == y[start : start + batch_size]).sum())
    return 100.0 * correct / max(1, len(y))


def autocast_for(device: torch.device, recipe: Recipe) -> tuple[Any, torch.amp.GradScaler | None]:
    """Autocast context factory and gradient scaler of the recipe on ``device`` (mixed precision on CUDA only)."""
    if device.type != "cuda" or not recipe.amp:
        return (lambda: torch.autocast(device.type, enabled=False)), None
    if torch.cuda.is_bf16_supported():
        return (lambda: torch.autocast("cuda", dtype=torch.bfloat16)), None
    return (lambda: torch.autocast("cuda", dtype=torch.float16)), torch.amp.GradScaler("cuda")


def make_optimizer(model: nn.Module, recipe: Recipe) -> torch.optim.SGD:
    """The recipe's SGD over every parameter of ``model`` (NB201 decays BatchNorm parameters too; so do we)."""
    return torch.optim.SGD(
        model.parameters(),
        lr=recipe.lr,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay,
        foreach=True,  # one multi-tensor update instead of a Python loop over parameters (~25 % of a c4r4 step)
    )


@dataclass(frozen=True)
class FitStats:
    """What :func:`fit` saw in the last epoch: summed loss and correct predictions (one entry per stacked model, or
    scalars for one model), the number of samples they cover, and the SGD steps of the whole training."""

    loss_sum: torch.Tensor
    correct: torch.Tensor
    seen: int
    iterations: int


LossFn = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]


def fit(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: TrainData,
    setting: Setting,
    recipe: Recipe,
    seed: int,
    fmt: torch.memory_format,
    autocast: Any,
    scaler: torch.amp.GradScaler | None,
    loss_fn: LossFn,
) -> FitStats:
    """The SGD loop of a reduced training: ``setting.epochs`` epochs over ``data`` (already on the model's device)
    with the recipe's per-step cosine learning rate (over ``recipe.horizon(setting)`` epochs), augmentation and
    batch size.

    ``loss_fn(logits, labels)`` returns the loss to minimise and, detached, the summed loss and the number of
    correct predictions of the batch (scalars, or one entry per model when ``model`` stacks several). The
    shuffling and augmentation come from one generator seeded with ``seed``, so every model trained with the same
    ``seed`` and data sees the same mini-batches, alone or stacked.
    """
    device = data.train_x.device
    generator = torch.Generator(device=device)
    generator.manual_seed(seed)
    n = len(data.train_y)
    steps_per_epoch = math.ceil(n / recipe.batch_size)
    total = setting.epochs * steps_per_epoch
    horizon = recipe.horizon(setting) * steps_per_epoch
    step = seen = 0
    loss_sum: torch.Tensor = torch.zeros((), device=device)
    correct: torch.Tensor = torch.zeros((), device=device)
    for _epoch in range(setting.epochs):
        model.train()
        seen = 0
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device)
        order = torch.randperm(n, generator=generator, device=device)
        for start in range(0, n, recipe.batch_size):
            index = order[start : start + recipe.batch_size]
            if len(index) < 2 and n >= 2:  # BatchNorm needs two samples; skip a lone leftover
                step += 1
                continue
            xb = data.train_x[index]
            if recipe.crop or recipe.flip:
                xb = augment(xb, data.padding if recipe.crop else 0, recipe.flip, generator)
            xb = ((xb - data.mean) / data.std).contiguous(memory_format=fmt)
            yb = data.train_y[index]
            for group in optimizer.param_groups:
                group["lr"] = recipe.lr * _cosine(step, horizon)
            with autocast():
                logits = model(xb)
                loss, batch_loss, batch_correct = loss_fn(logits, yb)
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            step += 1
            loss_sum = loss_sum + batch_loss
            correct = correct + batch_correct
            seen += len(index)
    return FitStats(loss_sum=loss_sum, correct=correct, seen=seen, iterations=total)


def training_setup(
    space: SearchSpace,
    setting: Setting,
    data: RawData | TrainData | tuple[str, Any] | str,
    seed: int,
    device: torch.device,
    recipe: Recipe,
    width_kwarg: Mapping[str, int] | None,
    build_kwargs: Mapping[str, Any] | None,
) -> tuple[TrainData, dict[str, Any], Any, Any, torch.memory_format]:
    """What every training of ``setting`` needs before its first step: the reduced data (checked to match the
    setting), the model's build options, autocast and grad scaler, and the memory format."""
    recipe.horizon(setting)  # a schedule shorter than the training fails here, before any work
    prepared = data if isinstance(data, TrainData) else prepare(load_data(data), setting, seed)
    if prepared.reduction != (setting.resolution_divisor, setting.s):
        raise ValueError(
            f"data was prepared for r{prepared.reduction[0]}s{prepared.reduction[1]}, not for setting {setting}"
        )
    kwargs = {**dict(build_kwargs or {}), **reduced_build_kwargs(space, setting, width_kwarg)}
    autocast, scaler = autocast_for(device, recipe)
    fmt = torch.channels_last if device.type == "cuda" and recipe.channels_last else torch.contiguous_format
    return prepared, kwargs, autocast, scaler, fmt


def train(
    space: SearchSpace,
    arch: Arch | str,
    setting: str | Setting = "c4r4s0e10",
    data: RawData | TrainData | tuple[str, Any] | str = ("cifar10", None),
    seed: int = 0,
    device: str | torch.device = "cpu",
    recipe: Recipe | None = None,
    width_kwarg: Mapping[str, int] | None = None,
    build_kwargs: Mapping[str, Any] | None = None,
) -> TrainResult:
    """Train ``arch`` of ``space`` from scratch under the reduced ``setting``; return its test accuracy and cost.

    ``data`` is a ``(name, root)`` pair or ``"name[:root]"`` (CIFAR-10/100; ``root=None`` = shared data), a
    :class:`RawData`, or a :class:`TrainData` already reduced with :func:`archrank.econas.data.prepare` for this
    setting (what :func:`archrank.econas.consistency.train_many` passes to avoid re-reading files).
    ``width_kwarg`` names the space's width parameter and its full value (NB201: ``{"C": 16}``), ``build_kwargs``
    any other fixed build options.
    """
    setting = parse_setting(setting)
    recipe = recipe or Recipe()
    arch = space.parse(arch) if isinstance(arch, str) else arch
    device = torch.device(device)
    prepared, kwargs, autocast, scaler, fmt = training_setup(
        space, setting, data, seed, device, recipe, width_kwarg, build_kwargs
    )

    wall0, cpu0 = time.perf_counter(), time.process_time()
    on_device = prepared.to(device)
    model = seeded_model(space, arch, seed, prepared.num_classes, kwargs)
    if device.type == "cpu" and recipe.fast_pool:
        speed_up_pools(model)
    model = model.to(device, memory_format=fmt)
    num_params = sum(p.numel() for p in model.parameters())
    optimizer = make_optimizer(model, recipe)

    def loss_fn(logits: torch.Tensor, yb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        loss = F.cross_entropy(logits, yb)
        return loss, loss.detach().float() * len(yb), (logits.detach().argmax(1) == yb).sum()

    stats = fit(model, optimizer, on_device, setting, recipe, seed, fmt, autocast, scaler, loss_fn)
    test_x = on_device.test_x.contiguous(memory_format=fmt)
    accuracy = evaluate(model, test_x, on_device.test_y, recipe.eval_batch_size, autocast)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds, cpu_seconds = time.perf_counter() - wall0, time.process_time() - cpu0
    return TrainResult(
        space=space.name,
        arch_key=space.key(arch),
        setting=str(setting),
        seed=int(seed),
        data=prepared.key,
        device=str(device),
        accuracy=accuracy,
        seconds=seconds,
        cpu_seconds=cpu_seconds,
        epochs=setting.epochs,
        iterations=stats.iterations,
        final_train_loss=float(stats.loss_sum) / stats.seen if stats.seen else float("nan"),
        final_train_accuracy=100.0 * float(stats.correct) / stats.seen if stats.seen else float("nan"),
        num_params=int(num_params),
        width=_width_of(kwargs, space, width_kwarg),
        resolution=prepared.side,
        train_samples=len(on_device.train_y),
        test_samples=len(on_device.test_y),
        threads=torch.get_num_threads(),
        recipe=variant_tag(space, recipe, width_kwarg, build_kwargs),
        stack=1,
    )


def _width_of(
    kwargs: Mapping[str, Any], space: SearchSpace, width_kwarg: Mapping[str, int] | None
) -> dict[str, int]:
    names = width_kwarg if width_kwarg is not None else DEFAULT_WIDTH_KWARGS.get(space.name, {})
    return {name: int(kwargs[name]) for name in names if name in kwargs}
