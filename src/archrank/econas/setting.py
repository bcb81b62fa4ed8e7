"""EcoNAS reduced-training settings: ``c<x>r<y>s<z>e<w>`` (Zhou et al., "EcoNAS: Finding Proxies for Economical
Neural Architecture Search", CVPR 2020).

EcoNAS studies four reduction factors of the full training recipe: the number of channels (``c``), the input
resolution (``r``), the training-sample ratio (``s``) and the number of training epochs (``e``), and names a reduced
setting by their subscripts, e.g. ``c4r4s0e60``. This module parses and validates that notation.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

_SETTING_RE = re.compile(r"^c(\d+)r(\d+)s(\d+)e(\d+)$")
MAX_SAMPLE_EXPONENT = 16


@dataclass(frozen=True)
class Setting:
    """One reduced-training setting. Build it with :func:`parse_setting` (or directly, with validation).

    Attributes hold the subscripts exactly as written (``c``, ``r``, ``s``, ``e``); the derived properties give the
    actual reductions: :attr:`channel_divisor`, :attr:`resolution_divisor`, :attr:`sample_fraction`,
    :attr:`epochs`.
    """

    c: int
    r: int
    s: int
    e: int

    def __post_init__(self) -> None:
        for name in ("c", "r", "s", "e"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"EcoNAS setting factor {name} must be a non-negative integer, got {value!r}")
        if self.e < 1:
            raise ValueError(f"EcoNAS setting needs at least one epoch, got e{self.e}")
        if self.s > MAX_SAMPLE_EXPONENT:
            raise ValueError(f"EcoNAS setting factor s{self.s} keeps 1/2^{self.s} of the samples: use s <= 16")

    # --- derived reductions ---------------------------------------------------------------------------
    @property
    def channel_divisor(self) -> int:
        """Channels are divided by this (``c0`` and ``c1`` keep the full width)."""
        return max(1, self.c)

    @property
    def resolution_divisor(self) -> int:
        """Input height and width are divided by this (``r0`` and ``r1`` keep the full resolution)."""
        return max(1, self.r)

    @property
    def sample_fraction(self) -> float:
        """Fraction of the training set kept: ``1 / 2**s`` (``s0`` keeps every sample)."""
        return 1.0 / (2**self.s)

    @property
    def epochs(self) -> int:
        return self.e

    def width(self, full: int) -> int:
        """Reduced width for a space whose full width parameter is ``full`` (at least 1)."""
        return max(1, round(full / self.channel_divisor))

    def resolution(self, full: int) -> int:
        """Reduced input side for a full side of ``full`` pixels (at least 1)."""
        return max(1, round(full / self.resolution_divisor))

    def relative_cost(self) -> float:
        """Training compute relative to ``c0r0s0`` for the same number of epochs: FLOPs of a convolutional network
        scale with channels² × pixels, and the number of iterations with the samples kept, so
        ``cost = (1/c)² × (1/r)² × 2^-s``. Multiply by the epochs for the whole training. A model, not a measurement:
        on real hardware small models are dominated by fixed per-step overheads."""
        return (1.0 / self.channel_divisor**2) * (1.0 / self.resolution_divisor**2) * self.sample_fraction

    def with_epochs(self, epochs: int) -> Setting:
        return Setting(self.c, self.r, self.s, int(epochs))

    def __str__(self) -> str:
        return f"c{self.c}r{self.r}s{self.s}e{self.e}"


def parse_setting(text: str | Setting) -> Setting:
    """Parse an EcoNAS setting string such as ``"c4r4s0e60"`` into a frozen :class:`Setting`.

    The exact mapping implemented (EcoNAS, Zhou et al. CVPR 2020, Sec. 3 names the four factors; the subscripts of
    ``c`` and ``r`` are read as divisors, as in archrank issue 7 and as the zero-cost-proxy paper, Abdelfattah et
    al. ICLR 2021, describes its "EcoNAS proxy" on NAS-Bench-201: 4x fewer channels, 4x lower resolution, all
    samples):

    - ``c<x>``: channels divided by ``x`` (``c4``: NB201's C=16 becomes C=4); ``c0`` (and ``c1``) = full width;
    - ``r<y>``: input height and width divided by ``y`` (``r4``: 32x32 becomes 8x8); ``r0`` (and ``r1``) = full;
    - ``s<z>``: the training set is reduced to a class-balanced ``1/2^z`` of its samples (``s0`` keeps every
      sample, ``s1`` half, ``s2`` a quarter). This is our reading: a divisor reading cannot give ``s0`` ("keep
      all") a meaning distinct from ``s1``, and with powers of two the paper's equal-iteration comparisons (half
      the samples for twice the epochs) are consecutive subscripts;
    - ``e<w>``: ``w`` training epochs (``w >= 1``).

    Factors must be written in the order c, r, s, e with non-negative integer subscripts. A :class:`Setting` is
    returned unchanged. ``ValueError`` with one line naming the problem when malformed.
    """
    if isinstance(text, Setting):
        return text
    if not isinstance(text, str):
        raise ValueError(f"EcoNAS setting must be a string like 'c4r4s0e60', got {type(text).__name__}")
    match = _SETTING_RE.match(text.strip().lower())
    if match is None:
        raise ValueError(
            f"malformed EcoNAS setting {text!r}: expected c<int>r<int>s<int>e<int>, e.g. 'c4r4s0e60'"
        )
    c, r, s, e = (int(g) for g in match.groups())
    return Setting(c, r, s, e)


def iterations(setting: Setting, num_samples: int, batch_size: int) -> int:
    """SGD steps of a training under ``setting`` on a training set of ``num_samples`` images."""
    kept = max(1, round(num_samples * setting.sample_fraction))
    return setting.epochs * math.ceil(kept / batch_size)
