"""Predictor-based search in the style of BANANAS (White et al., AAAI 2021).

A small ensemble of MLPs (trained together, vectorised, in torch) regresses, from ``space.encode(arch)``, the
normal score of each validation accuracy's rank, ``norm.ppf((rank - 0.5) / n)`` (ties share a rank; NaN, a failed
training, ranks lowest). Every ``batch_size`` queries it is retrained on everything observed and
picks the next batch from a candidate pool: the untrained single-edit neighbours of the ``n_parents`` best
architectures plus ``n_random`` untrained random ones, ranked by an acquisition function over the ensemble's
mean and spread (independent Thompson sampling by default, or UCB, or the mean).

Warmup: the first training set (``n_init`` architectures) is the proxy's top picks instead of random ones.
Move proposal: with probability ``1 - random_prob`` the candidate pool is first cut to its ``move_keep`` best
fraction by proxy score, so the predictor chooses among proxy-approved candidates.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import deque
from typing import Any

import numpy as np
import torch
from scipy.stats import norm, rankdata

from archrank.search.guidance import MoveProposal, Warmup, order_best_first
from archrank.search.samplers.base import Sampler
from archrank.spaces.base import Arch, SearchSpace

ACQUISITIONS = ("its", "ucb", "mean")


class MLPEnsemble:
    """``size`` independent MLPs trained in one vectorised loop (full-batch Adam on the MSE)."""

    def __init__(self, size: int = 5, hidden: int = 32, layers: int = 2, epochs: int = 200, lr: float = 0.01,
                 weight_decay: float = 1e-4) -> None:
        self.size, self.hidden, self.layers = size, hidden, layers
        self.epochs, self.lr, self.weight_decay = epochs, lr, weight_decay
        self.params: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(0).expand(self.size, *x.shape)
        for i, (w, b) in enumerate(self.params):
            h = torch.baddbmm(b, h, w)
            if i < len(self.params) - 1:
                h = torch.relu(h)
        return h.squeeze(-1)  # (size, n)

    def fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> MLPEnsemble:
        """Train from scratch (weights from ``seed``). Runs on one torch thread: for models this small, more
        threads only add synchronisation cost (several-fold slower on a shared machine)."""
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._fit(x, y, seed)
        finally:
            torch.set_num_threads(threads)

    def _fit(self, x: np.ndarray, y: np.ndarray, seed: int) -> MLPEnsemble:
        gen = torch.Generator().manual_seed(seed)
        dims = [x.shape[1]] + [self.hidden] * self.layers + [1]
        self.params = []
        for fan_in, fan_out in itertools.pairwise(dims):
            bound = 1.0 / math.sqrt(fan_in)
            w = (torch.rand(self.size, fan_in, fan_out, generator=gen) * 2 - 1) * bound
            b = (torch.rand(self.size, 1, fan_out, generator=gen) * 2 - 1) * bound
            self.params.append((w.requires_grad_(), b.requires_grad_()))
        xt = torch.as_tensor(x, dtype=torch.float32)
        yt = torch.as_tensor(y, dtype=torch.float32).unsqueeze(0).expand(self.size, -1)
        opt = torch.optim.Adam([p for pair in self.params for p in pair], lr=self.lr, weight_decay=self.weight_decay)
        for _ in range(self.epochs):
            opt.zero_grad()
            loss = torch.mean((self._forward(xt) - yt) ** 2)
            loss.backward()
            opt.step()
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions of every member, shape ``(size, n)``."""
        with torch.no_grad():
            return self._forward(torch.as_tensor(x, dtype=torch.float32)).numpy().astype(float)


