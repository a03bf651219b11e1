"""Aggregate trajectory metrics into the numbers people look at (console table, logs)."""

from __future__ import annotations

from collections import Counter
from statistics import fmean
from typing import Iterable

from memrl.memory.base import OP_KINDS
from memrl.memory.context import CONTEXT_OP_KINDS
from memrl.rollout.segments import Trajectory

TRUNCATION_REASONS = ("turn_limit", "context_limit", "episode_token_limit")


def summarize(trajectories: Iterable[Trajectory]) -> dict[str, float]:
    """Means over episodes under fixed names (``reward/mean``, ``memory/ops/<kind>``, ...)."""
    trajs = list(trajectories)
    if not trajs:
        return {}
    m = [t.metrics for t in trajs]
    out = {
        "episodes": float(len(trajs)),
        "reward/mean": fmean(t.reward for t in trajs),
        "success_rate": fmean(float(bool(t.outcome.get("success"))) for t in trajs),
        "turns/mean": fmean(x["turns"] for x in m),
        "segments/mean": fmean(x["segments"] for x in m),
        "tokens/policy_mean": fmean(x["policy_tokens"] for x in m),
        "tokens/env_mean": fmean(x["env_tokens"] for x in m),
        "context/peak_tokens": float(max(x["peak_context_tokens"] for x in m)),
        "context/peak_tokens_mean": fmean(x["peak_context_tokens"] for x in m),
        "format_error_rate": fmean(x["format_errors"] / max(x["turns"], 1) for x in m),
        "truncated_rate": fmean(float(x["truncated"] is not None) for x in m),
    }
    for name in sorted({k for t in trajs for k in t.rewards}):
        vals = [t.rewards[name] for t in trajs if t.rewards.get(name) is not None]
        if vals:
            out[f"reward/{name}/mean"] = fmean(vals)
    # Every known kind and reason on every step, zeros included, so a log's keys do not come and
    # go with what the policy happened to do (kinds an env adds appear when first used).
    ops: Counter[str] = Counter({kind: 0 for kind in (*OP_KINDS, *CONTEXT_OP_KINDS, "env_error")})
    for x in m:
        ops.update(x.get("memory_ops", {}))
    for kind, count in sorted(ops.items()):
        out[f"memory/ops/{kind}"] = count / len(trajs)
    reasons = Counter({reason: 0 for reason in TRUNCATION_REASONS})
    reasons.update(x["truncated"] for x in m if x["truncated"])
    for reason, count in sorted(reasons.items()):
        out[f"truncated/{reason}"] = count / len(trajs)
    return out
