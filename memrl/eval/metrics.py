"""Per-episode records and the per-(policy, env) row a paper's table needs."""

from __future__ import annotations

from statistics import fmean
from typing import Any

from memrl.eval.stats import bootstrap_ci
from memrl.rollout import Trajectory
from memrl.rollout.summary import summarize


_METRIC_NAMES = {"em": "EM", "f1": "F1", "bleu1": "BLEU-1"}


def score_name(env: Any) -> str:
    """What an env's ``outcome["score"]`` measures, for table and plot labels: the env's
    ``score_name`` (MemAgent: "boxed EM"), else its ``metric`` setting (FactRecall, AgeMem,
    Memory-R1: "F1" / "EM"), else "score"."""
    name = getattr(env, "score_name", None)
    if isinstance(name, str) and name:
        return name
    metric = getattr(env, "metric", None)
    return _METRIC_NAMES.get(metric, metric) if isinstance(metric, str) and metric else "score"


def metric_name(result: Any, row: dict[str, Any]) -> str:
    """The metric of a row's score: recorded by ``memrl eval``; for an older results.json, asked
    of the env (made with the run's settings, no model); "score" when neither says."""
    if row.get("metric"):
        return str(row["metric"])
    try:
        from memrl.env.registry import make

        env = make(row["env"], **dict(result.config.get("env_kwargs") or {}))
        env.close()
        return score_name(env)
    except Exception:  # a renamed env or setting: the label falls back, the plot still draws
        return "score"


def call_context_tokens(t: Trajectory) -> list[int]:
    """The context length (prompt + reply) of every model call, read off the segments: each run
    of policy tokens in a segment's loss mask is one call's reply, ending at that length."""
    lengths = []
    for seg in t.segments:
        mask = seg.completion_mask
        for i, m in enumerate(mask):
            if m and (i + 1 == len(mask) or not mask[i + 1]):
                lengths.append(len(seg.prompt_ids) + i + 1)
    return lengths


def episode_record(t: Trajectory, size: float | None) -> dict[str, Any]:
    """What is kept per episode: enough to pair policies task by task and to plot against size."""
    # An episode that ended without an answer really scored 0; ``answered`` keeps it visible. The
    # env says so in its outcome; one ended by the engine (or a third-party env) has no score.
    answered = bool(t.outcome.get("answered", "score" in t.outcome))
    m = t.metrics
    return {
        "task_id": t.task_id,
        "score": float(t.outcome.get("score", 0.0)) if answered else 0.0,
        "answered": answered,
        "success": bool(t.outcome.get("success", False)),
        "reward": float(t.reward),
        "rewards": {k: v for k, v in t.rewards.items()},
        "size": size,
        "peak_context_tokens": m["peak_context_tokens"],
        "mean_context_tokens": fmean(calls) if (calls := call_context_tokens(t)) else 0.0,
        "policy_tokens": m["policy_tokens"],
        "turns": m["turns"],
        "format_errors": m["format_errors"],
        "memory_ops": dict(m.get("memory_ops", {})),
        "truncated": m["truncated"],
        "wall_s": m["wall_s"],
        # Per-question scores of an episode that asks several (LoCoMo: category, f1, em, bleu1).
        "per_question": [_numeric(q) for q in t.outcome.get("per_question", [])],
    }


def _numeric(question: dict[str, Any]) -> dict[str, Any]:
    keep = {"category", "category_name"}
    return {k: v for k, v in question.items() if k in keep or (isinstance(v, (int, float)) and not isinstance(v, bool))}


def by_category(records: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Every metric's mean per question category and over all questions (``"all"``), pooled over
    episodes question by question (so an episode with 30 questions weighs 30), with ``n``."""
    questions = [q for r in records for q in r.get("per_question", [])]
    groups: dict[str, list[dict[str, Any]]] = {"all": questions} if questions else {}
    for q in questions:
        groups.setdefault(str(q.get("category_name", q.get("category", "-"))), []).append(q)
    table = {}
    for name, group in groups.items():
        metrics = sorted({k for q in group for k in q if k not in ("category", "category_name")})
        table[name] = {m: fmean(q[m] for q in group if m in q) for m in metrics} | {"n": float(len(group))}
    return table


def policy_row(policy: str, kind: str, mode: str, env_id: str, trajs: list[Trajectory],
               records: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
    """Scores with their bootstrap CI, then the rollout summary under its fixed metric names."""
    scores = [r["score"] for r in records]
    low, high = bootstrap_ci(scores)
    row: dict[str, Any] = {
        "policy": policy, "kind": kind, "memory_mode": mode, "env": env_id, "episodes": len(records),
        "score": fmean(scores), "score_ci_low": low, "score_ci_high": high,
        "success_rate": fmean(float(r["success"]) for r in records),
        "no_answer": sum(not r["answered"] for r in records),
        "diff_vs_base": None, "diff_ci_low": None, "diff_ci_high": None,
    }
    summary = summarize(trajs)
    row.update({k: v for k, v in summary.items() if k not in ("episodes", "success_rate")})
    row["context/mean_tokens"] = fmean(r["mean_context_tokens"] for r in records)
    row["time/wall_s"] = wall_s
    if categories := by_category(records):
        row["by_category"] = categories
    row["episodes_detail"] = records
    return row
