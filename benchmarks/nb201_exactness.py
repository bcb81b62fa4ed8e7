"""Check our NB201 network against the benchmark table for every one of the 15625 cells.

For each cell: index -> arch string equals the table's ``arch_str``; parameter count equals ``params_M``;
FLOPs (NASLib convention) equal ``flops_M``. Prints the number of mismatches and the time taken.

    python benchmarks/nb201_exactness.py [--limit N]
"""

from __future__ import annotations

import argparse
import time

import torch
from tqdm import tqdm

from archrank import get_space
from archrank.bench.tables import load_nb201_cifar10
from archrank.proxies.cost import count_flops, count_params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="Check only the first N indices.")
    args = parser.parse_args()
    torch.set_num_threads(1)
    space = get_space("nb201")
    table = load_nb201_cifar10(space)
    n = len(space) if args.limit is None else min(args.limit, len(space))
    bad_str = bad_params = bad_flops = 0
    start = time.perf_counter()
    for index in tqdm(range(n), unit="arch", desc="nb201 exactness"):
        arch = space.from_index(index)
        key = space.key(arch)
        if table.index[index] != key:
            bad_str += 1
        model = space.build(arch, num_classes=10)
        row = table.loc[key]
        bad_params += count_params(model) != round(row["params_M"] * 1e6)
        bad_flops += count_flops(model) != round(row["flops_M"] * 1e6)
    took = time.perf_counter() - start
    print(f"checked {n} NB201 cells in {took:.1f} s ({n / took:.1f} cells/s)")
    print(f"index->string mismatches: {bad_str}")
    print(f"params mismatches:        {bad_params}")
    print(f"FLOPs mismatches:         {bad_flops}")
    raise SystemExit(1 if bad_str or bad_params or bad_flops else 0)


if __name__ == "__main__":
    main()
