"""Proxy scorers: how a search gets zero-cost scores for architectures, and what they cost.

A :class:`ProxyScorer` maps a sequence of architectures to an array of scores (higher = predicted better;
NaN where unknown, which ranks last). It caches by architecture key and charges each architecture's scoring
seconds once, into :attr:`ProxyScorer.seconds`; the search adds those seconds to its cost.

Implementations: :class:`TableScorer` (a precomputed column: a benchmark's ``params_M``/``flops_M``, or the
results store's scores via :meth:`TableScorer.from_store`, read through :meth:`Store.score_table
<archrank.store.Store.score_table>`), :class:`FunctionScorer` (any ``arch -> float``), :class:`LiveScorer`
(scores the seeded model with the proxy engine exactly as ``archrank score`` does, and with a results store
reads and writes the same measurements), and :class:`MeanRankScorer` (an aggregate: the mean of the members'
ranks within each call).

:func:`resolve_scorer` turns a proxy *name* into a scorer. Resolution order:

1. a column of the table oracle's frame (``params``/``flops`` are aliases of ``params_M``/``flops_M``);
2. a proxy of the engine: a :class:`LiveScorer`, backed by the results store given as ``store`` when there is
   one (scores already stored under its key are reused, new ones are stored, so later seeds and runs, and
   ``archrank score``, share them; each is charged the seconds stored with it);
3. any other name with scores in ``store`` (:meth:`TableScorer.from_store`; what the store lacks is NaN).

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

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what this scorer opened itself (default: nothing; a :class:`LiveScorer` closes its store)."""

    def __enter__(self) -> ProxyScorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

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
    (e.g. the time each score took when it was computed) that covers every key of ``values``; a NaN cost is refused
    (``ValueError``), and a scored key without a cost raises ``KeyError``. Architectures missing from the table are
    scored by ``fallback`` when one is given (its cost is charged), else score NaN, or raise ``KeyError`` when
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
        unknown = int(np.isnan(self.cost)) if isinstance(self.cost, (int, float)) else int(self.cost.isna().sum())
        if unknown:
            raise ValueError(f"proxy {name!r}: {unknown} cost(s) in seconds are NaN; give each a number "
                             "(0 only where scoring truly cost nothing)")

    def _score(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        keys = [self.space.key(a) for a in archs]
        absent = [i for i, k in enumerate(keys) if k not in self.values.index]
        if absent and self.fallback is None and self.missing == "raise":
            raise KeyError(f"proxy {self.name!r} has no score for {keys[absent[0]]}")
        scores = self.values.reindex(keys).to_numpy(dtype=float).copy()
        if isinstance(self.cost, pd.Series):
            unscored = set(absent)
            uncosted = [k for i, k in enumerate(keys) if k not in self.cost.index and i not in unscored]
            if uncosted:
                raise KeyError(f"proxy {self.name!r} has a score but no cost in seconds for {uncosted[0]}")
            # an architecture without a score was not computed here (NaN score, or the fallback's cost below)
            seconds = self.cost.reindex(keys).fillna(0.0).to_numpy(dtype=float, copy=True)
        else:
            seconds = _seconds(self.cost, len(keys)).copy()
        if absent and self.fallback is not None:
            scores[absent] = self.fallback([archs[i] for i in absent])
            seconds[absent] = [self.fallback._cost[keys[i]] for i in absent]
        return scores, seconds

    def close(self) -> None:
        if self.fallback is not None:
            self.fallback.close()

    @classmethod
    def from_store(
        cls,
        store: Any,
        space: SearchSpace,
        proxy: str,
        fallback: ProxyScorer | None = None,
        *,
        seed: int | None = None,
        data: str | None = None,
        batch: str | None = None,
        device: str | None = None,
        config: str | None = None,
        latest: bool = False,
        untimed_seconds: float = 0.0,
    ) -> TableScorer:
        """Scores of ``proxy`` in a results store (a ``Store`` or its path), read through
        :meth:`Store.score_table <archrank.store.Store.score_table>` with its filters (``seed``, ``data``,
        ``batch``, ``device``, ``config``; rows of several settings are refused unless ``latest``), NaN results
        included; each architecture costs its stored seconds. A score stored without its time (imported from a
        file that had none) costs the median of the timed ones, or ``untimed_seconds`` when none is timed.
        Architectures the store lacks go to ``fallback`` (e.g. a :class:`LiveScorer`) when given."""
        from archrank.store import Store

        own = not isinstance(store, Store)
        db = Store(store, create=False) if own else store
        filters = {"seed": seed, "data": data, "batch": batch, "device": device, "config": config}
        try:
            table = db.score_table(space.name, [proxy], latest=latest, **filters)
            rows = db.scores(space=space.name, proxies=[proxy])
        finally:
            if own:
                db.close()
        if table.empty or proxy not in table.columns:
            raise KeyError(f"the store has no scores of proxy {proxy!r} for space {space.name!r}")
        values = table[proxy]
        seconds = _stored_seconds(rows, values.index, filters, untimed_seconds)
        return cls(space, values, name=proxy, seconds=seconds, fallback=fallback)


def _stored_seconds(rows: pd.DataFrame, keys: pd.Index, filters: Mapping[str, Any], untimed: float) -> pd.Series:
    """Seconds of the newest non-failed stored row of each architecture matching ``filters`` (the rows
    ``score_table`` picked its values from). A row without a time is charged the median of the timed ones — an
    estimate of what computing it would cost, where 0 would make stored scores look free — or ``untimed`` when
    none is timed."""
    rows = rows[rows["status"] != "failed"]
    for column, name in (("seed", "seed"), ("batch_hash", "batch"), ("device", "device"), ("config_hash", "config")):
        if filters.get(name) is not None:
            rows = rows[rows[column] == filters[name]]
    if filters.get("data") is not None:
        rows = rows[rows["data"] == str(filters["data"]).partition(":")[0].lower()]
    newest = rows.sort_values("created_at", kind="stable").drop_duplicates("arch_key", keep="last")
    seconds = newest.set_index("arch_key")["seconds"].reindex(keys).astype(float)
    timed = seconds.dropna()
    return seconds.fillna(float(timed.median()) if not timed.empty else float(untimed))


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
    """Computes a proxy on the seeded model exactly as ``archrank score`` does (:func:`archrank.runner.score_arch`:
    weights from ``seed`` alone, one torch thread on CPU); the proxy's measured seconds are the cost.

    ``batch`` is an ``(x, y)`` pair; ``None`` loads a fixed CIFAR-10 batch of ``batch_size`` (seed ``seed``) from the
    shared data when present, else a synthetic one — the batch ``archrank score --data auto`` uses. With a results
    ``store`` (a ``Store`` or a path) every result is a measurement under the key ``archrank score`` writes (space,
    architecture, proxy, its config hash, seed, batch hash, device): results already there are reused, charged
    the seconds stored with them, and new ones are stored, so later seeds, runs and scoring share them; a store
    it opened from a path is closed by :meth:`close` (or a ``with`` block).
    ``score_fn`` replaces the engine (``score_fn(model, [proxy], batch=, seed=) -> {proxy: value}``; the wall time
    of build and call is the cost).
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
        store: Any = None,
        device: str = "cpu",
    ) -> None:
        super().__init__(space, proxy)
        self.batch = batch
        self.seed = seed
        self.num_classes = num_classes
        self.batch_size = batch_size
        self.build_kwargs = dict(build_kwargs or {})
        self.score_fn = score_fn
        self.store = store
        self.device = device
        self.computed = 0  # architectures this scorer really computed (not read back from the store)
        self._own_store = False  # whether this scorer opened the store from a path (and so closes it)
        self._in_store: dict[str, tuple[float, float]] | None = None  # read once, on the first call

    def _batch(self) -> tuple[Any, Any]:
        if self.batch is None:
            from archrank import config, data

            if config.data_root() is not None:
                loaded = data.load_batch("cifar10", batch_size=self.batch_size, seed=self.seed)
            else:
                loaded = data.load_batch("synthetic", batch_size=self.batch_size, seed=self.seed)
            self.batch = (loaded.x, loaded.y)
        return self.batch

    def batch_hash(self) -> str:
        """The content hash of the batch (``"none"`` without inputs), as ``archrank score`` records it."""
        from archrank.data.batch import batch_hash
        from archrank.runner import NO_BATCH

        x, y = self._batch()
        return NO_BATCH if x is None else batch_hash(x, y)

    def config_hash(self) -> str:
        """The proxy's configuration hash for this model setting, as ``archrank score`` records it."""
        from archrank.runner import config_hashes, model_config

        return config_hashes([self.name], model_config(self.space, self.num_classes, self.build_kwargs))[self.name]

    def _open_store(self) -> Any:
        from archrank.store import Store

        if self.store is not None and not isinstance(self.store, Store):
            self.store, self._own_store = Store(self.store), True
        return self.store

    def close(self) -> None:
        """Close the store this scorer opened from a path (a ``Store`` given open is its owner's to close)."""
        if self._own_store:
            self.store.close()
            self._own_store = False

    def _score(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        keys = [self.space.key(a) for a in archs]
        scores, seconds = np.full(len(archs), np.nan), np.zeros(len(archs))
        store = self._open_store()
        todo = list(range(len(archs)))
        if store is not None:
            stored = self._stored(store, keys)
            todo = [i for i, k in enumerate(keys) if k not in stored]
            for i, key in enumerate(keys):
                if key in stored:
                    scores[i], seconds[i] = stored[key]
        rows = []
        for i in todo:
            value, took, status, reason = self._compute(archs[i])
            scores[i], seconds[i] = value, took
            rows.append((keys[i], value, took, status, reason))
        self.computed += len(todo)
        if store is not None and rows:
            self._write(store, rows)
        return scores, seconds

    def _key(self) -> tuple[str, str, int, str, str]:
        return self.space.name, self.config_hash(), int(self.seed), self.batch_hash(), self.device

    def _stored(self, store: Any, keys: Sequence[str]) -> dict[str, tuple[float, float]]:
        """Stored (value, seconds) of ``keys`` under this scorer's key (status ok or nan; failures are redone).
        The store is read once, on the first call; what this scorer computes later it caches itself."""
        if self._in_store is None:
            space, config_hash, seed, batch, device = self._key()
            frame = store.scores(space=space, proxies=[self.name])
            mine = (frame["config_hash"] == config_hash) & (frame["seed"] == seed) & (frame["batch_hash"] == batch)
            frame = frame[mine & (frame["device"] == device) & (frame["status"] != "failed")]
            self._in_store = {k: (float(v), 0.0 if pd.isna(t) else float(t))
                              for k, v, t in zip(frame["arch_key"], frame["score"], frame["seconds"], strict=True)}
        return {k: self._in_store[k] for k in keys if k in self._in_store}

    def _write(self, store: Any, rows: Sequence[tuple[str, float, float, str, str | None]]) -> None:
        from archrank.runner import model_config
        from archrank.store import ScoreRow

        space, config_hash, seed, batch, device = self._key()
        store.put_config(config_hash, self.name,
                         {"proxy": self.name, **model_config(self.space, self.num_classes, self.build_kwargs)})
        store.put_scores([
            ScoreRow(space=space, arch_key=key, proxy=self.name, config_hash=config_hash, seed=seed, batch_hash=batch,
                     device=device, score=value if status == "ok" else None, seconds=took, status=status,
                     error=reason)
            for key, value, took, status, reason in rows
        ])

    def _compute(self, arch: Arch) -> tuple[float, float, str, str | None]:
        """(value, seconds, status, reason) of one architecture; NaN values have status ``nan`` (or ``failed``).
        ±inf is a known score with status ``ok`` (synflow's disconnected cell: log 0 = -inf), as the store keeps it."""
        from archrank.runner import build_seeded, score_arch

        batch = self._batch()
        if self.score_fn is None:
            result = score_arch(self.space, arch, [self.name], batch, self.seed, self.device, self.num_classes,
                                self.build_kwargs)[self.name]
            value = float(result.value) if result.status == "ok" else math.nan
            return value, float(result.seconds), result.status, result.reason
        start = time.perf_counter()
        model = build_seeded(self.space, arch, self.seed, self.num_classes, **self.build_kwargs)
        value = float(self.score_fn(model, [self.name], batch=batch, seed=self.seed)[self.name])
        took = time.perf_counter() - start
        if not math.isnan(value):
            return value, took, "ok", None
        return math.nan, took, "nan", "the proxy's value is NaN"


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

    def close(self) -> None:
        for member in self.members:
            member.close()

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
    """A scorer for proxy ``name``: table column, then engine proxy (store-backed), then stored scores (module doc).

    ``table_seconds`` is the cost charged per architecture for a table column (a benchmark's params/FLOPs
    columns carry no timing) and for stored scores of which none was timed; ``live_kwargs`` go to
    :class:`LiveScorer`.
    """
    parts = proxy_parts(name)
    if len(parts) > 1:
        members = [resolve_scorer(p, space, oracle, store, table_seconds, **live_kwargs) for p in parts]
        return MeanRankScorer(space, members, name="+".join(parts))
    frame = getattr(oracle, "frame", None)
    if isinstance(frame, pd.DataFrame):
        column = name if name in frame.columns else COLUMN_ALIASES.get(name)
        if column is not None and column in frame.columns:
            return TableScorer(space, frame[column], name=name, seconds=table_seconds)
    has_store = store is not None and (not isinstance(store, (str, Path)) or Path(store).is_file())
    custom = live_kwargs.get("score_fn") is not None
    if _is_engine_proxy(name) or (custom and not has_store):
        return LiveScorer(space, name, store=store if has_store else None, **live_kwargs)
    live = LiveScorer(space, name, **live_kwargs)
    if has_store:
        try:
            return TableScorer.from_store(store, space, name, fallback=live, untimed_seconds=table_seconds)
        except KeyError:
            pass
    if custom:
        return live
    raise ValueError(f"unknown proxy {name!r}: not a column of the oracle's table, not a registered proxy "
                     "(`archrank proxies` lists them) and not scored in the store")


def proxy_parts(name: str) -> list[str]:
    """The member names of proxy ``name`` (``"a+b"`` is the mean-rank aggregate of ``a`` and ``b``; a plain name is
    its own one member); ``ValueError`` for an empty name."""
    parts = [p.strip() for p in name.split("+") if p.strip()]
    if not parts:
        raise ValueError(f"empty proxy name {name!r}")
    return parts


def _is_engine_proxy(name: str) -> bool:
    try:
        from archrank.proxies import list_proxies
    except ImportError:  # pragma: no cover - the engine is part of the package
        return False
    return name in list_proxies()
