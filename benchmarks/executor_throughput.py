"""Benchmark (issue 15): the ``ray`` executor against ``local`` on this machine, and the cross-space study on paper.

Part 1 scores the same seeded NB201 sample with the same proxies and batch twice, side by side in one run: with
``local`` worker processes and with a local Ray instance of the same number of CPUs, each into a fresh store
file (as a real run), in interleaved blocks (local, ray, ray, local, ...) so that a drift of a shared machine's
load weighs on both. It prints wall time, architectures per second and Ray's overhead as a ratio, with and
without Ray's start-up, for the first block (Ray's workers cold) and the others (warm), and checks that both
stores hold the same values. It also counts the CPU seconds each executor's blocks used in this process and the
processes it started (pool workers; Ray's daemons and workers): a cost that other jobs' load does not change.

Part 2 measures what scaling out costs per task — a no-op task's round trip on Ray and on the local pool, and the
driver's own work per finished task (one transaction of results plus claim and release) — and the per-arch cost
of the study's proxy set, then projects the wall time of the cross-space study (issue 14: every registered proxy
on a fixed sample of every space) on 8 and 64 workers. The assumptions are printed with the figures.

    .venv/bin/python benchmarks/executor_throughput.py [--archs 200] [--blocks 8] [--workers 2] [--proxies ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see proxies_throughput.py: no spinning on a shared machine

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd
import torch

import archrank
from archrank.cli.options import load_data
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


class TreeCpu:
    """CPU seconds (user + system) used by this process and every process it started: the local pool's workers,
    and a local Ray instance's daemons and workers. Other jobs on the machine are not counted, so this is the
    load-independent cost of a run. A thread samples ``/proc`` every ``interval`` seconds and keeps each process's
    last reading, so a process that ends (a pool shut down, a Ray worker killed) keeps what it used up to its last
    sample. Linux only: :meth:`total` is None elsewhere."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval = interval
        self.tick = os.sysconf("SC_CLK_TCK") if Path("/proc/self/stat").is_file() else 0
        self.seen: dict[tuple[int, int], int] = {}  # (pid, start time) -> user + system ticks last read
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> TreeCpu:
        if self.tick:
            self.sample()
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()

    def _loop(self) -> None:
        while not self.stop.wait(self.interval):
            self.sample()

    def sample(self) -> None:
        """Read every process of this tree now."""
        parents: dict[int, int] = {}
        ticks: dict[int, tuple[int, int]] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # ended meanwhile
                continue
            parents[int(entry.name)] = int(fields[1])
            ticks[int(entry.name)] = (int(fields[19]), int(fields[11]) + int(fields[12]))  # start time, utime + stime
        mine, frontier = {os.getpid()}, [os.getpid()]
        while frontier:
            parent = frontier.pop()
            children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in mine]
            mine.update(children)
            frontier.extend(children)
        with self.lock:
            for pid in mine & ticks.keys():
                started, used = ticks[pid]
                self.seen[pid, started] = max(used, self.seen.get((pid, started), 0))

    def total(self) -> float | None:
        """CPU seconds so far (read now)."""
        if not self.tick:
            return None
        self.sample()
        with self.lock:
            return sum(self.seen.values()) / self.tick


def block_order(blocks: int) -> list[str]:
    """local, ray, ray, local, local, ray, ... (ABBA repeated): a drift of the machine's load weighs on both."""
    return [("local", "ray", "ray", "local")[i % 4] for i in range(2 * blocks)]


