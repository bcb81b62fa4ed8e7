"""Issue 17, EZNAS on Conv-BN-ReLU networks: our block rule and EZNAS-A beside the authors' layer selection.

The authors' code (IntelLabs/Hardware-Aware-Automated-Machine-Learning, folder ``EZNAS/``) is imported from
``--ref`` through ``benchmarks/eznas_reference.py`` (the import adaptation and the three hooked passes shared with
``eznas_vs_authors.py``; never copied into archrank). Their NDS path
(``evaluate_networks``): ``create_layer_sequence(net, "NDS")`` (module-order triples after dropping the first two
modules), and when its length is not a multiple of 3, ``create_layer_sequence_disordered`` (execution order,
``desired_pattern_enforcer`` Conv2d-BatchNorm2d-ReLU applied three times); then per triple ``i`` the statistics at
positions ``3i``/``3i+1``/``3i+2`` (``inpactgraddata``: their old-style backward hook on the first module, i.e.
the gradient with respect to the conv's input through that conv), three passes, EZNAS-A per layer, mean.

Per architecture of ``space.sample_many(n, seed)``, on the same weights (``reference_init``) and the same batch:

- which layers each side reads: blocks keyed by their first module (the conv whose input gradient EZNAS-A reads):
  in both, ours only, the authors' only; how many of the authors' triples are exactly one of our blocks;
- EZNAS-A: the authors' code (gradient target ``--authors-target``: ``logits`` as their NDS networks return
  ``(logits, features)``, ``features`` as their NB201 networks) and ours with ``grad_target`` features (the
  default) and logits; per-layer agreement of ``input_grad_data`` on the layers both read (same target).

``--unchanged OLD_STATS_PY`` instead checks that ReLU-Conv-BN networks are untouched by the CBR rule: all 22
statistics of every block bit-identical to those of an earlier ``stats.py`` (e.g. ``git show
0aafb70:src/archrank/eznas/stats.py > /tmp/old_stats.py``) on ``--n`` networks of each of ``--spaces``.

Examples::

    nice -n 19 .venv/bin/python benchmarks/eznas_blocks_vs_authors.py --ref /tmp/ref_eznas/EZNAS \\
        --spaces nb101,nds-resnet --n 10 --batch-size 8
    nice -n 19 .venv/bin/python benchmarks/eznas_blocks_vs_authors.py --unchanged /tmp/old_stats.py \\
        --spaces nb201,nb301,nds-darts,tnb101-micro --n 10 --batch-size 4
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn

from archrank.eznas import EZNAS_A, Program, StatsBatch, evaluate
from archrank.eznas.stats import StatsConfig, extract_stats, find_blocks, input_noise_seed, reference_init
from archrank.spaces import get_space

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eznas_reference import (
    OURS_TO_REF,
    TERMS,
    AuthorsEznasA,
    load_reference,
    missing_reference_message,
    reference_available,
    rel_diff,
)

COMPARED = [t for t in TERMS if not t.startswith("weight")]
"""The 18 statistics compared: the weight ones differ by design (the authors read the BN's γ in a CBR triple)."""


class TargetFirst(nn.Module):
    """The network seen as the authors' networks: ``forward`` returns (gradient target, other), where the target is
    the logits (their NDS networks: ``(logits, features)``) or the pooled features (their NB201 networks)."""

    def __init__(self, net: nn.Module, target: str) -> None:
        super().__init__()
        self.net = net
        self.target = target

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        linear = [m for m in self.net.modules() if isinstance(m, nn.Linear)][-1]
        feats: list[torch.Tensor] = []
        handle = linear.register_forward_hook(lambda m, i, o: feats.append(i[0]))
        try:
            logits = self.net(x)
        finally:
            handle.remove()
        return (logits, feats[0]) if self.target == "logits" else (feats[0], logits)


def authors_selection(ev, model: nn.Module, x: torch.Tensor) -> tuple[str, list[nn.Module]]:
    """Their layer list for an NDS network (on ``model`` itself: the disordered path leaves forward hooks that only
    record the call order, so the caller passes a throw-away copy)."""
    flat = ev.create_layer_sequence(model, "NDS")
    if len(flat) % 3 == 0:
        return "module order", flat
    return "execution-order pattern", ev.create_layer_sequence_disordered(model, x, "cpu")


def run_authors(ref: AuthorsEznasA, net: nn.Module, x: torch.Tensor, target: str, noise_seed: int):
    """Their selection, three passes and EZNAS-A on a copy of ``net``; (path, triple names, layers, values)."""
    ev = ref.ev
    model = TargetFirst(copy.deepcopy(net), target).train()
    selector = copy.deepcopy(model)
    path, flat_sel = authors_selection(ev, selector, x)
    sel_names = {id(m): n for n, m in selector.named_modules()}
    own = dict(model.named_modules())
    flat = [own[sel_names[id(m)]] for m in flat_sel]
    names = [
        tuple(sel_names[id(m)].removeprefix("net.") for m in flat_sel[3 * i : 3 * i + 3]) for i in range(len(flat) // 3)
    ]
    kinds = ["".join(type(m).__name__[0] for m in flat_sel[3 * i : 3 * i + 3]) for i in range(len(flat) // 3)]
    layers = ref.statistics(model, flat, x, noise_seed)
    return path, names, kinds, layers, ref.layer_values(layers)


def check_unchanged(old_path: Path, spaces: list[str], n: int, batch_size: int, seed: int) -> None:
    """All 22 statistics of every block, old ``stats.py`` vs the current one, on ``n`` networks per space."""
    spec = importlib.util.spec_from_file_location("old_eznas_stats", old_path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"{old_path}: not a Python file")
    old = importlib.util.module_from_spec(spec)
    sys.modules["old_eznas_stats"] = old  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(old)
    x = torch.randn(batch_size, 3, 32, 32, generator=torch.Generator().manual_seed(seed + 1))
    for name in spaces:
        space = get_space(name)
        same = 0
        for k, arch in enumerate(space.sample_many(n, seed=seed + 5)):
            net = space.build(arch, num_classes=10)
            a, b = old.extract_stats(net, x, seed=k), extract_stats(net, x, seed=k)
            same += a.layer_names == b.layer_names and all(
                la.keys() == lb.keys() and all(torch.equal(la[t], lb[t]) for t in la)
                for la, lb in zip(a.layers, b.layers, strict=True)
            )
        print(f"{name}: {same}/{n} networks bit-identical (22 statistics, every block; now {b.meta['block_kind']})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref", type=Path, help="folder holding the authors' evol_utilities.py")
    parser.add_argument("--unchanged", type=Path, help="an earlier stats.py: check RCB networks bit for bit")
    parser.add_argument("--spaces", default="nb101,nds-resnet")
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--authors-target", choices=("logits", "features"), default="logits")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.unchanged is not None:
        check_unchanged(args.unchanged, args.spaces.split(","), args.n, args.batch_size, args.seed)
        return
    if args.ref is None or not reference_available(args.ref):
        print(missing_reference_message(args.ref))
        return
    ref = AuthorsEznasA(load_reference(args.ref))
    program = Program.parse(EZNAS_A)
    x = torch.randn(args.batch_size, 3, 32, 32, generator=torch.Generator().manual_seed(args.seed))
    print(
        f"batch: N(0, 1) of shape {tuple(x.shape)} (seed {args.seed}); authors' gradient target: "
        f"{args.authors_target}; EZNAS-A = {EZNAS_A}"
    )
    for space_name in args.spaces.split(","):
        space = get_space(space_name)
        rows = []
        for k, arch in enumerate(space.sample_many(args.n, seed=args.seed)):
            net = space.build(arch, num_classes=10)
            reference_init(net, args.seed + k)
            ours_blocks = find_blocks(net, x)
            ours_first = [b.name for b in ours_blocks]
            module_name = {id(m): n for n, m in net.named_modules()}
            ours_triples = {tuple(module_name[id(m)] for m in b.modules) for b in ours_blocks}
            noise_seed = input_noise_seed(args.seed)
            path, names, kinds, layers, values = run_authors(ref, net, x, args.authors_target, noise_seed)
            theirs_first = [t[0] for t in names]
            row = {
                "arch": space.key(arch),
                "path": path,
                "ours": len(ours_first),
                "authors": len(theirs_first),
                "both": len(set(ours_first) & set(theirs_first)),
                "ours_only": sorted(set(ours_first) - set(theirs_first)),
                "authors_only": sorted(set(theirs_first) - set(ours_first)),
                "same_triples": sum(t in ours_triples for t in names),
                "authors_not_cbr_or_rcb": sum(k not in ("CBR", "RCB") for k in kinds),
                "authors_failed_layers": sum(not lay for lay in layers),
                "authors_value": float(np.mean(values)) if values else math.nan,
            }
            for target in ("features", "logits"):
                same_target = target == args.authors_target
                st = extract_stats(
                    net,
                    x,
                    seed=args.seed,
                    config=StatsConfig(init="none", grad_target=target),
                    terminals=None if same_target else ["input_grad_data"],
                )
                row[f"ours_{target}"] = float(evaluate(program, StatsBatch([st], ["input_grad_data"]))[0])
                if same_target:
                    by_name = dict(zip(st.layer_names, st.layers, strict=True))
                    diffs = [
                        rel_diff(lay["inpactgraddata"], by_name[t[0]]["input_grad_data"])
                        for t, lay in zip(names, layers, strict=True)
                        if lay and t[0] in by_name
                    ]
                    row["input_grad_max_rel_diff_common"] = max(diffs) if diffs else math.nan
                    # every statistic but the weight ones (theirs: the BN's γ) on the triples both read identically
                    worst = (0.0, "")
                    for t, lay in zip(names, layers, strict=True):
                        if lay and t in ours_triples:
                            for term in COMPARED:
                                worst = max(worst, (rel_diff(lay[OURS_TO_REF[term]], by_name[t[0]][term]), term))
                    row["max_rel_diff_18_stats_identical_triples"], row["worst_stat"] = worst
            rows.append(row)
            print(space_name, {k: v for k, v in row.items() if k not in ("ours_only", "authors_only")}, flush=True)
            print("   ours only:", row["ours_only"][:6], "... authors only:", row["authors_only"][:6], flush=True)
        print(f"\n## {space_name}: {len(rows)} networks")
        for key in ("ours", "authors", "both", "same_triples", "authors_not_cbr_or_rcb", "authors_failed_layers"):
            print(f"  blocks {key:13s}: mean {np.mean([r[key] for r in rows]):.1f}")
        paths = [r["path"] for r in rows]
        print(f"  authors' path: {', '.join(f'{p}: {paths.count(p)}' for p in sorted(set(paths)))}")
        for p in sorted(set(paths)):
            sub = [r for r in rows if r["path"] == p]
            print(
                f"    {p}: blocks ours {np.mean([r['ours'] for r in sub]):.1f}, authors "
                f"{np.mean([r['authors'] for r in sub]):.1f}, both {np.mean([r['both'] for r in sub]):.1f}, "
                f"identical triples {np.mean([r['same_triples'] for r in sub]):.1f}"
            )
        print(
            f"  max rel diff of input_grad on common layers (same target): "
            f"{max(r['input_grad_max_rel_diff_common'] for r in rows):.2e}"
        )
        print(
            f"  max rel diff of the 18 non-weight statistics on identical triples: "
            f"{max(r['max_rel_diff_18_stats_identical_triples'] for r in rows):.2e}"
        )
        for target in ("features", "logits"):
            a = [r["authors_value"] for r in rows]
            b = [r[f"ours_{target}"] for r in rows]
            print(f"  Spearman(authors, ours grad_target={target}) = {stats.spearmanr(a, b).statistic:.3f}")


if __name__ == "__main__":
    main()
