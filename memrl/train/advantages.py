"""Credit assignment: one advantage per trajectory (GRPO family) or per token (PPO + GAE).

GRPO family: statistics are taken over *unique trajectories* of a group (G rollouts of one
task), never over segments, so an episode cut into five segments does not count five times in
its group's mean; the trajectory's advantage is then broadcast to every policy token of every
segment. This single rule is MemAct's DCPO, MemAgent's multi-conversation DAPO (mean only, no
std) and AgeMem's step-wise GRPO (the terminal advantage on every step).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

import torch

BASELINES = ("mean", "rloo")
SCALES = ("group", "batch", "none")


def group_advantages(
    rewards: Sequence[float],
    groups: Sequence[int],
    *,
    baseline: str = "mean",
    scale: str = "group",
    eps: float = 1e-4,
) -> list[float]:
    """Advantage of each trajectory relative to the other trajectories of its group.

    baseline: ``"mean"`` (GRPO: R - mean of the group) or ``"rloo"`` (R - mean of the *other*
    G-1 rewards, an unbiased leave-one-out baseline).
    scale: ``"group"`` (divide by the group's std: GRPO), ``"batch"`` (by the batch std) or
    ``"none"`` (Dr.GRPO / MemAgent: the std division biases towards easy and hard groups).
    """
    if len(rewards) != len(groups):
        raise ValueError(f"{len(rewards)} rewards but {len(groups)} group ids")
    if baseline not in BASELINES:
        raise ValueError(f"baseline {baseline!r} must be one of {BASELINES}")
    if scale not in SCALES:
        raise ValueError(f"scale {scale!r} must be one of {SCALES}")
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    r = torch.tensor([float(x) for x in rewards], dtype=torch.float64)
    adv = torch.zeros_like(r)
    for idx in members.values():
        rg = r[idx]
        n = len(idx)
        if baseline == "rloo" and n > 1:
            adv[idx] = (rg - (rg.sum() - rg) / (n - 1)) if n > 1 else 0.0
        else:
            adv[idx] = rg - rg.mean()
        if scale == "group":
            adv[idx] = adv[idx] / (rg.std(unbiased=False) + eps)
    if scale == "batch":
        adv = adv / (r.std(unbiased=False) + eps)
    return adv.tolist()


def gae(
    rewards: torch.Tensor, values: torch.Tensor, *, gamma: float = 1.0, lam: float = 0.95
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalized advantage estimation over one trajectory's policy tokens, in order.

    ``rewards[t]`` is the reward after token t (the outcome sits on the last policy token,
    optional per-turn rewards on each turn's last token); ``values[t]`` the critic's estimate
    before token t. The value after the last token is 0 (the episode is over). Env tokens are
    not steps: the caller passes policy tokens only, concatenated across segments, so credit
    flows from a later segment back into earlier ones.
    Returns (advantages, returns), both shaped like ``rewards``.
    """
    if rewards.shape != values.shape:
        raise ValueError(f"rewards {tuple(rewards.shape)} and values {tuple(values.shape)} differ in shape")
    adv = torch.zeros_like(values)
    running = torch.zeros((), dtype=values.dtype, device=values.device)
    next_value = torch.zeros((), dtype=values.dtype, device=values.device)
    for t in range(len(rewards) - 1, -1, -1):
        delta = rewards[t] + gamma * next_value - values[t]
        running = delta + gamma * lam * running
        adv[t] = running
        next_value = values[t]
    return adv, adv + values
