"""Eproxy's view of the one results store (:mod:`archrank.store`): no tables of its own.

- an Eproxy configuration is a ``configs`` row (method ``eproxy``) keyed by the config's key;
- a score is a ``measurements`` row (method ``eproxy``, config hash = config key, input hash = batch digest) whose
  value is Eproxy's higher-is-better value; the raw score, final loss and MACs ride in ``extra``. The first
  result of a key wins, except that a ``failed`` row is replaced, in one statement (no window where it is lost);
- a Discrete Proxy Search run is a ``runs`` row (kind ``dps``, name = run name, config = settings and the
  labelled architectures, which any evaluation of the tuned proxy must exclude); each proposal is a ``trials``
  row (config key, parent, genotype, fitness), recorded in order so that a resumed run replays it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from archrank.eproxy.config import EproxyConfig
from archrank.store import ScoreRow, StoreError
from archrank.store.view import StoreView

__all__ = ["EproxyStore", "ScoreRecord"]

ScoreRecord = dict[str, Any]
METHOD = "eproxy"


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _nan(value: Any) -> float:
    return math.nan if value is None else float(value)


class EproxyStore(StoreView):
    """Eproxy records in a results store (a path or an open :class:`~archrank.store.Store`). Context manager."""

    # --- configs and scores ---------------------------------------------------------------------------
    def put_config(self, config: EproxyConfig) -> str:
        """Record ``config``; returns its key."""
        self.store.put_config(config.key, METHOD, json.loads(config.to_json()))
        return config.key

    def get_config(self, key: str) -> EproxyConfig:
        stored = self.store.get_config(key)
        if stored is None:
            raise KeyError(f"no Eproxy config {key!r} in {self.path}")
        return EproxyConfig.from_dict(stored)

    def put_score(self, record: ScoreRecord) -> None:
        """Write one architecture's result (first result wins, except that a ``failed`` row is replaced)."""
        status = record["status"]
        value = _num(record.get("value"))
        self.store.put_scores([ScoreRow(
            space=record["space"], arch_key=record["arch_key"], proxy=METHOD, config_hash=record["config_key"],
            seed=int(record["seed"]), batch_hash=record["batch_hash"], device=record["device"],
            score=value if status == "ok" else None, seconds=_num(record.get("seconds")), status=status,
            error=record.get("error"),
            extra={"score": _num(record.get("score")), "loss": _num(record.get("loss")),
                   "macs": _num(record.get("macs"))},
        )])

    def scores(
        self, space: str, config_key: str, seed: int, batch_hash: str, arch_keys: Iterable[str] | None = None
    ) -> dict[str, ScoreRecord]:
        """Stored results of one config, keyed by arch key (any device; the oldest row of a key wins)."""
        cur = self.store._db.execute(
            "SELECT arch_key, value, seconds, status, reason, device, extra FROM measurements"
            " WHERE space=? AND method=? AND config_hash=? AND seed=? AND input_hash=? ORDER BY created_at",
            (space, METHOD, config_key, int(seed), batch_hash),
        )
        wanted = set(arch_keys) if arch_keys is not None else None
        out: dict[str, ScoreRecord] = {}
        for arch_key, value, seconds, status, error, device, extra in cur:
            if wanted is not None and arch_key not in wanted:
                continue
            more = json.loads(extra) if extra else {}
            out.setdefault(arch_key, {
                "value": _nan(value), "score": _nan(more.get("score")), "loss": _nan(more.get("loss")),
                "macs": more.get("macs"), "seconds": seconds, "status": status, "error": error, "device": device,
            })
        return out

    # --- DPS runs -------------------------------------------------------------------------------------
    def dps_run(self, run_name: str) -> dict[str, Any] | None:
        run_id = self.store.find_run("dps", run_name)
        if run_id is None:
            return None
        run = self.store.run(run_id)
        best = _best(self.store.trials(run_id))
        return {
            "run_name": run_name,
            "space": run["space"],
            "settings": run["config"].get("settings", {}),
            "labelled": run["config"].get("labelled", []),
            "best_key": best[0] if best else run["extra"].get("best_key"),
            "best_fitness": best[1] if best else run["extra"].get("best_fitness"),
            "run_id": run_id,
        }

    def dps_runs(self) -> list[str]:
        return [str(n) for n in self.store.runs(kind="dps")["name"]]

    def start_dps_run(self, run_name: str, space: str, settings: dict[str, Any], labelled: list[Any]) -> int:
        """Create the run, or resume one recorded with the same settings and labelled set; returns its id."""
        config = json.loads(json.dumps({"settings": settings, "labelled": labelled}))
        try:
            run_id, _ = self.store.resume_run("dps", run_name, config, space=space)
        except StoreError:
            raise ValueError(
                f"DPS run {run_name!r} exists in {self.path} with other settings or labelled architectures; "
                "use another run name"
            ) from None
        return run_id

    def dps_history(self, run_name: str) -> list[dict[str, Any]]:
        run_id = self.store.find_run("dps", run_name)
        if run_id is None:
            return []
        return [
            {"step": t["step"], "config_key": t["config_key"], "parent_key": t.get("parent_key"),
             "genotype": t["genotype"], "fitness": t["value"], "seconds": t.get("seconds")}
            for t in self.store.trials(run_id)
        ]

    def put_dps_step(
        self,
        run_name: str,
        step: int,
        config_key: str,
        parent_key: str | None,
        genotype: dict[str, Any],
        fitness: float,
        seconds: float,
    ) -> None:
        run_id = self.store.find_run("dps", run_name)
        if run_id is None:
            raise KeyError(f"no DPS run {run_name!r} in {self.path}: start it first")
        payload = {"config_key": config_key, "parent_key": parent_key, "genotype": genotype, "seconds": seconds}
        self.store.put_trial(run_id, step, payload, fitness, identity=("config_key", "parent_key", "genotype"))


def _best(trials: list[dict[str, Any]]) -> tuple[str, float] | None:
    """(config key, fitness) of the fittest recorded proposal (the earliest on ties), or ``None``."""
    scored = [t for t in trials if math.isfinite(t["value"])]
    if not scored:
        return None
    top = max(scored, key=lambda t: (t["value"], -t["step"]))
    return top["config_key"], top["value"]
