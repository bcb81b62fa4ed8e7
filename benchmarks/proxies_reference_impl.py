"""The reference code's way: each Suite-Zero proxy computed on its own model copy with its own passes.

A compact re-implementation of the per-proxy procedures of the published code (Abdelfattah et al., ICLR 2021,
``foresight/pruners/measures``; NASLib ``naslib/predictors/pruners/measures``), used by
``proxies_fused_vs_separate.py`` as the "separate" baseline and as an independent cross-check of our values.
What each measure pays, as in the reference:

- every proxy deep-copies the network (``get_prunable_copy``) and runs in train mode;
- grad_norm, plain, snip (through a multiplicative all-ones weight mask), fisher (activation/gradient hooks):
  one forward + a full ``loss.backward()`` each;
- grasp: two forwards (one for g, one with ``create_graph``) and a double backward;
- jacov and epe_nas: a forward and a full ``y.backward(ones)`` (weight gradients included), numpy statistics
  (``np.linalg.eig`` for jacov);
- nwot: a forward with hooks computing ``x xᵀ`` and ``(1−x)(1−x)ᵀ`` per ReLU, accumulated in numpy;
- synflow: a copy with BatchNorm as identity, converted to float64 with |θ|, one all-ones input;
- zen: a Gaussian-initialised copy, two forwards without gradients, BatchNorm ``running_var``;
- params, flops (a forward of one input on a copy) and l2_norm (no copy).

Monkey-patching below happens on these private copies only.
"""

from __future__ import annotations

import copy
import math
import types
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from archrank.proxies.cost import count_flops, count_params

Impl = Callable[[nn.Module, torch.Tensor, torch.Tensor], float]


def _layers(net: nn.Module) -> list[nn.Module]:
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def _copy(model: nn.Module, bn: bool = True) -> nn.Module:
    net = copy.deepcopy(model)
    if not bn:
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
                m.forward = types.MethodType(lambda self, x: x, m)
    return net.train()


def grad_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model)
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return float(sum(m.weight.grad.norm() for m in _layers(net) if m.weight.grad is not None))


def plain(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model)
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return float(sum((m.weight.grad * m.weight).sum() for m in _layers(net) if m.weight.grad is not None))


def snip(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model)
    for m in _layers(net):
        m.weight_mask = nn.Parameter(torch.ones_like(m.weight))
        m.weight.requires_grad = False
        if isinstance(m, nn.Conv2d):
            m.forward = types.MethodType(
                lambda self, z: F.conv2d(
                    z, self.weight * self.weight_mask, self.bias, self.stride, self.padding, self.dilation, self.groups
                ),
                m,
            )
        else:
            m.forward = types.MethodType(lambda self, z: F.linear(z, self.weight * self.weight_mask, self.bias), m)
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    return float(sum(m.weight_mask.grad.abs().sum() for m in _layers(net) if m.weight_mask.grad is not None))


def grasp(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model)
    weights = [m.weight for m in _layers(net)]
    net.zero_grad()
    grad_w = torch.autograd.grad(F.cross_entropy(net(x), y), weights, allow_unused=True)
    grad_f = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True, allow_unused=True)
    z = sum((gw.data * gf).sum() for gw, gf in zip(grad_w, grad_f, strict=True) if gw is not None)
    z.backward()
    return float(sum((-m.weight.data * m.weight.grad).sum() for m in _layers(net) if m.weight.grad is not None))


def fisher(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model)
    total = {}
    acts = {}

    def fwd_hook(layer: nn.Module):
        def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
            acts[layer] = output

            def grad_hook(grad: torch.Tensor) -> None:
                act = acts[layer].detach()
                g_nk = (act * grad).sum(list(range(2, act.dim()))) if act.dim() > 2 else act * grad
                del_k = g_nk.pow(2).mean(0).mul(0.5)
                total[layer] = total[layer] + del_k if layer in total else del_k

            output.register_hook(grad_hook)

        return hook

    handles = [m.register_forward_hook(fwd_hook(m)) for m in _layers(net)]
    net.zero_grad()
    F.cross_entropy(net(x), y).backward()
    for h in handles:
        h.remove()
    return float(sum((total[m].abs() * m.weight[0].numel()).sum() for m in _layers(net) if m in total))