class PredictorSearch(Sampler):
    """BANANAS-like search: MLP-ensemble predictor + acquisition over mutated and random candidates."""

    name = "predictor"
    supports_move = True

    def __init__(
        self,
        space: SearchSpace,
        seed: int | random.Random | None = 0,
        warmup: Warmup | None = None,
        move: MoveProposal | None = None,
        n_init: int = 10,
        batch_size: int = 10,
        ensemble_size: int = 5,
        hidden: int = 32,
        layers: int = 2,
        epochs: int = 200,
        lr: float = 0.01,
        acquisition: str = "its",
        ucb_beta: float = 1.0,
        n_parents: int = 10,
        n_random: int = 50,
        move_keep: float = 0.5,
    ) -> None:
        super().__init__(space, seed, warmup, move)
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition must be one of {', '.join(ACQUISITIONS)}, got {acquisition!r}")
        if not 0.0 < move_keep <= 1.0:
            raise ValueError(f"move_keep must be in (0, 1], got {move_keep}")
        self.n_init, self.batch_size = max(int(n_init), 2), max(int(batch_size), 1)
        self.acquisition, self.ucb_beta = acquisition, ucb_beta
        self.n_parents, self.n_random, self.move_keep = n_parents, n_random, move_keep
        self.model = MLPEnsemble(ensemble_size, hidden, layers, epochs, lr)
        self._initial = [] if warmup is None else warmup.top(self.n_init)
        self._asked_initial = 0
        self._queue: deque[Arch] = deque()

    def config(self) -> dict[str, Any]:
        m = self.model
        return {
            "n_init": self.n_init, "batch_size": self.batch_size, "ensemble_size": m.size, "hidden": m.hidden,
            "layers": m.layers, "epochs": m.epochs, "lr": m.lr, "acquisition": self.acquisition,
            "ucb_beta": self.ucb_beta, "n_parents": self.n_parents, "n_random": self.n_random,
            "move_keep": self.move_keep,
        }

    def _ask(self) -> Arch:
        if self._asked_initial < self.n_init:
            index = self._asked_initial
            self._asked_initial += 1
            return self._initial[index] if index < len(self._initial) else self.random_fresh()
        while self._queue:
            arch = self._queue.popleft()
            if self.is_new(arch):
                return arch
        if len(self.observed) < 2:
            return self.random_fresh()
        self._queue.extend(self._plan())
        return self._queue.popleft() if self._queue else self.random_fresh()

    def candidates(self) -> list[Arch]:
        """Untrained neighbours of the best observed architectures (NaN ones last), then untrained random ones."""
        keys = list(self.observed)
        order = order_best_first(np.array([self.observed[k] for k in keys]))  # NaN (failed training) last
        ranked = [keys[i] for i in order[: self.n_parents]]
        pool: dict[str, Arch] = {}
        for key in ranked:
            for arch in self.space.neighbours(self.archs[key]):
                k = self.space.key(arch)
                if k not in self.observed:
                    pool.setdefault(k, arch)
        for _ in range(self.n_random):
            arch = self.random_fresh()
            k = self.space.key(arch)
            if k not in self.observed:
                pool.setdefault(k, arch)
        return list(pool.values())

    def _plan(self) -> list[Arch]:
        pool = self.candidates()
        if not pool:
            return []
        if self.move is not None and self.rng.random() >= self.move.random_prob:
            keep = max(self.batch_size, math.ceil(self.move_keep * len(pool)))
            order = order_best_first(self.move.scorer(pool))
            pool = [pool[i] for i in order[:keep]]
        keys = list(self.observed)
        x = np.stack([self.space.encode(self.archs[k]) for k in keys])
        y = np.array([self.observed[k] for k in keys])
        y = norm.ppf((rankdata(np.nan_to_num(y, nan=-np.inf)) - 0.5) / len(y))  # NaN ranks lowest, ties shared
        self.model.fit(x, y, seed=self.rng.randrange(2**31))
        preds = self.model.predict(np.stack([self.space.encode(a) for a in pool]))
        mean, std = preds.mean(axis=0), preds.std(axis=0)
        if self.acquisition == "its":
            gen = np.random.default_rng(self.rng.randrange(2**32))
            value = mean + std * gen.standard_normal(len(pool))
        elif self.acquisition == "ucb":
            value = mean + self.ucb_beta * std
        else:
            value = mean
        order = order_best_first(value)
        return [pool[i] for i in order[: self.batch_size]]