def part1(args: argparse.Namespace, archs: list, batch: tuple, folder: Path, ray_executor: RayExecutor,
          meter: TreeCpu) -> float:
    """Ray against local, side by side in interleaved blocks; returns Ray's start-up seconds."""
    size = -(-len(archs) // args.blocks)
    blocks = [archs[i : i + size] for i in range(0, len(archs), size)]
    order = block_order(len(blocks))
    print(f"\nPart 1: {len(archs)} NB201 archs in {len(blocks)} blocks, {args.workers} workers each; every block is "
          f"scored by both executors, in the order {' '.join(n[0].upper() for n in order[:8])}... so that a drift of "
          "the machine's load weighs on both alike. CPU = seconds used by this process and all it started "
          "(pool workers; Ray's daemons and workers), not by other jobs on the machine.")
    local = LocalExecutor(args.workers)
    cpu0, start = meter.total(), time.perf_counter()
    ray_executor.connect()
    startup, startup_cpu = time.perf_counter() - start, _delta(meter.total(), cpu0)
    walls: dict[str, list[float]] = {"local": [], "ray": []}
    cpus: dict[str, list[float | None]] = {"local": [], "ray": []}
    tables: dict[str, list[pd.DataFrame]] = {"local": [], "ray": []}
    for i, name in enumerate(order):
        block = blocks[i // 2]
        executor = local if name == "local" else ray_executor
        label = f"{name}-{len(walls[name]) + 1}"
        cpu_before = meter.total()
        wall, table = time_scoring(label, executor, args, block, batch, folder)
        cpu = _delta(meter.total(), cpu_before)
        walls[name].append(wall)
        cpus[name].append(cpu)
        tables[name].append(table)
        print(f"  {'':22s} CPU {_fmt(cpu)} s (Ray's idle use included), load average {os.getloadavg()[0]:.1f}",
              flush=True)
    idle = ray_idle_cpu(args.idle_probe, meter)  # measured warm and idle, after the blocks
    if idle is not None:  # Ray's idle daemons and workers ran during the local blocks too: not local's cost
        pairs = zip(cpus["local"], walls["local"], strict=True)
        cpus["local"] = [None if c is None else c - idle * w for c, w in pairs]
    identical = pd.concat(tables["local"]).sort_index().equals(pd.concat(tables["ray"]).sort_index())
    local_wall, ray_wall = sum(walls["local"]), sum(walls["ray"])
    print(f"\n  Ray start-up (local instance): {startup:.1f} s wall, {_fmt(startup_cpu)} s CPU; Ray idle: "
          f"{_fmt(idle, 3)} CPU s per s (subtracted from the local blocks' CPU below); values identical: {identical}")
    print(f"  {'':18s} {'local':>10s} {'ray':>10s} {'ray/local':>10s}")
    first = (walls["local"][0], walls["ray"][0])
    print(f"  {'wall, 1st block':18s} {first[0]:9.1f}s {first[1]:9.1f}s {first[1] / first[0]:10.3f}   "
          "(Ray's workers start cold: each imports torch and archrank on its first task)")
    rest = (sum(walls["local"][1:]), sum(walls["ray"][1:]))
    if rest[0] > 0:
        print(f"  {'wall, other blocks':18s} {rest[0]:9.1f}s {rest[1]:9.1f}s {rest[1] / rest[0]:10.3f}   (warm)")
    print(f"  {'wall, all':18s} {local_wall:9.1f}s {ray_wall:9.1f}s {ray_wall / local_wall:10.3f}   "
          f"({len(archs) / local_wall:.2f} vs {len(archs) / ray_wall:.2f} archs/s)")
    print(f"  {'wall + start-up':18s} {local_wall:9.1f}s {ray_wall + startup:9.1f}s "
          f"{(ray_wall + startup) / local_wall:10.3f}   (target <= 1.15)")
    if all(c is not None for c in cpus["local"] + cpus["ray"]) and startup_cpu is not None:
        local_cpu, ray_cpu = sum(cpus["local"]), sum(cpus["ray"])  # type: ignore[arg-type]
        print(f"  {'CPU, all':18s} {local_cpu:9.1f}s {ray_cpu:9.1f}s {ray_cpu / local_cpu:10.3f}")
        print(f"  {'CPU + start-up':18s} {local_cpu:9.1f}s {ray_cpu + startup_cpu:9.1f}s "
              f"{(ray_cpu + startup_cpu) / local_cpu:10.3f}   (load-independent)")
    return startup


def ray_idle_cpu(seconds: float, meter: TreeCpu) -> float | None:
    """CPU seconds per second that a connected, idle local Ray instance (and this process) uses."""
    if seconds <= 0:
        return None
    before, start = meter.total(), time.perf_counter()
    time.sleep(seconds)
    used = _delta(meter.total(), before)
    return None if used is None else used / (time.perf_counter() - start)


def _delta(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def _fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--archs", type=int, default=200, help="NB201 architectures scored by each executor")
    parser.add_argument("--blocks", type=int, default=8, help="interleaved blocks the archs are split into")
    parser.add_argument("--idle-probe", type=float, default=10.0,
                        help="seconds to measure an idle Ray instance's CPU use (0: do not)")
    parser.add_argument("--sample-seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="local processes = CPUs of the local Ray instance")
    parser.add_argument("--proxies", default=",".join(DEFAULT_PROXIES))
    parser.add_argument("--data", default="auto", help="as --data of archrank score")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--noop-tasks", type=int, default=400)
    parser.add_argument("--study-probe", type=int, default=3,
                        help="archs scored with every registered proxy to price the study's proxy set")
    parser.add_argument("--skip-part1", action="store_true", help="only the scaling costs and the projection")
    parser.add_argument("--skip-part2", action="store_true", help="only Ray against local")
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

    with tempfile.TemporaryDirectory() as tmp, TreeCpu() as meter:
        folder = Path(tmp)
        ray_executor = RayExecutor(num_cpus=args.workers)
        if args.skip_part1:
            start = time.perf_counter()
            ray_executor.connect()
            startup = time.perf_counter() - start
        else:
            startup = part1(args, archs, batch, folder, ray_executor, meter)
        if args.skip_part2:
            ray_executor.close()
            return 0
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
