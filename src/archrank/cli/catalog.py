"""What is registered and what an architecture is: ``archrank spaces``, ``archrank proxies``, ``archrank describe``."""

from __future__ import annotations

from typing import Any

import click

from archrank.cli.options import fail, resolve_space
from archrank.spaces import get_space, list_spaces


@click.command("spaces")
def spaces_cmd() -> None:
    """List the registered search spaces, their sizes and their ground truth (present or missing)."""
    from archrank.bench.truth_spaces import source_status

    for name in list_spaces():
        space = get_space(name)
        size = "open-ended" if space.size is None else f"{space.size} architectures"
        sources = space.truth_sources()
        truth = ", ".join(f"{s.name} ({source_status(s)})" for s in sources[:3])
        more = f" +{len(sources) - 3} more" if len(sources) > 3 else ""
        click.echo(f"{name}\t{size}\tground truth: {truth + more if sources else 'none'}")


@click.command("proxies")
@click.argument("pattern", default="*")
def proxies_cmd(pattern: str) -> None:
    """List registered proxies (optionally filtered by a wildcard PATTERN) with their orientation."""
    from archrank import proxies as proxy_engine

    names = proxy_engine.list_proxies(pattern)
    if not names:
        raise fail(f"no proxy matches {pattern!r}; `archrank proxies` lists them all")
    for name in names:
        info = proxy_engine.get_proxy_info(name)
        flags = "negated" if info.negated else "raw"
        click.echo(f"{name:18s} higher-is-better ({flags}){'  data' if info.needs_data else ''}")


@click.command("describe")
@click.argument("arch")
@click.option("--space", "space_name", default="nb201", show_default=True)
def describe_cmd(arch: str, space_name: str) -> None:
    """Describe ARCH (any reference the space accepts: its string, a benchmark index or key, a NASLib code):
    names, keys, params and FLOPs at the space's defaults, and the benchmark accuracy when its file is present."""
    from archrank.bench.truth_spaces import available_sources, load_space_truth
    from archrank.proxies.cost import count_flops, count_params

    space = resolve_space(space_name)
    try:
        a = space.parse(arch)
    except ValueError as exc:
        raise fail(str(exc)) from None
    model = space.build(a)
    rows: list[tuple[str, Any]] = list(space.describe(a))
    rows.append(("input (C, H, W) / classes", f"{space.input_shape} / {space.num_classes}"))
    rows.append(("params (M)", f"{count_params(model) / 1e6:.6f}"))
    rows.append(("FLOPs (M, NASLib convention)", f"{count_flops(model, space.input_shape) / 1e6:.6f}"))
    present = available_sources(space)
    if present:
        truth = load_space_truth(space, present[0].name)
        key = space.key(a)
        value = truth.values.get(key)
        if value is None:  # another way of writing the same architecture (e.g. an isomorphic NB101 cell)
            same = [k for k in truth.values.index if space.canonical(space.from_key(k)) == space.canonical(a)]
            value = truth.values[same[0]] if same else None
        shown = "not in the file" if value is None else f"{value:.4f}"
        rows.append((f"{truth.label}", f"{shown}  [{truth.source}]"))
    for label, value in rows:
        click.echo(f"{label:30s} {value}")
