"""Eproxy details pinned against the authors' training loop (GenNAS-Zero ``do_train.evaluation``, issue 17), on a
tiny NB201 network whose first two recorded losses are recomputed here step by step:

- the loss recorded at step k is the branch-weighted MSE (weights 1, 1/2, 1/4, ...) of step k's forward, *before*
  that step's update (the reference appends ``loss_e`` of ``output_m`` computed before ``optimizer.step()``);
- the update minimises the plain sum of the branch MSEs with SGD over backbone + head only (the barrier is frozen),
  weight decay on weights with more than one dimension only (the reference's ``utils.get_parameters``);
- heads see the stage features resized by nearest interpolation (their ``F.interpolate`` default).
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archrank.eproxy  # noqa: F401  (registers "eproxy")
from archrank.eproxy import BranchConfig, EproxyConfig, EproxyHead, make_targets, run_eproxy

ARCH = "|nor_conv_3x3~0|+|skip_connect~0|nor_conv_1x1~1|+|avg_pool_3x3~0|nor_conv_3x3~1|skip_connect~2|"
# a large weight decay so that which parameters it reaches changes the second loss visibly
CFG = EproxyConfig(
    branches=(
        BranchConfig(stage=-1, signals=("dot",), head_channels=8, target_channels=4),
        BranchConfig(stage=-2, signals=("wave_h",), head_channels=8, target_channels=4),
    ),
    steps=2,
    size=4,
    lr=0.1,
    weight_decay=0.5,
    alpha=0.0,
)


@pytest.fixture()
def tiny(nb201) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    model = nb201.build(nb201.parse(ARCH), C=4, N=1)
    x = torch.randn(16, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    return model, x


def _branch_outputs(net: nn.Module, head: EproxyHead, x: torch.Tensor) -> list[torch.Tensor]:
    feats = net.forward_features(x)
    chosen = [feats[b.stage] for b in CFG.branches]
    # the reference: nearest interpolation of every stage map to size x size, then head, then barrier
    return [
        barrier(h(F.interpolate(f, size=(CFG.size, CFG.size))))
        for f, h, barrier in zip(chosen, head.heads, head.barriers, strict=True)
    ]


def _manual_losses(model: nn.Module, x: torch.Tensor, seed: int, decay_groups: bool) -> list[float]:
    net = copy.deepcopy(model).train()
    feats = net.forward_features(x)
    head = EproxyHead(CFG, [feats[b.stage].shape[1] for b in CFG.branches], seed).train()
    targets = make_targets(CFG, x)
    params = list(net.parameters()) + list(head.heads.parameters())
    if decay_groups:
        groups = [
            {"params": [p for p in params if p.dim() > 1]},
            {"params": [p for p in params if p.dim() <= 1], "weight_decay": 0.0},
        ]
    else:
        groups = [{"params": params}]
    opt = torch.optim.SGD(groups, lr=CFG.lr, momentum=CFG.momentum, weight_decay=CFG.weight_decay)
    recorded = []
    for _ in range(CFG.steps):
        mses = [F.mse_loss(o, t) for o, t in zip(_branch_outputs(net, head, x), targets, strict=True)]
        recorded.append(float(mses[0].detach() + mses[1].detach() / 2))  # before this step's update
        opt.zero_grad()
        sum(mses).backward()
        opt.step()
    return recorded


def test_recorded_losses_follow_the_reference_loop(tiny) -> None:
    model, x = tiny
    ours = run_eproxy(model, CFG, x, seed=4).result.losses
    manual = _manual_losses(model, x, seed=4, decay_groups=True)
    assert ours[0] == pytest.approx(manual[0], rel=1e-5)  # the initial network, nothing trained yet
    assert ours[1] == pytest.approx(manual[1], rel=1e-4)  # after one reference SGD update


def test_weight_decay_reaches_only_multi_dimensional_weights(tiny) -> None:
    model, x = tiny
    ours = run_eproxy(model, CFG, x, seed=4).result.losses
    everything_decayed = _manual_losses(model, x, seed=4, decay_groups=False)
    grouped = _manual_losses(model, x, seed=4, decay_groups=True)
    assert abs(everything_decayed[1] - grouped[1]) > 1e-3 * grouped[1]  # the test can tell the two apart
    assert ours[1] == pytest.approx(grouped[1], rel=1e-4)
    assert ours[1] != pytest.approx(everything_decayed[1], rel=1e-4)


def test_barrier_output_of_the_first_forward(tiny) -> None:
    """The barrier's first output is barrier(head(nearest-resized stage map)) of the untrained modules."""
    model, x = tiny
    run = run_eproxy(model, CFG, x, seed=4)
    net = copy.deepcopy(model).train()
    feats = net.forward_features(x)
    head = EproxyHead(CFG, [feats[b.stage].shape[1] for b in CFG.branches], seed=4).train()
    outs = _branch_outputs(net, head, x)
    targets = make_targets(CFG, x)
    first = float((F.mse_loss(outs[0], targets[0]) + F.mse_loss(outs[1], targets[1]) / 2).detach())
    assert run.result.losses[0] == pytest.approx(first, rel=1e-5)
    assert all(o.shape == (16, 4, CFG.size, CFG.size) for o in outs)
