"""Issue 17, Eproxy: ours side by side with the authors' code (leeyeehoo/GenNAS-Zero) on the same NB201 networks.

The authors' repository is imported from the path given with ``--ref`` (the folder holding ``do_train.py``); it is
never copied into archrank. Without it the script says so and exits 0. Adaptations, all here and none in archrank:

- imports: ``torchvision`` and the NDS backbone (``model_nds`` needs ``yacs``/pycls) are stubbed — neither is used
  for NB201; ``do_train.args.device`` (a global its ``evaluation`` reads) is set to the CPU;
- data: the authors' target files (``data/features/*.pth``) are not in the repository snapshot (their blobs are
  missing), so their ``FeatureGeneratorNotrain`` loads *our* targets, written to a temporary ``data/features/`` as
  one file per branch; the input batch is ours (CIFAR-10 or our synthetic inputs);
- weights: their ``evaluation`` builds the network, the head and the barrier itself, from the global RNG; three
  subclasses registered in their ``model_dict`` tables build exactly their modules and then copy *our* initial
  weights into them (backbone: their NB201 ``BackboneNB201`` network, ``--backbone ours`` uses our NB201 network in
  their loop instead), and record the barrier's outputs.

Their ``evaluation`` then runs unchanged: ptflops MACs, SGD over backbone+head with their parameter groups,
10 iterations, the exp-decayed loss of each iteration's forward times ``1 − α·MACs/max_macs``.

Per cell: loss after each of the 10 steps (both sides, MAC factor removed), barrier output at the first and the last
recorded forward, MACs, final score; ρ of each vs CIFAR-10 test and validation accuracy, with the real batch and
with synthetic inputs. Resumable CSV. Example::

    nice -n 10 .venv/bin/python benchmarks/eproxy_vs_authors.py --ref /tmp/ref_eproxy --n 100
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import importlib
import math
import os
import sys
import tempfile
import time
import types
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn

from archrank.bench.metrics import spearman
from archrank.bench.tables import load_nb201_cifar10
from archrank.data import load_batch
from archrank.eproxy import EproxyConfig, resolve_config, run_eproxy
from archrank.eproxy.evaluate import build_seeded, undefined_last
from archrank.eproxy.train import eproxy_inputs
from archrank.eznas.tasks import evaluation_sample
from archrank.spaces import get_space

EDGE_COUNT = 6
REF_OPS = ("none", "avg_pool_3x3", "nor_conv_3x3", "nor_conv_1x1", "skip_connect")  # their OPS key order
REF_MAX_MACS_NB201 = 187166720  # utils.get_macs_lut("nb201")


def _stub(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    if name.endswith("model_nds"):
        module.__path__ = []
    return module


@contextlib.contextmanager
def _reference_imports(ref: Path) -> Iterator[None]:
    stubs = {
        "torchvision": _stub("torchvision"),
        "torchvision.transforms": _stub("torchvision.transforms"),
        "model_wrapper.backbones.backbone_nds": _stub("model_wrapper.backbones.backbone_nds", BackboneNDS=None),
        "model_wrapper.backbones.model_nds": _stub("model_wrapper.backbones.model_nds"),
        "model_wrapper.backbones.model_nds.fbnas": _stub("model_wrapper.backbones.model_nds.fbnas", NDS=None),
    }
    stubs["torchvision"].transforms = stubs["torchvision.transforms"]
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    sys.path.insert(0, str(ref))
    try:
        yield
    finally:
        sys.path.remove(str(ref))
        for k, v in saved.items():
            if v is None and not k.startswith("model_wrapper"):
                sys.modules.pop(k, None)
            elif v is not None:
                sys.modules[k] = v


class Reference:
    """The authors' modules, plus the weight-copying subclasses registered in their model tables."""

    def __init__(self, ref: Path) -> None:
        with _reference_imports(ref):
            self.do_train = importlib.import_module("do_train")
            self.utils = importlib.import_module("utils")
            self.model_dict = importlib.import_module("model_wrapper.model_dict")
            self.nb201 = importlib.import_module("model_wrapper.backbones.backbone_nb201")
        self.do_train.args = argparse.Namespace(device="cpu")
        md = self.model_dict
        state: dict[str, object] = {}
        self.state = state

        class OurWeightsBackbone(self.nb201.BackboneNB201):
            """Their NB201 backbone with our initial weights copied in."""

            def __init__(self, backbone_config) -> None:
                super().__init__(backbone_config)
                copy_into_reference(state["net"], self.model)

        class OurNetworkBackbone(nn.Module):
            """Our NB201 network in their loop: stage outputs as their BackboneNB201 returns them."""

            def __init__(self, backbone_config) -> None:
                super().__init__()
                self.model = copy.deepcopy(state["net"])
                self.out_channel = [64, 32, 16]

            def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
                f0, f1, f2 = self.model.forward_features(x)
                size = f2.shape[2:]
                return [f2, nn.functional.interpolate(f1, size), nn.functional.interpolate(f0, size)]

        class OurWeightsHead(md.HEAD_CONFIGS["HeadEmptyNAS"]):
            def __init__(self, head_config) -> None:
                super().__init__(head_config)
                for theirs, ours in zip(self.model, state["head"].heads, strict=True):
                    theirs.load_state_dict(ours.state_dict())

        class RecordingBarrier(md.BARRIER_CONFIGS["BarrierNAS"]):
            def __init__(self, head_config) -> None:
                super().__init__(head_config)
                for theirs, ours in zip(self.model, state["head"].barriers, strict=True):
                    theirs.load_state_dict(ours.state_dict())
                state["barrier_outputs"] = []

            def forward(self, x):
                out = super().forward(x)
                state["barrier_outputs"].append([o.detach().clone() for o in out])
                return out

        md.BACKBONE_CONFIGS["ArchrankWeightsNB201"] = OurWeightsBackbone
        md.BACKBONE_CONFIGS["ArchrankNetworkNB201"] = OurNetworkBackbone
        md.HEAD_CONFIGS["HeadEmptyNASArchrankWeights"] = OurWeightsHead
        md.BARRIER_CONFIGS["ArchrankBarrierNAS"] = RecordingBarrier


