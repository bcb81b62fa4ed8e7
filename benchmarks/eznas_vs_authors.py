"""Issue 17, EZNAS: our statistics and EZNAS-A side by side with the authors' code on the same NB201 networks.

The authors' code (IntelLabs/Hardware-Aware-Automated-Machine-Learning, folder ``EZNAS/``) is imported from the
path given with ``--ref`` (the folder holding ``evol_utilities.py``) through ``benchmarks/eznas_reference.py``, which
holds the import adaptation (stubs for ``models`` and ``torchvision``, a safe ``yaml.load``); it is never copied
into archrank. Without it the script says so and exits 0.

Per architecture of ``evaluation_sample(nb201, N, seed)``:

1. our NB201 network is re-initialised with :func:`archrank.eznas.stats.reference_init` (the weights ``eznas``
   uses), so both sides see *the same weights*;
2. the authors' side: ``create_layer_sequence`` on a ``(features, logits)`` view of that network (what xautodl's
   TinyNetwork returns), their ``Hook`` objects, their ``process_network_output`` for the data, noise and
   perturbed passes (``zero_grad`` between, as ``evaluate_networks``), the global RNG seeded so their
   ``torch.randn`` draws the same noise and perturbation as ours, and ``get_individual("darts")`` compiled by
   DEAP and reduced per layer and over layers as ``evaluate_scores`` + ``verify_scores`` do;
3. our side: :func:`archrank.eznas.extract_stats` (``init="none"`` on the same weights) and EZNAS-A.

Reported: per statistic (22) the largest relative element difference and the Spearman ρ over networks of the
per-network mean over layers of ‖statistic‖_F; per-layer and final EZNAS-A agreement; ρ of both vs CIFAR-10 test and
validation accuracy. ``--protocol`` adds our scores under the authors' *data* protocol (a fresh augmented,
shuffled CIFAR-10 batch per network, normalised with their std) to measure what that protocol changes.

Resumable: rows are appended to ``--csv`` as they come and finished architectures are skipped; ``--redo N``
scores the first N cells again (rows made by an earlier version). Example::

    nice -n 10 .venv/bin/python benchmarks/eznas_vs_authors.py --ref /tmp/ref_eznas/EZNAS --n 100
"""

from __future__ import annotations

import argparse
import copy
import csv
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats
from torch import nn

from archrank.bench.tables import load_nb201_cifar10
from archrank.data import load_batch
from archrank.eznas import EZNAS_A, Program, StatsBatch, evaluate
from archrank.eznas.stats import StatsConfig, extract_stats, input_noise_seed, reference_init
from archrank.eznas.tasks import evaluation_sample
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

AUTHORS_MEAN = (0.4914, 0.4822, 0.4465)
AUTHORS_STD = (0.2023, 0.1994, 0.2010)  # dataset_utils.get_train_loader
OUR_STD = (0.2470, 0.2435, 0.2616)


