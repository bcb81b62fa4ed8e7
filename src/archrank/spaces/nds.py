"""The NDS search spaces (Radosavovic et al., "On Network Design Spaces for Visual Recognition", ICCV 2019).

Nine registered spaces, all at NDS's ImageNet configuration (224x224 inputs, 1000 classes):

- cell spaces ``nds-darts``, ``nds-enas``, ``nds-pnas``, ``nds-nasnet``, ``nds-amoeba``: a DARTS-style
  genotype (a normal and a reduction cell of 4 or 5 nodes, two ``(op, input)`` pairs per node) plus the
  network ``width`` and ``depth`` (:mod:`archrank.spaces.nds_cells`);
- stage spaces ``nds-resnet``, ``nds-resnext-a``, ``nds-resnext-b``, ``nds-vanilla``: per-stage depths,
  widths and (ResNeXt) bottleneck multipliers and group counts (:mod:`archrank.spaces.nds_anynet`).

An architecture is written as its NDS record's ``net`` dict: ``space.parse`` takes that dict, a whole record
(with a ``net`` key), the JSON text of either, ``FILE:INDEX`` (record INDEX of an NDS JSON file, FILE as given,
or under the data root or its ``nds/`` folder), or an architecture. ``to_str`` is the canonical JSON of the
``net`` dict (sorted keys, no spaces), so any record's ``net`` round-trips. Decisions, option ranges and the
files each space reads are documented in ``docs/results/spaces/nds.md``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch import nn

from archrank import config
from archrank.spaces.base import SearchSpace, TruthSource
from archrank.spaces.nds_anynet import NDSStageNetwork
from archrank.spaces.nds_cells import OPS, NDSCellNetwork

IMAGENET_SHAPE = (3, 224, 224)
IMAGENET_CLASSES = 1000
NDS_DIR = "nds"
ENUMERATION_LIMIT = 10**8  # larger spaces refuse enumeration (it would never end); sample or list records

Pair = tuple[str, int]
_FILE_REF = re.compile(r"^(?P<file>[^{\[].*):(?P<index>-?\d+)$")


def load_nds_records(path: str | Path) -> list[dict[str, Any]]:
    """The records of one NDS JSON file (a list, or NDS's ``{"top": [...], "mid": [...]}`` form)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON (truncated?): {exc}") from exc
    if isinstance(data, dict) and {"top", "mid"} <= set(data):
        data = [*data["top"], *data["mid"]]
    if not isinstance(data, list) or not all(isinstance(r, dict) and "net" in r for r in data):
        raise ValueError(f"{path}: expected a list of NDS records, each with a 'net' object")
    return data


def _record_from_file(file: str, index: int) -> dict[str, Any]:
    """Record ``index`` of an NDS file given as is, or relative to the data root or its ``nds/`` folder."""
    root = config.data_root()
    candidates = [Path(file)] + ([root / file, root / NDS_DIR / file] if root is not None else [])
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise ValueError(f"NDS record file {file!r} not found (as given, or under $ARCHRANK_DATA[/nds])")
    records = load_nds_records(path)
    if not -len(records) <= index < len(records):
        raise ValueError(f"{path} has {len(records)} records; index {index} is out of range")
    return records[index]


def _net_of(ref: Any, family: str) -> dict[str, Any]:
    """The ``net`` dict of a record, a ``net`` dict, the JSON text of either or ``FILE:INDEX``; one clear
    error otherwise."""
    if isinstance(ref, str) and (match := _FILE_REF.match(ref.strip())) is not None:
        ref = _record_from_file(match["file"], int(match["index"]))
    if isinstance(ref, str):
        try:
            ref = json.loads(ref)
        except json.JSONDecodeError as exc:
            raise ValueError(f"malformed NDS {family} architecture: not JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(ref, dict):
        raise ValueError(f"NDS {family} architecture must be a record, its 'net' dict or JSON; "
                         f"got {type(ref).__name__}")
    net = ref.get("net", ref)
    if not isinstance(net, dict):
        raise ValueError(f"NDS {family} record's 'net' must be an object, got {type(net).__name__}")
    return net


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or int(value) != value:
        raise ValueError(f"{what} must be an integer, got {value!r}")
    return int(value)


def _choice(options: Sequence[Any], value: Any, what: str) -> int:
    """Index of ``value`` among ``options``; ``ValueError`` naming the options otherwise."""
    for i, option in enumerate(options):
        if option == value:
            return i
    raise ValueError(f"{what} {value!r} is not in this space (options: {', '.join(map(str, options))})")


def _refuse_huge_enumeration(space: SearchSpace) -> None:
    """Refuse to enumerate a space beyond :data:`ENUMERATION_LIMIT` with one clear line."""
    size = space.size
    if size is not None and size > ENUMERATION_LIMIT:
        raise ValueError(f"{space.name} cannot be enumerated ({size:.2g} architectures): sample it or list the "
                         "records of its NDS files")


def _require_type(arch: Any, kind: type) -> Any:
    if not isinstance(arch, kind):
        raise TypeError(f"expected an {kind.__name__}, got {type(arch).__name__}: use space.parse() first")
    return arch


# --- cell spaces ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellFamily:
    """One NDS cell design space: its op set, nodes per cell, concat rule, widths, depths and files."""

    name: str
    ops: tuple[str, ...]
    nodes: int
    concat_loose_ends: bool  # True: concat the nodes no op reads (ENAS, NASNet, Amoeba); False: all nodes
    files: tuple[tuple[str, ...], ...]  # the first is the family's own ground truth when it holds accuracy
    widths: tuple[int, ...] = (32, 48, 64, 80, 96)
    depths: tuple[int, ...] = (6, 10, 14, 18, 22)

    def concat(self, pairs: Sequence[Pair]) -> tuple[int, ...]:
        """The nodes a cell concatenates as its output, by the family's rule."""
        if not self.concat_loose_ends:
            return tuple(range(2, self.nodes + 2))
        used = {index for _, index in pairs}
        return tuple(node for node in range(2, self.nodes + 2) if node not in used)


@dataclass(frozen=True, order=True)
class NDSCellArch:
    """An NDS cell-space architecture: the genotype's two cells, width, depth (and the training-only flags)."""

    normal: tuple[Pair, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Pair, ...]
    reduce_concat: tuple[int, ...]
    width: int
    depth: int
    aux: bool = False
    drop_prob: float = 0.0

    def to_net(self) -> dict[str, Any]:
        """The NDS record's ``net`` dict."""
        return {
            "aux": self.aux,
            "depth": self.depth,
            "drop_prob": self.drop_prob,
            "genotype": {
                "normal": [list(p) for p in self.normal],
                "normal_concat": list(self.normal_concat),
                "reduce": [list(p) for p in self.reduce],
                "reduce_concat": list(self.reduce_concat),
            },
            "width": self.width,
        }


def _pairs(value: Any, family: CellFamily, which: str) -> tuple[Pair, ...]:
    count = 2 * family.nodes
    if not isinstance(value, list | tuple) or len(value) != count:
        raise ValueError(f"NDS {family.name} {which} cell needs {count} [op, input] pairs, got {value!r}")
    pairs: list[Pair] = []
    for slot, pair in enumerate(value):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"NDS {family.name} {which} cell: pair {slot} must be [op, input], got {pair!r}")
        op, index = pair[0], _int(pair[1], f"NDS {family.name} {which} cell pair {slot} input")
        if op not in family.ops:
            raise ValueError(f"NDS {family.name} {which} cell: unknown op {op!r} (ops: {', '.join(family.ops)})")
        node = slot // 2 + 2
        if not 0 <= index < node:
            raise ValueError(f"NDS {family.name} {which} cell: node {node} cannot read state {index} (0..{node - 1})")
        pairs.append((str(op), index))
    return tuple(pairs)


class NDSCellSpace(SearchSpace):
    """An NDS cell design space. Decisions: per cell (normal, then reduce) and per pair, the op and the input
    state; then the width and the depth. The concat lists follow from the genotype (the family's rule)."""

    input_shape = IMAGENET_SHAPE
    num_classes = IMAGENET_CLASSES
    #: how the NDS records count FLOPs for this kind of network (:mod:`archrank.spaces.nds_flops`)
    flop_convention = "nds-cell"

    def __init__(self, name: str, family: CellFamily) -> None:
        self.name = name
        self.family = family

    # decisions
    def _cell_decisions(self) -> tuple[int, ...]:
        sizes: list[int] = []
        for node in range(2, self.family.nodes + 2):
            sizes.extend((len(self.family.ops), node) * 2)
        return tuple(sizes)

    def decisions(self) -> tuple[int, ...]:
        cell = self._cell_decisions()
        return (*cell, *cell, len(self.family.widths), len(self.family.depths))

    def _cell_from(self, choices: Sequence[int]) -> tuple[Pair, ...]:
        return tuple((self.family.ops[int(choices[2 * k])], int(choices[2 * k + 1])) for k in range(len(choices) // 2))

    def from_decisions(self, choices: Sequence[int]) -> NDSCellArch:
        sizes = self.decisions()
        if len(choices) != len(sizes) or any(not 0 <= int(c) < n for c, n in zip(choices, sizes, strict=True)):
            raise ValueError(f"{self.name} needs {len(sizes)} decisions within {sizes}, got {tuple(choices)}")
        half = len(self._cell_decisions())
        normal, reduce = self._cell_from(choices[:half]), self._cell_from(choices[half : 2 * half])
        return NDSCellArch(
            normal, self.family.concat(normal), reduce, self.family.concat(reduce),
            self.family.widths[int(choices[-2])], self.family.depths[int(choices[-1])],
        )

    def to_decisions(self, arch: NDSCellArch) -> tuple[int, ...]:
        arch = self._check(arch)
        out: list[int] = []
        for cell in (arch.normal, arch.reduce):
            for op, index in cell:
                out.extend((_choice(self.family.ops, op, f"{self.name} op"), index))
        out.append(_choice(self.family.widths, arch.width, f"{self.name} width"))
        out.append(_choice(self.family.depths, arch.depth, f"{self.name} depth"))
        return tuple(out)

    def neighbours(self, arch: NDSCellArch) -> list[NDSCellArch]:
        """Single-decision edits; the training-only flags (``aux``, ``drop_prob``) are carried over."""
        arch = self._check(arch)
        return [replace(n, aux=arch.aux, drop_prob=arch.drop_prob) for n in super().neighbours(arch)]

    def enumerate(self) -> Iterator[NDSCellArch]:
        _refuse_huge_enumeration(self)
        return super().enumerate()

    # naming
    def parse(self, ref: Any) -> NDSCellArch:
        """An architecture from an :class:`NDSCellArch`, an NDS record, its ``net`` dict, or their JSON text."""
        if isinstance(ref, NDSCellArch):
            return self._check(ref)
        return self.from_net(_net_of(ref, self.family.name))

    def from_net(self, net: dict[str, Any]) -> NDSCellArch:
        """Validate a cell record's ``net`` dict (ops, inputs, concat rule, width and depth options)."""
        family = self.family
        genotype = net.get("genotype")
        if not isinstance(genotype, dict):
            raise ValueError(f"NDS {family.name} net needs a 'genotype' object (is this a stage-space record?)")
        missing = [k for k in ("width", "depth") if k not in net]
        if missing:
            raise ValueError(f"NDS {family.name} net lacks {', '.join(missing)}")
        cells: dict[str, tuple[Pair, ...]] = {}
        for which in ("normal", "reduce"):
            cells[which] = _pairs(genotype.get(which), family, which)
            concat = genotype.get(f"{which}_concat")
            expected = family.concat(cells[which])
            if concat is not None and tuple(_int(c, f"{which}_concat entry") for c in concat) != expected:
                rule = "the nodes no op reads" if family.concat_loose_ends else "every node"
                raise ValueError(f"NDS {family.name} {which}_concat {list(concat)} breaks the family's rule "
                                 f"({rule}: {list(expected)})")
        width, depth = _int(net["width"], "width"), _int(net["depth"], "depth")
        _choice(family.widths, width, f"{self.name} width")
        _choice(family.depths, depth, f"{self.name} depth")
        drop_prob = float(net.get("drop_prob", 0.0))
        if not 0.0 <= drop_prob < 1.0:
            raise ValueError(f"NDS drop_prob must be in [0, 1), got {drop_prob}")
        return NDSCellArch(
            cells["normal"], family.concat(cells["normal"]), cells["reduce"], family.concat(cells["reduce"]),
            width, depth, bool(net.get("aux", False)), drop_prob,
        )

    def to_str(self, arch: NDSCellArch) -> str:
        return json.dumps(self._check(arch).to_net(), sort_keys=True, separators=(",", ":"))

    def from_str(self, text: str) -> NDSCellArch:
        return self.parse(text)

    def canonical(self, arch: NDSCellArch) -> str:
        """The string of the architecture with each node's two (commutative) pairs sorted."""
        arch = self._check(arch)

        def sort_nodes(cell: tuple[Pair, ...]) -> tuple[Pair, ...]:
            return tuple(p for k in range(0, len(cell), 2) for p in sorted(cell[k : k + 2]))

        return self.to_str(replace(arch, normal=sort_nodes(arch.normal), reduce=sort_nodes(arch.reduce)))

    def describe(self, arch: NDSCellArch) -> list[tuple[str, Any]]:
        arch = self._check(arch)
        return [("string", self.to_str(arch)), ("width", arch.width), ("depth", arch.depth)]

    # model
    def build(self, arch: NDSCellArch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """The NDS ImageNet cell network. Keyword options: ``width`` / ``depth`` override the architecture's
        (cheap probes and tests), ``in_channels`` (3). Any input size works (224 is the benchmark's)."""
        arch = self._check(arch)
        unknown = set(kwargs) - {"width", "depth", "in_channels"}
        if unknown:
            raise ValueError(f"{self.name}.build: unknown option(s) {', '.join(sorted(unknown))}")
        return NDSCellNetwork(
            (arch.normal, arch.normal_concat), (arch.reduce, arch.reduce_concat),
            width=int(kwargs.get("width", arch.width)), depth=int(kwargs.get("depth", arch.depth)),
            num_classes=self.num_classes if num_classes is None else num_classes,
            aux=arch.aux, drop_prob=arch.drop_prob, in_channels=int(kwargs.get("in_channels", 3)),
        )

    def truth_sources(self) -> tuple[TruthSource, ...]:
        return _truth_sources(self.family.name, self.family.files)

    @staticmethod
    def _check(arch: Any) -> NDSCellArch:
        return _require_type(arch, NDSCellArch)


# --- stage spaces -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StageFamily:
    """One NDS stage design space: block type, stem, per-stage option lists and files."""

    name: str
    block_type: str
    stem_stride: int
    stem_widths: tuple[int, ...]
    strides: tuple[int, ...]  # per stage (after the stem)
    depths: tuple[int, ...]
    widths: tuple[int, ...]
    files: tuple[tuple[str, ...], ...]  # the first is the family's own ground truth when it holds accuracy
    bot_muls: tuple[float, ...] = ()  # empty: no bottleneck (basic / plain blocks)
    groups: tuple[int, ...] = ()

    @property
    def bottleneck(self) -> bool:
        return bool(self.bot_muls)


@dataclass(frozen=True, order=True)
class NDSStageArch:
    """An NDS stage-space architecture: the record's lists, stem first (``ds[0] == 1``)."""

    block_type: str
    ds: tuple[int, ...]
    ws: tuple[int, ...]
    ss: tuple[int, ...]
    bot_muls: tuple[float, ...] = ()
    num_gs: tuple[int, ...] = ()

    def to_net(self) -> dict[str, Any]:
        return {
            "block_type": self.block_type,
            "bot_muls": list(self.bot_muls),
            "ds": list(self.ds),
            "num_gs": list(self.num_gs),
            "ss": list(self.ss),
            "ws": list(self.ws),
        }


class NDSStageSpace(SearchSpace):
    """An NDS stage design space. Decisions: the stem width, then per stage its depth and width (and for
    ResNeXt its bottleneck multiplier and group count). Strides are fixed by the family."""

    input_shape = IMAGENET_SHAPE
    num_classes = IMAGENET_CLASSES
    #: how the NDS records count FLOPs for this kind of network (:mod:`archrank.spaces.nds_flops`)
    flop_convention = "nds-stage"

    def __init__(self, name: str, family: StageFamily) -> None:
        self.name = name
        self.family = family

    def _per_stage(self) -> list[tuple[str, tuple[Any, ...]]]:
        fam = self.family
        fields = [("ds", fam.depths), ("ws", fam.widths)]
        if fam.bottleneck:
            fields += [("bot_muls", fam.bot_muls), ("num_gs", fam.groups)]
        return fields

    def decisions(self) -> tuple[int, ...]:
        per_stage = tuple(len(options) for _, options in self._per_stage())
        return (len(self.family.stem_widths), *(per_stage * len(self.family.strides)))

    def from_decisions(self, choices: Sequence[int]) -> NDSStageArch:
        sizes = self.decisions()
        if len(choices) != len(sizes) or any(not 0 <= int(c) < n for c, n in zip(choices, sizes, strict=True)):
            raise ValueError(f"{self.name} needs {len(sizes)} decisions within {sizes}, got {tuple(choices)}")
        fam = self.family
        fields = self._per_stage()
        values: dict[str, list[Any]] = {name: [] for name, _ in fields}
        pos = 1
        for _ in fam.strides:
            for name, options in fields:
                values[name].append(options[int(choices[pos])])
                pos += 1
        return self._arch(fam.stem_widths[int(choices[0])], values)

    def _arch(self, stem_width: int, values: dict[str, list[Any]]) -> NDSStageArch:
        fam = self.family
        return NDSStageArch(
            fam.block_type,
            (1, *values["ds"]),
            (stem_width, *values["ws"]),
            (fam.stem_stride, *fam.strides),
            (1.0, *values["bot_muls"]) if fam.bottleneck else (),
            (1, *values["num_gs"]) if fam.bottleneck else (),
        )

    def to_decisions(self, arch: NDSStageArch) -> tuple[int, ...]:
        arch = self._check(arch)
        out = [_choice(self.family.stem_widths, arch.ws[0], f"{self.name} stem width")]
        for stage in range(1, len(arch.ds)):
            for name, options in self._per_stage():
                out.append(_choice(options, getattr(arch, name)[stage], f"{self.name} stage {stage} {name}"))
        return tuple(out)

    def enumerate(self) -> Iterator[NDSStageArch]:
        _refuse_huge_enumeration(self)
        return super().enumerate()

    # naming
    def parse(self, ref: Any) -> NDSStageArch:
        """An architecture from an :class:`NDSStageArch`, an NDS record, its ``net`` dict, or their JSON text."""
        if isinstance(ref, NDSStageArch):
            return self._check(ref)
        return self.from_net(_net_of(ref, self.family.name))

    def from_net(self, net: dict[str, Any]) -> NDSStageArch:
        """Validate a stage record's ``net`` dict against the family (block type, strides, options, groups)."""
        fam = self.family
        if "genotype" in net:
            raise ValueError(f"NDS {fam.name} expects a stage record (ds, ws, ...), got a cell genotype")
        if net.get("block_type") != fam.block_type:
            raise ValueError(f"NDS {fam.name} block_type must be {fam.block_type!r}, got {net.get('block_type')!r}")
        stages = len(fam.strides)
        lists: dict[str, list[Any]] = {}
        for name in ("ds", "ws", "ss", "bot_muls", "num_gs"):
            value = net.get(name, [])
            if not isinstance(value, list | tuple):
                raise ValueError(f"NDS {fam.name} {name} must be a list, got {value!r}")
            lists[name] = list(value)
        for name in ("ds", "ws", "ss") + (("bot_muls", "num_gs") if fam.bottleneck else ()):
            if len(lists[name]) != stages + 1:
                raise ValueError(f"NDS {fam.name} {name} needs {stages + 1} entries (stem + {stages} stages), "
                                 f"got {lists[name]}")
        if not fam.bottleneck and (lists["bot_muls"] or lists["num_gs"]):
            raise ValueError(f"NDS {fam.name} has no bottleneck: bot_muls and num_gs must be empty")
        ds = tuple(_int(v, "ds entry") for v in lists["ds"])
        ws = tuple(_int(v, "ws entry") for v in lists["ws"])
        ss = tuple(_int(v, "ss entry") for v in lists["ss"])
        if ds[0] != 1 or ss != (fam.stem_stride, *fam.strides):
            raise ValueError(f"NDS {fam.name} needs ds[0] = 1 and ss = {[fam.stem_stride, *fam.strides]}, "
                             f"got ds[0] = {ds[0]}, ss = {list(ss)}")
        bot_muls = tuple(float(v) for v in lists["bot_muls"])
        num_gs = tuple(_int(v, "num_gs entry") for v in lists["num_gs"])
        if fam.bottleneck and (bot_muls[0] != 1.0 or num_gs[0] != 1):
            raise ValueError(f"NDS {fam.name} stem entry needs bot_muls[0] = 1.0 and num_gs[0] = 1")
        arch = NDSStageArch(fam.block_type, ds, ws, ss, bot_muls, num_gs)
        self.to_decisions(arch)  # every value must be one of the family's options
        for stage in range(1, len(ds)) if fam.bottleneck else ():
            inner = round(ws[stage] * bot_muls[stage])
            if inner % num_gs[stage]:
                raise ValueError(f"NDS {fam.name} stage {stage}: bottleneck width {inner} is not divisible into "
                                 f"{num_gs[stage]} groups")
        return arch

    def to_str(self, arch: NDSStageArch) -> str:
        return json.dumps(self._check(arch).to_net(), sort_keys=True, separators=(",", ":"))

    def from_str(self, text: str) -> NDSStageArch:
        return self.parse(text)

    def canonical(self, arch: NDSStageArch) -> str:
        """The string itself: distinct stage lists are distinct networks."""
        return self.to_str(arch)

    def describe(self, arch: NDSStageArch) -> list[tuple[str, Any]]:
        arch = self._check(arch)
        return [("string", self.to_str(arch)), ("blocks", sum(arch.ds[1:]))]

    def build(self, arch: NDSStageArch, num_classes: int | None = None, **kwargs: Any) -> nn.Module:
        """The NDS ImageNet stage network. Keyword option ``in_channels`` (3). Any input size works."""
        arch = self._check(arch)
        unknown = set(kwargs) - {"in_channels"}
        if unknown:
            raise ValueError(f"{self.name}.build: unknown option(s) {', '.join(sorted(unknown))}")
        return NDSStageNetwork(
            arch.block_type, arch.ds, arch.ws, arch.ss, arch.bot_muls, arch.num_gs,
            num_classes=self.num_classes if num_classes is None else num_classes,
            in_channels=int(kwargs.get("in_channels", 3)),
        )

    def truth_sources(self) -> tuple[TruthSource, ...]:
        return _truth_sources(self.family.name, self.family.files)

    @staticmethod
    def _check(arch: Any) -> NDSStageArch:
        return _require_type(arch, NDSStageArch)


# --- families ---------------------------------------------------------------------------------------------


ACCURACY_FIELD = "test_ep_top1"


def _truth_sources(family: str, files: tuple[tuple[str, ...], ...]) -> tuple[TruthSource, ...]:
    """Every record file of a family is a ground truth once it holds accuracy (``test_ep_top1``): the family's own
    (``nds-<family>``) first, then its other training set-ups (``nds-darts-lr-wd``, ...). Files with accuracy live
    at the top of ``nds/``; the shared data keeps some families structure-only (``nds/structure_only/``), and a
    fuller copy of either place is found without a change here."""
    sources = []
    for position, parts in enumerate(files):
        stem = parts[-1].removesuffix("_in.json")
        name = f"nds-{family.lower()}" if position == 0 else f"nds-{stem.lower().replace('_', '-')}"
        setup = (" (per-record learning rate and weight decay: part of what the accuracy measures)"
                 if "lr-wd" in stem else "")
        epochs = "5 epochs, width and depth fixed" if "fix-w-d" in stem else "50 epochs"
        description = (f"NDS {stem} (ImageNet, {epochs}){setup}: top-1 accuracy = 100 - final test_ep_top1; "
                       "per-epoch errors in test_top1_ep<i>")
        top_level = (NDS_DIR, parts[-1])
        sources.append(TruthSource(name, top_level, "archrank.bench.truth_nds:read_nds", "accuracy", description,
                                   "ImageNet top-1 accuracy (%)", fallbacks=(parts,) if parts != top_level else (),
                                   marker=f'"{ACCURACY_FIELD}"'))
    return tuple(sources)


def _file(name: str, structure_only: bool = False) -> tuple[str, ...]:
    return (NDS_DIR, "structure_only", f"{name}_in.json") if structure_only else (NDS_DIR, f"{name}_in.json")


DARTS_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3", "sep_conv_5x5",
             "dil_conv_3x3", "dil_conv_5x5")
ENAS_OPS = ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "avg_pool_3x3", "max_pool_3x3")
PNAS_OPS = ("sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "conv_7x1_1x7", "skip_connect", "avg_pool_3x3",
            "max_pool_3x3", "dil_conv_3x3")
NASNET_OPS = ("skip_connect", "conv_3x1_1x3", "conv_7x1_1x7", "dil_conv_3x3", "avg_pool_3x3", "max_pool_3x3",
              "max_pool_5x5", "max_pool_7x7", "conv_1x1", "conv_3x3", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7")
AMOEBA_OPS = ("skip_connect", "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7", "avg_pool_3x3", "max_pool_3x3",
              "dil_sep_conv_3x3", "conv_7x1_1x7")

CELL_FAMILIES: dict[str, CellFamily] = {
    "nds-darts": CellFamily("DARTS", DARTS_OPS, 4, False,
                            (_file("DARTS"), _file("DARTS_lr-wd", True), _file("DARTS_fix-w-d", True))),
    "nds-enas": CellFamily("ENAS", ENAS_OPS, 5, True, (_file("ENAS"),)),
    "nds-pnas": CellFamily("PNAS", PNAS_OPS, 5, False, (_file("PNAS", True),)),
    "nds-nasnet": CellFamily("NASNet", NASNET_OPS, 5, True, (_file("NASNet", True),)),
    "nds-amoeba": CellFamily("Amoeba", AMOEBA_OPS, 5, True, (_file("Amoeba", True),)),
}

_RESNET_DEPTHS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24)
_RESNET_WIDTHS = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512)
STAGE_FAMILIES: dict[str, StageFamily] = {
    "nds-resnet": StageFamily("ResNet", "res_basic_block", 4, (16, 32, 64), (1, 2, 2, 2), _RESNET_DEPTHS,
                              _RESNET_WIDTHS, (_file("ResNet_lr-wd"),)),
    "nds-vanilla": StageFamily("Vanilla", "double_plain_block", 4, (16, 32, 64), (1, 2, 2, 2), _RESNET_DEPTHS,
                               _RESNET_WIDTHS, (_file("Vanilla_lr-wd"),)),
    "nds-resnext-a": StageFamily("ResNeXt-A", "res_bottleneck_block", 8, (64,), (1, 2, 2), (1, 2, 4, 8, 16),
                                 (16, 32, 64, 128, 256), (_file("ResNeXt-A"),),
                                 (0.25, 0.5, 1.0), (1, 2, 4)),
    "nds-resnext-b": StageFamily("ResNeXt-B", "res_bottleneck_block", 8, (64,), (1, 2, 2), (1, 2, 4, 8, 16),
                                 (64, 128, 256, 512, 1024), (_file("ResNeXt-B", True),),
                                 (0.25, 0.5, 1.0), (1, 2, 4, 8, 16)),
}

NDS_SPACES: tuple[str, ...] = (*CELL_FAMILIES, *STAGE_FAMILIES)
assert all(op in OPS for fam in CELL_FAMILIES.values() for op in fam.ops)


def nds_space(name: str) -> SearchSpace:
    """A new NDS space by registered name (``nds-darts``, ..., ``nds-vanilla``)."""
    if name in CELL_FAMILIES:
        return NDSCellSpace(name, CELL_FAMILIES[name])
    if name in STAGE_FAMILIES:
        return NDSStageSpace(name, STAGE_FAMILIES[name])
    raise ValueError(f"unknown NDS space {name!r}; known: {', '.join(NDS_SPACES)}")