def copy_into_reference(ours: nn.Module, theirs: nn.Module) -> None:
    """Copy our NB201 network's weights into their ``NAS201Model`` (cells: all 5 op slots per edge exist there;
    their cell convs have a bias, set to 0 as ours have none; their cell BNs have no affine parameters)."""
    with torch.no_grad():
        theirs.stem.net.load_state_dict(ours.stem.state_dict())
        for s, (cells, red) in enumerate(
            (
                (theirs.stack_cell1, None),
                (theirs.stack_cell2, theirs.reduction1),
                (theirs.stack_cell3, theirs.reduction2),
            )
        ):
            blocks = list(ours.stages[s])
            if red is not None:
                res = blocks.pop(0)
                red.conv_a.op.load_state_dict(res.conv_a.state_dict())
                red.conv_b.op.load_state_dict(res.conv_b.state_dict())
                red.residual[1].weight.copy_(res.downsample[1].weight)
            for cell_t, cell_o in zip(cells, blocks, strict=True):
                for e, ((dst, src), op) in enumerate(
                    zip(((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)), cell_o.ops, strict=True)
                ):
                    if op.startswith("nor_conv"):
                        conv_t = cell_t.options[e * len(REF_OPS) + REF_OPS.index(op)].op[1]
                        conv_t.weight.copy_(cell_o.edges[f"{dst}_{src}"][1].weight)
                        conv_t.bias.zero_()


def reference_config(ref: Reference, cfg: EproxyConfig, features_dir: str, backbone: str, arch: str):
    """Their config object for our EproxyConfig (one target file per branch: b0, b1, ...)."""
    k = {1: 0, 3: 1, 7: 2}
    head = {
        "model": "HeadEmptyNASArchrankWeights",
        "loss_type": "mseloss",
        "batch_size": cfg.batch_size,
        "width": cfg.size,
        "height": cfg.size,
        "search_space": "nb201",
        "out_channel": [b.head_channels for b in cfg.branches],
        "last_channel": [b.target_channels for b in cfg.branches],
        "feature_list": [[f"b{i}"] for i in range(len(cfg.branches))],
        "alpha": cfg.alpha,
        "index": [k[b.head_kernel] for b in cfg.branches],
        "barrier_index": [k[b.barrier_kernel] for b in cfg.branches],
        "levels": 1.0,
    }
    return ref.utils.yaml_parser(
        {
            "backbone_config": {
                "model": backbone,
                "spec": None,
                "stem_out_channels": 16,
                "num_stacks": 3,
                "num_modules_per_stack": 3,
                "num_labels": 10,
                "arch": arch,
            },
            "head_config": head,
            "barrier_config": {"model": "ArchrankBarrierNAS"},
            "optim_a_config": {
                "optim": "sgd",
                "lr": cfg.lr,
                "momentum": cfg.momentum,
                "weight_decay": cfg.weight_decay,
            },
            "train_config": {
                "a_iters": cfg.steps,
                "mac_mode": "loss_macs",
                "eval_show_metric_interval": 10**9,
                "rank_reverse": True,
            },
        }
    )