class FeaturesAndLogits(nn.Module):
    """Our NB201 network seen as xautodl's TinyNetwork: ``forward`` returns (pooled features, logits)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.net
        out = n.stem(x)
        for stage in n.stages:
            out = stage(out)
        feats = n.global_pooling(n.lastact(out)).flatten(1)
        return feats, n.classifier(feats)


def run_authors(ref: AuthorsEznasA, net: nn.Module, x: torch.Tensor, noise_seed: int):
    """Their NB201 path on ``net`` (their code, our weights): ``create_layer_sequence(…, "NASBench201")`` on the
    (features, logits) view, their three passes; (block names, per-layer statistics, per-layer EZNAS-A)."""
    model = FeaturesAndLogits(net)
    model.train()
    flat = ref.ev.create_layer_sequence(model, "NASBench201")
    names = {m: n for n, m in model.named_modules()}
    layer_names = [names[flat[3 * i]].removeprefix("net.") for i in range(len(flat) // 3)]
    layers = ref.statistics(model, flat, x, noise_seed)
    return layer_names, layers, ref.layer_values(layers)


def authors_batch(pool: np.ndarray, batch_size: int, rng: np.random.Generator, std: tuple[float, ...]) -> torch.Tensor:
    """A shuffled batch with the authors' augmentation (RandomCrop(32, padding=4), horizontal flip), normalised."""
    idx = rng.choice(len(pool), size=batch_size, replace=False)
    imgs = np.pad(pool[idx], ((0, 0), (0, 0), (4, 4), (4, 4)))
    out = np.empty((batch_size, 3, 32, 32), dtype=np.float32)
    for k in range(batch_size):
        i, j = rng.integers(0, 9, size=2)
        img = imgs[k, :, i : i + 32, j : j + 32]
        out[k] = img[:, :, ::-1] if rng.random() < 0.5 else img
    mean = np.asarray(AUTHORS_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    return torch.from_numpy((out - mean) / np.asarray(std, dtype=np.float32).reshape(1, 3, 1, 1))


FIELDS = [
    "arch",
    "test_acc",
    "valid_acc",
    "n_layers_ours",
    "n_layers_ref",
    "same_layers",
    "ref_layers_without_hooks",
    "ours",
    "authors",
    "layer_value_maxdiff",
    "input_grad_sign_agree",
    "ours_logdet_f32",
    "ours_logdet_rank",
    "protocol_fixed_authors_std",
    "protocol_authors",
    *[f"norm_{t}_ours" for t in TERMS],
    *[f"norm_{t}_ref" for t in TERMS],
    *[f"rel_{t}" for t in TERMS],
]


def score_one(arch, space, ref: AuthorsEznasA | None, x: torch.Tensor, seed: int, extra: dict[str, torch.Tensor]):
    program = Program.parse(EZNAS_A)
    net = space.build(arch, num_classes=10)
    reference_init(net, seed)
    terminals = None if ref is not None else program.terminals  # without the reference: EZNAS-A's input only
    ours = extract_stats(net, x, seed=seed, config=StatsConfig(init="none"), terminals=terminals)
    row: dict[str, object] = {"n_layers_ours": len(ours.layers)}
    row["ours"] = float(evaluate(program, StatsBatch([ours], terminals))[0])
    for name, fn in LOGDET_VARIANTS.items():
        row[name] = float(np.mean([eznas_a_with(fn, lay["input_grad_data"]) for lay in ours.layers]))
    ours_layer_vals = [
        float(evaluate(program, StatsBatch([type(ours)([lay], ["x"])], terminals))[0]) for lay in ours.layers
    ]
    for t in TERMS if ref is not None else ():
        row[f"norm_{t}_ours"] = float(np.mean([float(lay[t].norm()) for lay in ours.layers]))
    if ref is not None:
        names, layers, values = run_authors(ref, copy.deepcopy(net), x, input_noise_seed(seed))
        row["n_layers_ref"] = len(layers)
        row["same_layers"] = int(names == ours.layer_names)
        row["authors"] = float(np.mean(values)) if values else math.nan
        if names == ours.layer_names:
            row["layer_value_maxdiff"] = max(abs(a - b) for a, b in zip(values, ours_layer_vals, strict=True))
            pairs = [(lay, o) for lay, o in zip(layers, ours.layers, strict=True) if lay]
            row["ref_layers_without_hooks"] = len(layers) - len(pairs)
            agree = [
                float((torch.sign(lay["inpactgraddata"]) == torch.sign(o["input_grad_data"])).float().mean())
                for lay, o in pairs
            ]
            row["input_grad_sign_agree"] = float(np.min(agree))
            for t in TERMS:
                rk = OURS_TO_REF[t]
                row[f"norm_{t}_ref"] = float(np.mean([float(lay[rk].norm()) for lay, _ in pairs]))
                row[f"norm_{t}_ours"] = float(np.mean([float(o[t].norm()) for _, o in pairs]))
                row[f"rel_{t}"] = max(rel_diff(lay[rk], o[t]) for lay, o in pairs)
    for name, xb in extra.items():
        st = extract_stats(net, xb, seed=seed, config=StatsConfig(init="none"), terminals=program.terminals)
        row[name] = float(evaluate(program, StatsBatch([st], program.terminals))[0])
    return row


def _logdet_float32(m: torch.Tensor) -> torch.Tensor:
    """The reference's OP20 on float32 (NaN for a negative determinant -> 0)."""
    return torch.nan_to_num(torch.logdet(m.float()), nan=0.0, posinf=math.inf, neginf=-math.inf)


def _logdet_rank_aware(m: torch.Tensor) -> torch.Tensor:
    """OP20 with singular sign matrices treated as singular (-inf) whatever the rounding: a sign matrix has integer
    entries, so its determinant is an integer and |det| < 1/2 means det = 0."""
    sign, logabs = torch.linalg.slogdet(m.double())
    out = torch.where(sign > 0, logabs, torch.zeros_like(logabs))
    return torch.where(logabs < math.log(0.5), torch.full_like(out, -math.inf), out)


LOGDET_VARIANTS = {"ours_logdet_f32": _logdet_float32, "ours_logdet_rank": _logdet_rank_aware}


def eznas_a_with(logdet, g: torch.Tensor) -> float:
    """frobenius_norm(sigmoid(logdet(sign(g)))) of one layer with a given log-determinant."""
    return float(torch.sigmoid(logdet(torch.sign(g))).norm())


def spearman(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    return float(stats.spearmanr(a[ok], b[ok]).statistic) if ok.sum() > 2 else math.nan


def spearman_se(a, b, n_boot: int = 1000, seed: int = 0) -> float:
    """Bootstrap standard error of :func:`spearman` (cells resampled with replacement, seeded)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    if len(a) < 4:
        return math.nan
    rng = np.random.default_rng(seed)
    draws = [spearman(a[i], b[i]) for i in (rng.integers(0, len(a), len(a)) for _ in range(n_boot))]
    return float(np.nanstd(draws, ddof=1))


def report(rows: list[dict[str, str]], args: argparse.Namespace, program_text: str) -> str:
    def col(name: str) -> np.ndarray:
        return np.array([float(r[name]) if r.get(name) not in (None, "", "nan") else math.nan for r in rows])

    n = len(rows)
    lines = [
        f"Cells: {n} of `evaluation_sample(nb201, {args.n}, seed={args.seed})`; CIFAR-10 batch of "
        f"{args.batch_size} (`load_batch(seed={args.seed})`), same weights (`reference_init(seed={args.seed})`), "
        "same noise and perturbation draws.",
        "",
        f'Authors\' program as compiled from their `get_individual("darts")`: `{program_text}`',
        "",
        f"The authors' code ran on the first {int(np.isfinite(col('authors')).sum())} cells (intermediates below); "
        "the rank table covers every cell.",
        "",
        f"Layers: identical hooked ReLU-Conv-BN blocks (names and order) on {int(np.nansum(col('same_layers')))}"
        f"/{int(np.isfinite(col('authors')).sum())} networks; block counts ours {int(np.nanmin(col('n_layers_ours')))}–"
        f"{int(np.nanmax(col('n_layers_ours')))}. Blocks whose output reaches the network output only through `none` "
        "edges are outside our graph (our NB201 drops `none` edges; xautodl multiplies by 0), so the reference's "
        f"hooks do not fire there ({int(np.nansum(col('ref_layers_without_hooks')))} blocks in all): its "
        "`evaluate_scores` scores such a layer 0, which is also our value (zero gradient, singular sign matrix); "
        "the statistics below are compared on the other blocks.",
        "",
        "| intermediate | Spearman ρ authors vs ours (per-network mean over layers of ‖·‖_F) | max relative "
        "element difference over all layers and networks |",
        "|---|---:|---:|",
    ]
    for t in TERMS:
        lines.append(
            f"| `{t}` (`{OURS_TO_REF[t]}`) | {spearman(col(f'norm_{t}_ours'), col(f'norm_{t}_ref')):.4f} "
            f"| {np.nanmax(col(f'rel_{t}')):.2e} |"
        )
    lines += [
        "",
        f"Sign of `input_grad_data` (the statistic EZNAS-A reads): smallest per-layer fraction of equal signs "
        f"{np.nanmin(col('input_grad_sign_agree')):.6f}; largest per-layer |EZNAS-A value difference| "
        f"{np.nanmax(col('layer_value_maxdiff')):.3g}.",
        "",
        "| score | cells | Spearman ρ vs authors' score | ρ vs CIFAR-10 test acc (± SE) | ρ vs validation acc (± SE) |",
        "|---|---:|---:|---:|---:|",
    ]
    if args.before and Path(args.before).is_file():  # EZNAS-A as stored before issue 17 (statistics version 1)
        with Path(args.before).open() as f:
            before = {r["arch"]: r["eznas"] for r in csv.DictReader(f)}
        for r in rows:
            r["before"] = before.get(r["arch"], "")
    test, valid, auth = col("test_acc"), col("valid_acc"), col("authors")
    for name, label in (
        ("before", "ours before issue 17 (statistics version 1, `--before` file)"),
        ("authors", "authors' code, same batch/weights/noise"),
        ("ours", "ours (`eznas` as run: the version of archrank that scored each cell)"),
        ("ours_logdet_f32", "ours, the reference's OP20 (float32 `torch.logdet`, NaN -> 0) (= `eznas` v4)"),
        ("ours_logdet_rank", "ours, rank-deficient sign matrices treated as singular"),
        ("protocol_fixed_authors_std", "ours, same batch normalised with the authors' std"),
        ("protocol_authors", "ours, authors' data protocol (fresh augmented batch per network)"),
    ):
        v = col(name)
        if np.isfinite(v).sum() > 2:
            lines.append(
                f"| {label} | {int(np.isfinite(v).sum())} | {spearman(v, auth):.4f} "
                f"| {spearman(v, test):.4f} ± {spearman_se(v, test):.4f} "
                f"| {spearman(v, valid):.4f} ± {spearman_se(v, valid):.4f} |"
            )
    lines += ["", "SE: bootstrap standard error of ρ (1000 resamples of the cells, seed 0)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", required=True, help="folder of the authors' EZNAS code (holding evol_utilities.py)")
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--csv", default="/tmp/eznas_vs_authors.csv")
    parser.add_argument(
        "--authors-cells",
        type=int,
        default=10**9,
        help="run the authors' code on the first N cells only; later cells get our scores and the protocol "
        "columns (the authors' value equals `ours_logdet_f32` wherever both ran)",
    )
    parser.add_argument("--no-authors", action="store_true", help="only our scores (protocol columns), no reference")
    parser.add_argument(
        "--redo",
        type=int,
        default=0,
        help="recompute the first N cells of the sample (rows made by an earlier version of archrank or of this "
        "script are dropped from --csv and scored again, the authors' code included where --authors-cells says)",
    )
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument(
        "--before",
        default="docs/results/eznas/shipped_scores.csv",
        help="CSV with an `eznas` column per `arch` computed before issue 17, shown for comparison",
    )
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    ref_dir = Path(args.ref)
    ref = None
    if not args.no_authors:
        if not reference_available(ref_dir):
            print(missing_reference_message(ref_dir))
            return
        ref = AuthorsEznasA(load_reference(ref_dir))
    space = get_space("nb201")
    table = load_nb201_cifar10(space)
    archs = evaluation_sample(space, args.n, args.seed)
    path = Path(args.csv)
    done: dict[str, dict[str, str]] = {}
    if path.exists():
        with path.open() as f:
            done = {r["arch"]: r for r in csv.DictReader(f)}
    if args.redo and not args.report_only and done:
        redo = {space.key(a) for a in archs[: args.redo]}
        kept = [r for k, r in done.items() if k not in redo]
        with path.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            writer.writeheader()
            writer.writerows(kept)
        done = {r["arch"]: r for r in kept}
    if not args.report_only:
        batch = load_batch("cifar10", None, batch_size=args.batch_size, seed=args.seed)
        raw = load_batch("cifar10", None, batch_size=5000, seed=args.seed, normalize=False).x.numpy()
        fixed_authors_std = batch.x * (torch.tensor(OUR_STD) / torch.tensor(AUTHORS_STD)).view(1, 3, 1, 1)
        new = not path.exists()
        with path.open("a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                writer.writeheader()
            t0 = time.perf_counter()
            position = {space.key(a): i for i, a in enumerate(archs)}
            todo = [a for a in archs if space.key(a) not in done]
            for i, arch in enumerate(todo):
                key = space.key(arch)
                rng = np.random.default_rng([args.seed, space.index(arch)])
                extra = {
                    "protocol_fixed_authors_std": fixed_authors_std,
                    "protocol_authors": authors_batch(raw, args.batch_size, rng, AUTHORS_STD),
                }
                with_ref = ref if position[key] < args.authors_cells else None
                row = score_one(arch, space, with_ref, batch.x, args.seed, extra)
                row.update(
                    arch=key, test_acc=table.loc[key, "cifar10_test_acc"], valid_acc=table.loc[key, "cifar10_valid_acc"]
                )
                out = {k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()}
                writer.writerow(out)
                f.flush()
                done[key] = {k: str(v) for k, v in out.items()}
                if (i + 1) % 10 == 0:
                    rate = (time.perf_counter() - t0) / (i + 1)
                    print(f"{len(done)}/{len(archs)} done, {rate:.2f} s/arch", flush=True)
    rows = [done[space.key(a)] for a in archs if space.key(a) in done]
    print(report(rows, args, ref.text if ref else "(not run)"))


if __name__ == "__main__":
    main()
