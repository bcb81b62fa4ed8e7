"""Benchmark (issue 15): the ``ray`` executor against ``local`` on this machine, and the cross-space study on paper.

Part 1 scores the same seeded NB201 sample with the same proxies and batch twice, side by side in one run: with
``local`` worker processes and with a local Ray instance of the same number of CPUs, each into a fresh store
file (as a real run). It prints wall time, architectures per second and Ray's overhead as a ratio, with and
without Ray's start-up, and checks that both stores hold the same values.

Part 2 measures what scaling out costs per task — a no-op task's round trip on Ray and on the local pool, and the
driver's own work per finished task (one transaction of results plus claim and release) — and the per-arch cost
of the study's proxy set, then projects the wall time of the cross-space study (issue 14: every registered proxy
on a fixed sample of every space) on 8 and 64 workers. The assumptions are printed with the figures.

    .venv/bin/python benchmarks/executor_throughput.py [--archs 200] [--workers 2] [--proxies ...] [--data auto]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see proxies_throughput.py: no spinning on a shared machine

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

import archrank
from archrank.cli_options import load_data
from archrank.executors import LocalExecutor, RayExecutor, auto_chunk_size
from archrank.proxies import DEFAULT_PROXIES, list_proxies
from archrank.runner import config_hashes, model_config, score_space, work_fingerprint
from archrank.store import ScoreRow, Store

# The cross-space study (issue 14), as archrank's spaces and ground-truth files define it: all cells where the
# file is small, a seeded sample of 1000 where it is large.
STUDY: dict[str, int] = {
    "nb201": 1000,
    "nb101": 500,
    "nb301": 725,
    **{f"nds-{family}": 1000 for family in ("darts", "enas", "pnas", "nasnet", "amoeba", "resnet", "resnext-a",
                                             "resnext-b", "vanilla")},
    "macro": 1000,
    "tnb101-micro": 1000,
}


def _noop(shared: object, items: list[int]) -> list[int]:
    return items


def time_scoring(label: str, executor: object, args: argparse.Namespace, archs: list, batch: tuple,
                 folder: Path) -> tuple[float, pd.DataFrame]:
    """Score ``archs`` into a fresh store file; wall seconds and the stored table."""
    space = archrank.get_space("nb201")
    with Store(folder / f"{label}.db") as store:
        start = time.perf_counter()
        summary = score_space(space, archs, args.proxies, store, batch[0], batch_hash=batch[1],
                              executor=executor, progress=False)
        wall = time.perf_counter() - start
        table = store.score_table("nb201")
    print(f"  {label:22s} {wall:8.1f} s  {len(archs) / wall:6.2f} archs/s   ({summary})", flush=True)
    return wall, table


def task_overhead(executor: object, tasks: int) -> tuple[float, int]:
    """Seconds per no-op task per slot (round trip: submit, schedule, run, return) and the slot count."""
    session = executor.open(_noop, None)  # type: ignore[attr-defined]
    slots = session.capacity
    session.close()
    start = time.perf_counter()
    outcomes = list(executor.map(_noop, None, list(range(tasks)), chunk_size=1))  # type: ignore[attr-defined]
    wall = time.perf_counter() - start
    assert len(outcomes) == tasks and all(o.ok for o in outcomes)
    return wall * slots / tasks, slots


def driver_cost(folder: Path, proxies: list[str], chunk: int, rounds: int) -> float:
    """Seconds the driver spends per finished task of ``chunk`` archs: claim, one transaction, release."""
    space = archrank.get_space("nb201")
    hashes = config_hashes(proxies, model_config(space, 10, {}))
    fingerprint = work_fingerprint(hashes, 0, "bench", "cpu")
    times = []
    with Store(folder / "driver.db") as store:
        for r in range(rounds):
            keys = [space.key(space.from_index(r * chunk + i)) for i in range(chunk)]
            rows = [ScoreRow("nb201", k, p, hashes[p], 0, "bench", "cpu", 1.0, 0.1, "ok") for k in keys
                    for p in proxies]
            start = time.perf_counter()
            store.claim("nb201", fingerprint, keys, "bench", 120.0)
            store.put_scores(rows)
            store.release("nb201", fingerprint, keys, "bench")
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_arch_cost(proxies: list[str], archs: list, batch: tuple) -> tuple[float, float]:
    """Median wall and process-CPU seconds of one architecture scored in this process (one thread, as every
    scoring call). On a loaded machine the wall time includes waiting for a core; the CPU time is what one
    dedicated core would take."""
    space = archrank.get_space("nb201")
    walls, cpus = [], []
    with Store(":memory:") as store:
        for arch in archs:
            start, cpu = time.perf_counter(), time.process_time()
            score_space(space, [arch], proxies, store, batch[0], batch_hash=batch[1], progress=False)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def part1(args: argparse.Namespace, archs: list, batch: tuple, folder: Path, ray_executor: RayExecutor) -> float:
    """Ray against local, side by side; returns Ray's start-up seconds."""
    print(f"\nPart 1: {args.archs} NB201 archs, {args.workers} workers each; two halves in the order local, ray,"
          " ray, local so that a drift of the machine's load weighs on both alike")
    halves = [archs[: len(archs) // 2], archs[len(archs) // 2 :]]
    local = LocalExecutor(args.workers)
    start = time.perf_counter()
    ray_executor.connect()
    startup = time.perf_counter() - start
    walls: dict[str, float] = {"local": 0.0, "ray": 0.0}
    tables: dict[str, list[pd.DataFrame]] = {"local": [], "ray": []}
    for half, order in zip(halves, (("local", "ray"), ("ray", "local")), strict=True):
        for name in order:
            executor = local if name == "local" else ray_executor
            label = f"{name}-{len(tables[name]) + 1}"
            wall, table = time_scoring(label, executor, args, half, batch, folder)
            walls[name] += wall
            tables[name].append(table)
    local_wall, ray_wall = walls["local"], walls["ray"]
    identical = pd.concat(tables["local"]).sort_index().equals(pd.concat(tables["ray"]).sort_index())
    print(f"  local {local_wall:.1f} s ({args.archs / local_wall:.2f} archs/s), ray {ray_wall:.1f} s "
          f"({args.archs / ray_wall:.2f} archs/s) + Ray start-up {startup:.1f} s; values identical: {identical}")
    print(f"  ray / local wall: {ray_wall / local_wall:.3f} without start-up (workers' first imports included), "
          f"{(ray_wall + startup) / local_wall:.3f} with it (target <= 1.15)")
    return startup


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=200, help="NB201 architectures scored by each executor")
    parser.add_argument("--sample-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="local processes = CPUs of the local Ray instance")
    parser.add_argument("--proxies", default=",".join(DEFAULT_PROXIES))
    parser.add_argument("--data", default="auto", help="as --data of archrank score")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--noop-tasks", type=int, default=400)
    parser.add_argument("--study-probe", type=int, default=3,
                        help="archs scored with every registered proxy to price the study's proxy set")
    parser.add_argument("--skip-part1", action="store_true", help="only the scaling costs and the projection")
    parser.add_argument("--space-factor", type=float, default=1.0,
                        help="cost of an average study model relative to an NB201 cell (assumption)")
    args = parser.parse_args(argv)
    args.proxies = [p.strip() for p in args.proxies.split(",") if p.strip()]
    space = archrank.get_space("nb201")
    archs = space.sample_many(args.archs, seed=args.sample_seed)
    batch = load_data(args.data, args.batch_size, 0)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (shared with other jobs); "
          f"no GPU; torch {torch.__version__}; python {sys.version.split()[0]}")
    print(f"data {args.data}, batch {args.batch_size}; proxies: {', '.join(args.proxies)}")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ray_executor = RayExecutor(num_cpus=args.workers)
        if args.skip_part1:
            start = time.perf_counter()
            ray_executor.connect()
            startup = time.perf_counter() - start
        else:
            startup = part1(args, archs, batch, folder, ray_executor)
        print("\nPart 2: costs that decide scaling")
        ray_task, ray_slots = task_overhead(ray_executor, args.noop_tasks)
        local_task, local_slots = task_overhead(LocalExecutor(args.workers), args.noop_tasks)
        ray_executor.close()
        chunk = auto_chunk_size(10**6, 64)
        all_proxies = list_proxies()
        driver = driver_cost(folder, all_proxies, chunk, 40)
        probe = archs[: args.study_probe]
        wall_default, cpu_default = per_arch_cost(args.proxies, probe, batch)
        wall_all, cpu_all = per_arch_cost(all_proxies, probe, batch)
        print(f"  no-op task round trip per slot: ray {ray_task * 1e3:.1f} ms ({ray_slots} slots), "
              f"local pool {local_task * 1e3:.1f} ms ({local_slots} slots)")
        print(f"  driver per finished task of {chunk} archs x {len(all_proxies)} proxies "
              f"(claim + 1 transaction + release): {driver * 1e3:.1f} ms")
        print(f"  per NB201 arch, one thread (median of {len(probe)}): the proxies above {wall_default:.2f} s wall, "
              f"{cpu_default:.2f} s CPU; all {len(all_proxies)} registered proxies {wall_all:.2f} s wall, "
              f"{cpu_all:.2f} s CPU")
        per_arch = cpu_all * args.space_factor
        n = sum(STUDY.values())
        tasks = n / chunk
        print(f"\nProjection: the cross-space study = all {len(all_proxies)} registered proxies on {n} archs "
              f"({', '.join(f'{k} {v}' for k, v in STUDY.items())}); {per_arch:.2f} s per arch per worker "
              f"(the CPU time above: one dedicated core per worker; NB201-sized models x space factor "
              f"{args.space_factor}); tasks of {chunk} archs; Ray start-up "
              f"and per-task round trip as measured here; the driver writes serially.")
        print(f"  {'workers':>8s} {'compute':>10s} {'task overhead':>14s} {'driver bound':>13s} {'wall':>10s}")
        for workers in (args.workers, 8, 64):
            compute = n * per_arch / workers
            overhead = tasks * ray_task / workers
            bound = tasks * driver
            wall = startup + max(compute + overhead, bound)
            print(f"  {workers:8d} {compute / 3600:9.2f}h {overhead:13.1f}s {bound:12.1f}s {wall / 3600:9.2f}h")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