@contextlib.contextmanager
def _in_dir(path: str) -> Iterator[None]:
    cwd = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(cwd)


def run_reference(
    ref: Reference,
    net: nn.Module,
    head: nn.Module,
    cfg: EproxyConfig,
    x: torch.Tensor,
    targets: list[torch.Tensor],
    arch: str,
    backbone: str,
) -> dict[str, object]:
    """Their evaluation() on one cell; losses (MAC factor removed), barrier outputs, MACs."""
    ref.state.update(net=net, head=head)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(os.path.join(tmp, "data", "features"))
        for i, t in enumerate(targets):
            torch.save(t.clone(), os.path.join(tmp, "data", "features", f"b{i}.pth"))
        config = reference_config(ref, cfg, tmp, backbone, arch)
        with _in_dir(tmp):
            generator = ref.model_dict.GENERATOR_CONFIGS["FeatureGeneratorNotrain"](config.head_config)
            with torch.random.fork_rng(devices=[]):
                loss_matrix, _ = ref.do_train.evaluation([(arch, 0.0)], config, x.clone(), generator, "cpu")
    wrapper = ref.model_dict.BACKBONE_CONFIGS[backbone](config.backbone_config)
    macs, _ = ref.do_train.get_model_complexity_info(
        wrapper, (3, 32, 32), as_strings=False, print_per_layer_stat=False, verbose=False
    )
    factor = 1 - cfg.alpha * macs / REF_MAX_MACS_NB201
    outs = ref.state["barrier_outputs"]
    return {
        "losses": [float(v) / factor for v in loss_matrix[0]],
        "score": float(loss_matrix[0][-1]),
        "macs": macs / 1e6,
        "barrier_first": outs[0],
        "barrier_last": outs[-1],
    }


def run_ours(space, arch, cfg: EproxyConfig, batch, seed: int):
    """Our Eproxy, its initial weights (backbone and head) and its barrier outputs at the first and last forward."""
    net = build_seeded(space, arch, seed)  # the weights of benchmarks/eproxy_nb201.py for this seed
    run = run_eproxy(net, cfg, batch, seed=seed)
    initial = copy.deepcopy(net)  # eproxy re-initialises only with a non-default init_backbone
    from archrank.eproxy.head import EproxyHead

    x = eproxy_inputs(cfg, batch)
    feats0 = initial.forward_features(x)
    chosen0 = [feats0[b.stage] for b in cfg.branches]
    head0 = EproxyHead(cfg, [f.shape[1] for f in chosen0], seed)
    with torch.no_grad():
        first = [o.detach() for o in copy.deepcopy(head0).train()(chosen0)]
        last = None  # no head: our score is undefined (features independent of the input), recorded as NaN
        if run.head is not None:
            feats = run.model.forward_features(x.contiguous(memory_format=torch.channels_last))
            chosen = [feats[b.stage] for b in cfg.branches]
            last = [o.detach().contiguous() for o in copy.deepcopy(run.head).train()(chosen)]
    return run.result, initial, head0, first, last, run.targets


