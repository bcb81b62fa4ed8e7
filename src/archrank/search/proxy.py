"""Proxy scorers: how a search gets zero-cost scores for architectures, and what they cost.

A :class:`ProxyScorer` maps a sequence of architectures to an array of scores (higher = predicted better;
NaN where unknown, which ranks last). It caches by architecture key and charges each architecture's scoring
seconds once, into :attr:`ProxyScorer.seconds`; the search adds those seconds to its cost.

Implementations: :class:`TableScorer` (a precomputed column: a benchmark's ``params_M``/``flops_M``, or the
results store's scores via :meth:`TableScorer.from_store`), :class:`FunctionScorer` (any ``arch -> float``),
:class:`LiveScorer` (builds the model and calls ``archrank.proxies.score``, imported lazily), and
:class:`MeanRankScorer` (an aggregate: the mean of the members' ranks within each call).

:func:`resolve_scorer` turns a proxy *name* into a scorer. Resolution order:

1. a column of the table oracle's frame (``params``/``flops`` are aliases of ``params_M``/``flops_M``);
2. a proxy with scores in the results store given as ``store`` (its latest ok/nan result per architecture,
   charged the seconds stored with it); architectures the store lacks are computed live;
3. live computation with the proxy engine (``archrank.proxies.score``).

A name with ``+`` (``"synflow+nwot"``) resolves each part and aggregates them with :class:`MeanRankScorer`.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from archrank.spaces.base import Arch, SearchSpace

COLUMN_ALIASES = {"params": "params_M", "flops": "flops_M"}


class ProxyScorer(ABC):
    """Callable ``archs -> np.ndarray`` of scores with a per-architecture cache and cost accounting."""

    def __init__(self, space: SearchSpace, name: str) -> None:
        self.space = space
        self.name = name
        self.seconds = 0.0
        self.scored = 0
        self._cache: dict[str, float] = {}
        self._cost: dict[str, float] = {}

    @abstractmethod
    def _score(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """Scores and seconds of architectures not seen before."""

    def __call__(self, archs: Sequence[Arch]) -> np.ndarray:
        keys = [self.space.key(a) for a in archs]
        todo: dict[str, Arch] = {}
        for key, arch in zip(keys, archs, strict=True):
            if key not in self._cache and key not in todo:
                todo[key] = arch
        if todo:
            scores, seconds = self._score(list(todo.values()))
            seconds = _seconds(seconds, len(todo))
            for key, value, took in zip(todo, scores, seconds, strict=True):
                self._cache[key] = float(value)
                self._cost[key] = float(took)
            self.seconds += float(np.sum(seconds))
            self.scored += len(todo)
        return np.array([self._cache[k] for k in keys], dtype=float)

    def score(self, arch: Arch) -> float:
        return float(self([arch])[0])

    def fork(self) -> ProxyScorer:
        """A scorer for one more run: its own cache and cost meter, sharing this one's computed scores.

        An architecture this scorer already computed is not computed again, but the fork still charges the
        seconds it took, once, so independent runs (e.g. seeds) each pay for their own proxy evaluations.
        """
        return _Fork(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, scored={self.scored}, seconds={self.seconds:.3f})"


def _seconds(value: float | Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    out = np.broadcast_to(np.asarray(value, dtype=float), (n,))
    return np.nan_to_num(out, nan=0.0)


class _Fork(ProxyScorer):
    def __init__(self, parent: ProxyScorer) -> None:
        super().__init__(parent.space, parent.name)
        self.parent = parent

    def _score(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        scores = self.parent(archs)
        seconds = np.array([self.parent._cost[self.space.key(a)] for a in archs])
        return scores, seconds


class TableScorer(ProxyScorer):
    """Scores looked up in a precomputed mapping ``arch key -> score``.

    ``seconds`` is the cost charged per newly scored architecture: one number, or a mapping key -> seconds
    (e.g. the time each score took when it was computed). Architectures missing from the table are scored by
    ``fallback`` when one is given (its cost is charged), else score NaN, or raise ``KeyError`` when
    ``missing="raise"``.
    """

    def __init__(
        self,
        space: SearchSpace,
        values: Mapping[str, float] | pd.Series,
        name: str = "table",
        seconds: float | Mapping[str, float] | pd.Series = 0.0,
        missing: str = "nan",
        fallback: ProxyScorer | None = None,
    ) -> None:
        super().__init__(space, name)
        if missing not in ("nan", "raise"):
            raise ValueError(f"missing must be 'nan' or 'raise', got {missing!r}")
        self.values = pd.Series(values, dtype=float)
        self.missing = missing
        self.fallback = fallback
        self.cost = seconds if isinstance(seconds, (int, float)) else pd.Series(seconds, dtype=float)

    def _score(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        keys = [self.space.key(a) for a in archs]
        absent = [i for i, k in enumerate(keys) if k not in self.values.index]
        if absent and self.fallback is None and self.missing == "raise":
            raise KeyError(f"proxy {self.name!r} has no score for {keys[absent[0]]}")
        scores = self.values.reindex(keys).to_numpy(dtype=float).copy()
        if isinstance(self.cost, pd.Series):
            seconds = np.nan_to_num(self.cost.reindex(keys).to_numpy(dtype=float), nan=0.0)
        else:
            seconds = _seconds(self.cost, len(keys)).copy()
        if absent and self.fallback is not None:
            scores[absent] = self.fallback([archs[i] for i in absent])
            seconds[absent] = [self.fallback._cost[keys[i]] for i in absent]
        return scores, seconds

    @classmethod
    def from_store(
        cls, store: Any, space: SearchSpace, proxy: str, fallback: ProxyScorer | None = None
    ) -> TableScorer:
        """Scores of ``proxy`` in a results store (a ``Store`` or its path); each arch costs its stored seconds.
        Architectures the store lacks go to ``fallback`` (e.g. a :class:`LiveScorer`) when given."""
        from archrank.store import Store

        own = not isinstance(store, Store)
        db = Store(store) if own else store
        try:
            frame = db.scores(space=space.name, proxies=[proxy])
        finally:
            if own:
                db.close()
        frame = frame[frame["status"] != "failed"].sort_values("created_at")
        if frame.empty:
            raise KeyError(f"the store has no scores of proxy {proxy!r} for space {space.name!r}")
        last = frame.groupby("arch_key").last()
        return cls(space, last["score"], name=proxy, seconds=last["seconds"].fillna(0.0), fallback=fallback)


class FunctionScorer(ProxyScorer):
    """Scores from ``fn(arch) -> float``; cost is ``seconds`` per arch, or the measured time when ``None``."""

    def __init__(
        self, space: SearchSpace, fn: Callable[[Arch], float], name: str = "function", seconds: float | None = None
    ) -> None:
        super().__init__(space, name)
        self.fn = fn
        self.cost = seconds

    def _score(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        scores, seconds = [], []
        for arch in archs:
            start = time.perf_counter()
            scores.append(float(self.fn(arch)))
            seconds.append(time.perf_counter() - start if self.cost is None else self.cost)
        return np.array(scores), np.array(seconds)


class LiveScorer(ProxyScorer):
    """Computes a proxy on ``space.build(arch)`` with the proxy engine; the measured time is the cost.

    The model's weights come from ``seed`` alone (the global RNG state is left untouched). ``batch`` is an
    ``(x, y)`` pair; ``None`` loads a fixed CIFAR-10 batch of ``batch_size`` from the shared data when present,
    else a synthetic one. ``score_fn`` replaces ``archrank.proxies.score`` (same signature).
    """

    def __init__(
        self,
        space: SearchSpace,
        proxy: str,
        batch: tuple[Any, Any] | None = None,
        seed: int = 0,
        num_classes: int = 10,
        batch_size: int = 64,
        build_kwargs: dict[str, Any] | None = None,
        score_fn: Callable[..., Mapping[str, float]] | None = None,
    ) -> None:
        super().__init__(space, proxy)
        self.batch = batch
        self.seed = seed
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.build_kwargs = dict(build_kwargs or {})
        self.score_fn = score_fn

    def _engine(self) -> Callable[..., Mapping[str, float]]:
        if self.score_fn is None:
            try:
                from archrank.proxies import score  # lazy: the engine is optional for table-driven searches
            except ImportError as exc:
                raise RuntimeError(
                    f"proxy {self.name!r} is neither a table column nor in the results store, and the proxy engine"
                    f" cannot compute it: {exc}"
                ) from exc
            self.score_fn = score
        return self.score_fn

    def _batch(self) -> tuple[Any, Any]:
        if self.batch is None:
            from archrank import config, data

            if config.data_root() is not None:
                loaded = data.load_batch("cifar10", batch_size=self.batch_size, seed=self.seed)
            else:
                loaded = data.load_batch("synthetic", batch_size=self.batch_size, seed=self.seed)
            self.batch = (loaded.x, loaded.y)
        return self.batch

    def _score(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        engine, batch = self._engine(), self._batch()
        scores, seconds = [], []
        for arch in archs:
            start = time.perf_counter()
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.seed)
                model = self.space.build(arch, num_classes=self.num_classes, **self.build_kwargs)
            result = engine(model, [self.name], batch=batch, seed=self.seed)
            seconds.append(time.perf_counter() - start)
            value = float(result[self.name])
            scores.append(value if math.isfinite(value) else math.nan)
        return np.array(scores), np.array(seconds)


class MeanRankScorer(ProxyScorer):
    """Aggregate of several scorers: mean of each member's rank among the architectures of one call.

    Ranks are relative to the call (a warmup pool, one parent's neighbours), so scores of different calls are
    not comparable; that is all warmup and move proposal need. The cost is the members' cost.
    """

    def __init__(self, space: SearchSpace, members: Sequence[ProxyScorer], name: str | None = None) -> None:
        if not members:
            raise ValueError("MeanRankScorer needs at least one member")
        super().__init__(space, name or "+".join(m.name for m in members))
        self.members = list(members)

    def __call__(self, archs: Sequence[Arch]) -> np.ndarray:
        before = sum(m.seconds for m in self.members)
        ranks = []
        for member in self.members:
            values = member(archs)
            ranks.append(rankdata(np.nan_to_num(values, nan=-np.inf)) / max(len(archs), 1))
        self.seconds += sum(m.seconds for m in self.members) - before
        self.scored = max(m.scored for m in self.members)
        return np.mean(ranks, axis=0) if ranks else np.array([])

    def fork(self) -> MeanRankScorer:
        return MeanRankScorer(self.space, [m.fork() for m in self.members], self.name)

    def _score(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover - unused
        raise NotImplementedError


def resolve_scorer(
    name: str,
    space: SearchSpace,
    oracle: Any = None,
    store: Any = None,
    table_seconds: float = 0.0,
    **live_kwargs: Any,
) -> ProxyScorer:
    """A scorer for proxy ``name``: table column, then results store, then live engine (see module doc).

    ``table_seconds`` is the cost charged per architecture for a table column (a benchmark's params/FLOPs
    columns carry no timing); ``live_kwargs`` go to :class:`LiveScorer`.
    """
    parts = [p.strip() for p in name.split("+") if p.strip()]
    if not parts:
        raise ValueError(f"empty proxy name {name!r}")
    if len(parts) > 1:
        members = [resolve_scorer(p, space, oracle, store, table_seconds, **live_kwargs) for p in parts]
        return MeanRankScorer(space, members, name="+".join(parts))
    frame = getattr(oracle, "frame", None)
    if isinstance(frame, pd.DataFrame):
        column = name if name in frame.columns else COLUMN_ALIASES.get(name)
        if column is not None and column in frame.columns:
            return TableScorer(space, frame[column], name=name, seconds=table_seconds)
    live = LiveScorer(space, name, **live_kwargs)
    if store is not None and (not isinstance(store, (str, Path)) or Path(store).is_file()):
        try:
            return TableScorer.from_store(store, space, name, fallback=live)
        except KeyError:
            pass
    return live