def _jacobian(net: nn.Module, x: torch.Tensor) -> np.ndarray:
    x = x.clone().requires_grad_(True)
    out = net(x)
    out.backward(torch.ones_like(out))
    return x.grad.detach().reshape(x.shape[0], -1).numpy()


def jacov(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model)
    net.zero_grad()
    corrs = np.corrcoef(_jacobian(net, x))
    v, _ = np.linalg.eig(corrs)
    k = 1e-5
    return float(np.real(-np.sum(np.log(v + k) + 1.0 / (v + k))))


def epe_nas(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model)
    net.zero_grad()
    jacob = _jacobian(net, x)
    k = 1e-5
    labels = y.numpy()
    score = 0.0
    for c in np.unique(labels):
        rows = jacob[labels == c]
        s = math.log(1 + k) if len(rows) == 1 else float(np.sum(np.log(np.abs(np.corrcoef(rows)) + k)))
        score += abs(s)
    return score


def nwot(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model)
    kernel = np.zeros((x.shape[0], x.shape[0]))

    def hook(module: nn.Module, inputs, output) -> None:
        nonlocal kernel
        inp = inputs[0].view(inputs[0].size(0), -1)
        c = (inp > 0).float()
        kernel = kernel + (c @ c.t()).cpu().numpy() + ((1.0 - c) @ (1.0 - c.t())).cpu().numpy()

    # NASLib hooks every module whose type name contains "ReLU" but not its own primitives ("naslib" in the
    # module path); here: torch's ReLU family, not archrank's ReLUConvBN containers.
    relus = [m for m in net.modules() if "ReLU" in type(m).__name__ and type(m).__module__.startswith("torch.nn")]
    handles = [m.register_forward_hook(hook) for m in relus]
    net(torch.clone(x))
    for h in handles:
        h.remove()
    return float(np.linalg.slogdet(kernel)[1])


def synflow(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model, bn=False).double()
    with torch.no_grad():
        for _, param in net.state_dict().items():
            param.abs_()
    net.zero_grad()
    out = net(torch.ones([1, *x.shape[1:]], dtype=torch.float64))
    torch.sum(out).backward()
    total = float(
        sum((m.weight.detach() * m.weight.grad).abs().sum() for m in _layers(net) if m.weight.grad is not None)
    )
    return math.log(total) if total > 0 else float("nan")


def zen(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    net = _copy(model)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        feats = []
        pool = [m for m in net.modules() if isinstance(m, nn.AdaptiveAvgPool2d)][-1]
        handle = pool.register_forward_hook(lambda mod, inp, out: feats.append(inp[0]))
        a = torch.randn_like(x)
        b = torch.randn_like(x)
        net(a)
        net(a + 0.01 * b)
        handle.remove()
        delta = torch.sum(torch.abs(feats[0] - feats[1]), dim=[1, 2, 3]).mean()
        log_bn = sum(
            torch.log(torch.sqrt(torch.mean(m.running_var))) for m in net.modules() if isinstance(m, nn.BatchNorm2d)
        )
        return float(torch.log(delta) + log_bn)


def params(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(count_params(copy.deepcopy(model)))


def flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(count_flops(copy.deepcopy(model), tuple(x.shape[1:])))


def l2_norm(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(sum(m.weight.detach().norm() for m in _layers(model)))


REFERENCE_IMPLS: dict[str, Impl] = {
    "grad_norm": grad_norm,
    "snip": snip,
    "grasp": grasp,
    "fisher": fisher,
    "jacov": jacov,
    "synflow": synflow,
    "plain": plain,
    "params": params,
    "flops": flops,
    "l2_norm": l2_norm,
    "nwot": nwot,
    "epe_nas": epe_nas,
    "zen": zen,
}
