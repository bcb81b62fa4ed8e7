"""Eproxy's trainable heads and frozen barrier layers (Li et al., "Extensible Proxy for Efficient NAS",
arXiv 2210.09459), and the initialisation schemes Discrete Proxy Search chooses from.

Each branch: the stage feature (resized to ``size``×``size``) → head ``Conv2d(k) → ReLU → BatchNorm2d`` (trained
with the backbone) → **barrier** ``Conv2d(k_b)`` to the target's channels, randomly initialised and never trained
(``requires_grad=False`` and left out of the optimiser). The barrier adds non-linearity to the optimisation
landscape so that architectures separate within a few steps.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from archrank.eproxy.config import EproxyConfig
from archrank.eproxy.targets import derive_seed

__all__ = ["EproxyHead", "init_weights", "resize"]


def init_weights(module: nn.Module, scheme: str, generator: torch.Generator) -> None:
    """Re-initialise every conv/linear weight of ``module`` with ``scheme`` (biases zero); ``default`` is a no-op."""
    if scheme == "default":
        return
    init = {
        "xavier_uniform": lambda w: nn.init.xavier_uniform_(w, generator=generator),
        "xavier_normal": lambda w: nn.init.xavier_normal_(w, generator=generator),
        "kaiming_uniform": lambda w: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=generator),
        "kaiming_normal": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=generator),
    }
    if scheme not in init:
        raise ValueError(f"unknown init scheme {scheme!r}")
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and m.weight.dim() >= 2:
                w = m.weight
                if w.device.type == "cpu":
                    init[scheme](w)
                else:  # draw on the CPU from the CPU generator: identical values on every device
                    w.copy_(init[scheme](torch.empty(w.shape)))
                if m.bias is not None:
                    m.bias.zero_()


def resize(feature: torch.Tensor, size: int, mode: str) -> torch.Tensor:
    """Bring a (N, C, H, W) map to size×size: ``nearest`` (the reference), ``avg`` (adaptive average) or
    ``bilinear``; a map already at that size is returned as is."""
    if tuple(feature.shape[2:]) == (size, size):
        return feature
    if mode == "nearest":
        return F.interpolate(feature, size=(size, size), mode="nearest")
    if mode == "avg":
        return F.adaptive_avg_pool2d(feature, size)
    if mode == "bilinear":
        return F.interpolate(feature, size=(size, size), mode="bilinear", align_corners=False)
    raise ValueError(f"unknown resize mode {mode!r}")


class EproxyHead(nn.Module):
    """All branches' heads (trainable) and barriers (frozen) for given stage channel counts.

    Built deterministically from ``seed``: PyTorch's default initialisation is drawn inside a forked, seeded RNG,
    then ``config.init_backbone`` (the reference applies its network init to backbone and head alike) and
    ``config.init_barrier`` are applied from their own seeded generators.
    """

    def __init__(self, config: EproxyConfig, in_channels: Sequence[int], seed: int = 0) -> None:
        super().__init__()
        if len(in_channels) != len(config.branches):
            raise ValueError(f"{len(config.branches)} branches but {len(in_channels)} input channel counts")
        self.config = config
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derive_seed(seed, "eproxy-head"))
            self.heads = nn.ModuleList(
                nn.Sequential(
                    nn.Conv2d(c_in, b.head_channels, b.head_kernel, padding=b.head_kernel // 2),
                    nn.ReLU(),
                    nn.BatchNorm2d(b.head_channels),
                )
                for c_in, b in zip(in_channels, config.branches, strict=True)
            )
            self.barriers = nn.ModuleList(
                nn.Conv2d(b.head_channels, b.target_channels, b.barrier_kernel, padding=b.barrier_kernel // 2)
                for b in config.branches
            )
        gen = torch.Generator().manual_seed(derive_seed(seed, "eproxy-head-init"))
        init_weights(self.heads, config.init_backbone, gen)
        gen = torch.Generator().manual_seed(derive_seed(seed, "eproxy-barrier-init"))
        init_weights(self.barriers, config.init_barrier, gen)
        self.barriers.requires_grad_(False)

    def forward(self, features: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Per-branch outputs from the per-branch (already selected) stage features."""
        size, mode = self.config.size, self.config.resize
        return [
            barrier(head(resize(f, size, mode)))
            for f, head, barrier in zip(features, self.heads, self.barriers, strict=True)
        ]

    def trainable_parameters(self) -> list[nn.Parameter]:
        """The heads' parameters (the barriers are excluded by construction)."""
        return list(self.heads.parameters())
