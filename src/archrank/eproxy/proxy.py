"""Registers ``eproxy`` in the proxy registry (Li et al., "Extensible Proxy for Efficient NAS", arXiv 2210.09459).

``archrank.score(model, ["eproxy"], batch=(x, y))`` evaluates the default configuration;
``create_proxy("eproxy", config=...)`` binds another one (a preset name, a JSON file saved by DPS, a partial dict
such as ``{"inputs": "synthetic"}``, or an :class:`~archrank.eproxy.config.EproxyConfig`). The value is the
**negated** Eproxy score (lower loss = better architecture, so higher value = better). Importing this module
registers the proxy once; importing it again is a no-op.
"""

from __future__ import annotations

from typing import Any

from archrank.eproxy.train import eproxy_score
from archrank.proxies.registry import ScoreNaN, list_proxies, register_proxy

__all__ = ["CITATION", "eproxy"]

CITATION = (
    "Li, Li, Han, Li, Xiong, Chen, Extensible Proxy for Efficient NAS, arXiv 2210.09459 (2022); "
    "Li et al., Generic Neural Architecture Search via Regression, NeurIPS 2021"
)


def eproxy(probe: Any, *, config: Any = "default", feature_nodes: tuple[str, ...] = ()) -> float:
    """eproxy: minus the loss after ~10 SGD steps regressing fixed synthetic targets through trainable heads and
    frozen random barrier convolutions, scaled by (1 − α·MACs/ref) (Li et al., arXiv 2210.09459).

    ``config`` picks the setting (default: the reference NB201 setting with the probe's batch; see
    :func:`archrank.eproxy.resolve_config`); ``feature_nodes`` names the stage outputs of a model without
    ``forward_features`` (module names or torch.fx node names; default: automatic, one map per resolution). Uses
    the first ``batch_size`` (16) inputs of the batch, or none with ``inputs="synthetic"``. Runs on a further copy
    of the probe's model; the probe's seed fixes heads, barriers and initialisations.
    """
    x = probe.x
    result = eproxy_score(
        probe.model,
        config,
        x,
        seed=probe.seed,
        device=probe.device,
        feature_nodes=tuple(feature_nodes),
        input_shape=probe.input_shape,
    )
    if not result.ok:
        raise ScoreNaN(f"Eproxy undefined: {result.reason}")
    return result.value


if "eproxy" not in list_proxies():
    register_proxy(
        "eproxy",
        requires=(),
        negated=True,
        needs_data=False,
        needs_labels=False,
        needs_gradients=True,
        bn_mode="train",
        citation=CITATION,
    )(eproxy)
