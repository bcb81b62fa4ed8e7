"""REINFORCE (Williams 1992) with a factorised categorical controller over ``space.decisions()``.

One independent softmax per decision (the NAS-Bench-201 / NATS-Bench REINFORCE baseline: Adam, learning rate
0.01, an exponential-moving-average reward baseline with momentum 0.9). After each reward ``r`` the baseline
becomes ``b <- 0.9 b + 0.1 r`` and the logits ascend ``(r - b) * grad log p(arch)``. A NaN reward (a failed
training) counts as the worst reward seen so far.

Warmup: the controller is first pretrained on the proxy-scored pool (reward = the proxy rank of each pool
member, standardised; ``pretrain_steps`` Adam steps on minibatches), then the pool's ``warmup_picks`` best
architectures are the first ones proposed (and rewarded like samples of the policy). Move proposal: the
controller draws ``move_candidates`` architectures and the proxy picks among them (see ``MoveProposal.best_of``).

Samples already trained are redrawn (up to ``FRESH_TRIES`` times), so a peaked controller mostly proposes new
cells instead of re-rewarding the same few. When every redraw is trained already the last one is proposed:
``search.run`` tells its known accuracy again (a free repeat) and the policy learns from it like from any reward.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.stats import rankdata

from archrank.search.guidance import MoveProposal, Warmup
from archrank.search.samplers.base import FRESH_TRIES, Sampler
from archrank.spaces.base import SAMPLE_TRIES, Arch, SearchSpace


class Adam:
    """Adam ascent on a list of numpy arrays (in place)."""

    def __init__(self, params: Sequence[np.ndarray], lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> None:
        self.params = list(params)
        self.lr = lr
        self.betas = betas
        self.eps = 1e-8
        self.reset()

    def reset(self) -> None:
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0

    def ascend(self, grads: Sequence[np.ndarray], lr: float | None = None) -> None:
        b1, b2 = self.betas
        self.t += 1
        step = (lr if lr is not None else self.lr) * np.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            p += step * m / (np.sqrt(v) + self.eps)


class Reinforce(Sampler):
    """Policy-gradient search with a factorised categorical policy and an EMA baseline."""

    name = "reinforce"
    supports_move = True

    def __init__(
        self,
        space: SearchSpace,
        seed: int | random.Random | None = 0,
        warmup: Warmup | None = None,
        move: MoveProposal | None = None,
        lr: float = 0.01,
        baseline_decay: float = 0.9,
        warmup_picks: int = 10,
        pretrain_steps: int = 100,
        pretrain_batch: int = 64,
        pretrain_lr: float = 0.02,
        move_candidates: int = 10,
    ) -> None:
        super().__init__(space, seed, warmup, move)
        self.lr, self.baseline_decay = lr, baseline_decay
        self.warmup_picks, self.move_candidates = warmup_picks, move_candidates
        self.pretrain_steps, self.pretrain_batch, self.pretrain_lr = pretrain_steps, pretrain_batch, pretrain_lr
        self.logits = [np.zeros(n) for n in space.decisions()]
        self.optimizer = Adam(self.logits, lr)
        self.baseline: float | None = None
        self._worst: float | None = None  # the lowest reward told so far: what a NaN reward counts as
        self._cumulative: list[list[float]] | None = None
        self._queue: deque[Arch] = deque()
        if warmup is not None:
            self._pretrain(warmup)
            self._queue.extend(warmup.top(warmup_picks))

    def config(self) -> dict[str, Any]:
        return {
            "lr": self.lr, "baseline_decay": self.baseline_decay, "warmup_picks": self.warmup_picks,
            "pretrain_steps": self.pretrain_steps, "pretrain_batch": self.pretrain_batch,
            "pretrain_lr": self.pretrain_lr, "move_candidates": self.move_candidates,
        }

    # --- policy --------------------------------------------------------------------------------------
    def probabilities(self) -> list[np.ndarray]:
        """The policy: one probability vector per decision."""
        out = []
        for logit in self.logits:
            e = np.exp(logit - logit.max())
            out.append(e / e.sum())
        return out

    def sample_policy(self) -> Arch:
        """One architecture drawn from the policy (one uniform number per decision, from ``self.rng``); draws
        that form no valid architecture of a constrained space (e.g. NB101) are redrawn."""
        if self._cumulative is None:
            self._cumulative = [np.cumsum(p).tolist() for p in self.probabilities()]
        for _ in range(SAMPLE_TRIES):
            choices = []
            for cum in self._cumulative:
                u = self.rng.random()
                choices.append(min(bisect.bisect_right(cum, u), len(cum) - 1))
            arch = self.space.decode(choices)
            if arch is not None:
                return arch
        raise RuntimeError(f"the policy drew no valid architecture of {self.space.name} in {SAMPLE_TRIES} tries")

    def sample_fresh(self) -> Arch:
        """A policy sample not trained yet (rejection sampling, at most ``FRESH_TRIES`` draws)."""
        arch = self.sample_policy()
        for _ in range(FRESH_TRIES):
            if self.is_new(arch):
                return arch
            arch = self.sample_policy()
        return arch

    def log_prob_grad(self, arch: Arch) -> list[np.ndarray]:
        """Gradient of ``log p(arch)`` with respect to each decision's logits: one-hot minus probabilities."""
        grads = []
        for option, p in zip(self.space.to_decisions(arch), self.probabilities(), strict=True):
            g = -p.copy()
            g[option] += 1.0
            grads.append(g)
        return grads

    def _pretrain(self, warmup: Warmup) -> None:
        if self.pretrain_steps <= 0 or len(warmup) < 2:
            return
        ranks = rankdata(np.nan_to_num(warmup.scores, nan=-np.inf))
        rewards = (ranks - ranks.mean()) / (ranks.std() + 1e-12)
        size = min(self.pretrain_batch, len(warmup))
        for _ in range(self.pretrain_steps):
            batch = self.rng.sample(range(len(warmup)), size)
            total = [np.zeros_like(p) for p in self.logits]
            for i in batch:
                for acc, g in zip(total, self.log_prob_grad(warmup.archs[i]), strict=True):
                    acc += rewards[i] * g / size
            self.optimizer.ascend(total, lr=self.pretrain_lr)
            self._cumulative = None
        self.optimizer.reset()

    # --- ask / tell ----------------------------------------------------------------------------------
    def _ask(self) -> Arch:
        while self._queue:
            arch = self._queue.popleft()
            if self.is_new(arch):
                return arch
        if self.move is not None:
            candidates = [self.sample_fresh() for _ in range(max(self.move_candidates, 1))]
            return self.move.best_of(candidates, self.rng, exclude=self.observed)
        return self.sample_fresh()

    def _tell(self, arch: Arch, value: float) -> None:
        """One REINFORCE step. A NaN reward (a failed training, ranked below every number) counts as the worst
        reward seen so far, so the policy moves away from it and NaN never reaches the baseline, Adam or the
        logits; a NaN before any number has nothing to rank against and is skipped."""
        if math.isnan(value):
            if self._worst is None:
                return
            value = self._worst
        self._worst = value if self._worst is None else min(self._worst, value)
        if self.baseline is None:
            self.baseline = value
        else:
            self.baseline = self.baseline_decay * self.baseline + (1 - self.baseline_decay) * value
        advantage = value - self.baseline
        self.optimizer.ascend([advantage * g for g in self.log_prob_grad(arch)])
        self._cumulative = None