def rel(a: list[torch.Tensor] | None, b: list[torch.Tensor]) -> float:
    if a is None:
        return math.nan
    return max(float((p - q).abs().max() / p.abs().max().clamp(min=1e-12)) for p, q in zip(a, b, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True, help="folder of leeyeehoo/GenNAS-Zero (holding do_train.py)")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--config", default="default", help="our Eproxy preset or JSON (inputs are set per run)")
    parser.add_argument("--csv", default="/tmp/eproxy_vs_authors.csv")
    parser.add_argument("--noise-cells", type=int, default=20, help="noise floor on the first N cells only")
    parser.add_argument(
        "--diagnostic",
        type=int,
        default=8,
        help="our NB201 network in their loop on the first N cells only",
    )
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ref_dir = Path(args.ref)
    if not (ref_dir / "do_train.py").is_file():
        print(
            f"skipped: the authors' Eproxy code is not at {ref_dir} (need do_train.py there); fetch "
            "leeyeehoo/GenNAS-Zero and pass its folder with --ref"
        )
        return
    ref = Reference(ref_dir)
    space = get_space("nb201")
    table = load_nb201_cifar10(space)
    archs = evaluation_sample(space, args.n, args.seed)
    base = resolve_config(args.config)
    batch = load_batch("cifar10", None, batch_size=base.batch_size, seed=args.seed)
    fields = [
        "arch",
        "inputs",
        "backbone",
        "test_acc",
        "valid_acc",
        "ours",
        "ours_2threads",
        "authors",
        "macs_ours",
        "macs_authors",
        "barrier_first_rel",
        "barrier_last_rel",
        "barrier_first_ms_ours",
        "barrier_first_ms_authors",
        "barrier_last_ms_ours",
        "barrier_last_ms_authors",
        *[f"loss{i}_ours" for i in range(base.steps)],
        *[f"loss{i}_authors" for i in range(base.steps)],
    ]
    path = Path(args.csv)
    done: set[tuple[str, str, str]] = set()
    rows: list[dict[str, str]] = []
    if path.exists():
        with path.open() as f:
            rows = list(csv.DictReader(f))
        done = {(r["arch"], r["inputs"], r["backbone"]) for r in rows}
    if not args.report_only:
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            if new:
                writer.writeheader()
            t0 = time.perf_counter()
            for i, arch in enumerate(archs):
                key = space.key(arch)
                for inputs, backbone in (
                    ("batch", "ArchrankWeightsNB201"),
                    ("synthetic", "ArchrankWeightsNB201"),
                    ("batch", "ArchrankNetworkNB201"),
                ):
                    if (key, inputs, backbone) in done or (backbone == "ArchrankNetworkNB201" and i >= args.diagnostic):
                        continue
                    cfg = EproxyConfig.from_dict({**base.to_dict(), "inputs": inputs})
                    result, initial, head0, first, last, targets = run_ours(space, arch, cfg, batch, args.seed)
                    rerun_score = math.nan
                    if i < args.noise_cells and inputs == "batch" and backbone == "ArchrankWeightsNB201":
                        torch.set_num_threads(2)  # the float noise floor: the same run, another reduction order
                        rerun_score = run_eproxy(initial, cfg, batch, seed=args.seed).result.score
                        torch.set_num_threads(args.threads)
                    x = eproxy_inputs(cfg, batch)
                    theirs = run_reference(ref, initial, head0, cfg, x, targets, space.to_str(arch), backbone)
                    row = {
                        "arch": key,
                        "inputs": inputs,
                        "backbone": backbone,
                        "test_acc": table.loc[key, "cifar10_test_acc"],
                        "valid_acc": table.loc[key, "cifar10_valid_acc"],
                        "ours": result.score,
                        "ours_2threads": rerun_score,
                        "authors": theirs["score"],
                        "macs_ours": result.macs,
                        "macs_authors": theirs["macs"],
                        "barrier_first_rel": rel(first, theirs["barrier_first"]),
                        "barrier_last_rel": rel(last, theirs["barrier_last"]),
                        "barrier_first_ms_ours": float(sum(o.pow(2).mean() for o in first)),
                        "barrier_first_ms_authors": float(sum(o.pow(2).mean() for o in theirs["barrier_first"])),
                        "barrier_last_ms_ours": math.nan if last is None else float(sum(o.pow(2).mean() for o in last)),
                        "barrier_last_ms_authors": float(sum(o.pow(2).mean() for o in theirs["barrier_last"])),
                    }
                    for s in range(base.steps):
                        row[f"loss{s}_ours"] = result.losses[s] if s < len(result.losses) else math.nan
                        row[f"loss{s}_authors"] = theirs["losses"][s]
                    out = {k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()}
                    writer.writerow(out)
                    f.flush()
                    rows.append({k: str(v) for k, v in out.items()})
                if (i + 1) % 5 == 0:
                    print(f"{i + 1}/{len(archs)} cells, {(time.perf_counter() - t0) / (i + 1):.1f} s/cell", flush=True)
    print(report(rows, base, args))


def _spearman(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(stats.spearmanr(a[ok], b[ok]).statistic) if ok.sum() > 2 else math.nan


def report(rows: list[dict[str, str]], base: EproxyConfig, args: argparse.Namespace) -> str:
    def col(sel: list[dict[str, str]], name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) not in (None, "", "nan") else math.nan for r in sel])

    def quality(loss: np.ndarray, acc: np.ndarray) -> float:
        """ρ of a score (a loss: lower = better) against accuracy over every cell, an undefined score last."""
        return spearman(undefined_last(list(-loss)), acc)

    unique: dict[tuple[str, str, str], dict[str, str]] = {}
    for r in rows:  # one row per (cell, inputs, network): a resumed run may have appended a cell twice
        unique.setdefault((r["arch"], r["inputs"], r["backbone"]), r)
    rows = list(unique.values())

    out = [
        f"Config `{args.config}`; cells: seeded sample `evaluation_sample(nb201, {args.n}, seed={args.seed})`; "
        f"model/head seed {args.seed}; batch: CIFAR-10 train, {base.batch_size} images (`load_batch(seed="
        f"{args.seed})`) or our synthetic inputs.",
        "",
    ]
    for inputs, backbone, label in (
        ("batch", "ArchrankWeightsNB201", "real batch, their NB201 network"),
        ("synthetic", "ArchrankWeightsNB201", "synthetic inputs, their NB201 network"),
        ("batch", "ArchrankNetworkNB201", "real batch, our NB201 network in their loop"),
    ):
        sel = [r for r in rows if r["inputs"] == inputs and r["backbone"] == backbone]
        if len(sel) < 3:
            continue
        out += [
            f"### {label} (n = {len(sel)})",
            "",
            "| intermediate | Spearman ρ authors vs ours | max relative difference |",
            "|---|---:|---:|",
        ]
        for s in range(base.steps):
            a, o = col(sel, f"loss{s}_authors"), col(sel, f"loss{s}_ours")
            out.append(f"| loss at step {s + 1} | {_spearman(a, o):.4f} | {np.nanmax(np.abs(a - o) / np.abs(a)):.2e} |")
        for w in ("first", "last"):
            out.append(
                f"| barrier output, {w} recorded forward (mean square) | "
                f"{_spearman(col(sel, f'barrier_{w}_ms_authors'), col(sel, f'barrier_{w}_ms_ours')):.4f} | "
                f"{np.nanmax(col(sel, f'barrier_{w}_rel')):.2e} |"
            )
        a, o = col(sel, "macs_authors"), col(sel, "macs_ours")
        out.append(f"| MACs (ptflops vs ours) | {_spearman(a, o):.4f} | {np.nanmax(np.abs(a - o) / a):.2e} |")
        a, o, o2 = col(sel, "authors"), col(sel, "ours"), col(sel, "ours_2threads")
        out.append(f"| final score | {_spearman(a, o):.4f} | {np.nanmax(np.abs(a - o) / np.abs(a)):.2e} |")
        # our final loss under the authors' MAC term: what is left is the loss trajectory alone
        om = col(sel, f"loss{base.steps - 1}_ours") * (
            1 - base.alpha * col(sel, "macs_authors") * 1e6 / REF_MAX_MACS_NB201
        )
        out.append(
            f"| final score, ours with the authors' MAC term | {_spearman(a, om):.4f} | "
            f"{np.nanmax(np.abs(a - om) / np.abs(a)):.2e} |"
        )
        if np.isfinite(o2).sum() > 0:
            out.append(
                f"| noise floor: ours with 1 vs 2 threads, final score ({int(np.isfinite(o2).sum())} cells) | "
                f"{_spearman(o2, o):.4f} | {np.nanmax(np.abs(o2 - o) / np.abs(o)):.2e} |"
            )
        test, valid = col(sel, "test_acc"), col(sel, "valid_acc")
        out += [
            "",
            "| score | ρ vs CIFAR-10 test acc | ρ vs validation acc |",
            "|---|---:|---:|",
            f"| authors' code | {quality(a, test):.4f} | {quality(a, valid):.4f} |",
            f"| ours | {quality(o, test):.4f} | {quality(o, valid):.4f} |",
            f"| ours with the authors' MAC term | {quality(om, test):.4f} | {quality(om, valid):.4f} |",
            "",
            f"Rank quality over all {len(sel)} cells, an undefined score ranked last (undefined: authors "
            f"{int(np.isnan(a).sum())}, ours {int(np.isnan(o).sum())}); the agreement rows above use the cells "
            "where both are defined.",
            "",
        ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
