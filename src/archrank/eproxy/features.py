"""Multi-stage feature extraction for Eproxy from any ``nn.Module`` (always a private copy; see train.py).

Three ways, in order of preference:

1. ``nodes`` given: the outputs of those named modules (forward hooks), or, for names that are not modules, of
   those nodes of a ``torch.fx`` symbolic trace (``torch.fx`` node names, as ``create_feature_extractor`` uses; the
   traced graph is cut after the last requested node, so the classifier is not run).
2. The model has ``forward_features(x)`` returning a list of stage maps (all archrank spaces do).
3. Automatic: the last 4-D output produced at each spatial resolution during a forward pass (module hooks),
   largest resolution first, i.e. the end of each stage of a usual CNN, shallow to deep.

The returned extractor maps inputs to a list of 4-D tensors, shallow to deep, that stay in the autograd graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["FeatureExtractor", "make_extractor"]

FeatureExtractor = Callable[[torch.Tensor], list[torch.Tensor]]


def _as_list(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)) and all(isinstance(t, torch.Tensor) for t in out):
        return list(out)
    raise TypeError(f"features must be a tensor or a list of tensors, got {type(out).__name__}")


def _module_hooks(model: nn.Module, names: Sequence[str]) -> FeatureExtractor:
    modules = dict(model.named_modules())

    def extract(x: torch.Tensor) -> list[torch.Tensor]:
        found: dict[str, torch.Tensor] = {}
        handles = []
        for name in names:

            def hook(module: nn.Module, inputs: Any, output: Any, name: str = name) -> None:
                found[name] = _as_list(output)[0]

            handles.append(modules[name].register_forward_hook(hook))
        try:
            model(x)
        finally:
            for handle in handles:
                handle.remove()
        missing = [n for n in names if n not in found]
        if missing:
            raise RuntimeError(f"modules {missing} did not run in the forward pass")
        return [found[n] for n in names]

    return extract


def _fx_nodes(model: nn.Module, names: Sequence[str]) -> FeatureExtractor:
    try:
        traced = torch.fx.symbolic_trace(model)
    except Exception as exc:  # tracing fails on data-dependent control flow: tell the user what to do instead
        raise ValueError(
            f"feature nodes {list(names)} are not module names and torch.fx cannot trace the model "
            f"({type(exc).__name__}: {exc}); pass module names (forward hooks) instead"
        ) from exc
    graph = traced.graph
    by_target = {str(node.target): node for node in graph.nodes if node.op == "call_module"}  # last call wins
    by_name = {**by_target, **{node.name: node for node in graph.nodes}}  # fx node names take precedence
    missing = [n for n in names if n not in by_name]
    if missing:
        known = [n.name for n in graph.nodes if n.op not in ("placeholder", "output")]
        raise KeyError(f"feature nodes {missing} not found; fx nodes: {', '.join(known[:40])}")
    output = next(node for node in graph.nodes if node.op == "output")
    output.args = (tuple(by_name[n] for n in names),)
    graph.eliminate_dead_code()
    module = torch.fx.GraphModule(traced, graph)
    return lambda x: _as_list(module(x))


def _auto(model: nn.Module) -> FeatureExtractor:
    def extract(x: torch.Tensor) -> list[torch.Tensor]:
        by_size: dict[tuple[int, ...], torch.Tensor] = {}

        def hook(module: nn.Module, inputs: Any, output: Any) -> None:
            if isinstance(output, torch.Tensor) and output.dim() == 4:
                by_size[tuple(output.shape[2:])] = output  # the last output at each resolution

        handles = [m.register_forward_hook(hook) for name, m in model.named_modules() if name]
        try:
            model(x)
        finally:
            for handle in handles:
                handle.remove()
        if not by_size:
            raise ValueError("no 4-D feature maps found: pass feature node names")
        return sorted(by_size.values(), key=lambda t: -t.shape[2] * t.shape[3])

    return extract


def make_extractor(model: nn.Module, nodes: Sequence[str] = ()) -> FeatureExtractor:
    """A function ``x -> [stage features, shallow to deep]`` for ``model`` (see the module docstring)."""
    names = [str(n) for n in nodes]
    if names:
        modules = dict(model.named_modules())
        if all(n in modules for n in names):
            return _module_hooks(model, names)
        return _fx_nodes(model, names)
    forward_features = getattr(model, "forward_features", None)
    if callable(forward_features):
        return lambda x: _as_list(forward_features(x))
    return _auto(model)
