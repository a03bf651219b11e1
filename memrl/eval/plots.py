"""PNG plots of an evaluation (matplotlib, Agg: no display needed)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from statistics import fmean
from typing import Any

from memrl.eval.result import EvalResult, episodes_by_size


_MARKERS = ("o", "s", "^", "v", "D", "P", "X")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scores(result: EvalResult, path: str | Path) -> None:
    """One panel per env: mean score per policy with its 95% bootstrap CI as an error bar."""
    plt = _pyplot()
    envs = list(dict.fromkeys(r["env"] for r in result.rows))
    fig, axes = plt.subplots(1, len(envs), figsize=(max(5.0, 1.1 * _max_policies(result) + 2) * len(envs), 4.2), squeeze=False)
    for ax, env in zip(axes[0], envs):
        rows = [r for r in result.rows if r["env"] == env]
        x = range(len(rows))
        means = [r["score"] for r in rows]
        err = [[m - r["score_ci_low"] for m, r in zip(means, rows)], [r["score_ci_high"] - m for m, r in zip(means, rows)]]
        colors = ["tab:blue" if r["kind"] == "agent" else "tab:gray" for r in rows]
        bars = ax.bar(x, means, yerr=err, capsize=4, color=colors)
        # Print the value too: a bar at 0 is otherwise invisible.
        ax.bar_label(bars, labels=[f"{m:.2f}" for m in means], padding=2, fontsize=8)
        ax.set_xticks(list(x), [r["policy"] for r in rows], rotation=30, ha="right")
        ax.set_ylim(0, max(1.0, max(r["score_ci_high"] for r in rows) * 1.1))
        ax.set_ylabel("task score (95% bootstrap CI)")
        ax.set_title(f"{env} · {rows[0]['episodes']} episodes")
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_context_vs_size(result: EvalResult, path: str | Path) -> None:
    """One panel per env: mean peak context tokens at each task size, one line per policy."""
    plt = _pyplot()
    envs = list(dict.fromkeys(r["env"] for r in result.rows))
    fig, axes = plt.subplots(1, len(envs), figsize=(7.5 * len(envs), 4.2), squeeze=False)
    for ax, env in zip(axes[0], envs):
        all_sizes: set[float] = set()
        size_key = None
        for i, r in enumerate(r for r in result.rows if r["env"] == env):
            size_key = r.get("size_key") or size_key
            if by_size := episodes_by_size(r):
                sizes = list(by_size)
                all_sizes.update(sizes)
                # Distinct markers, shrinking: baselines with equal contexts stay visible on top of each other.
                ax.plot(sizes, [fmean(e["peak_context_tokens"] for e in by_size[s]) for s in sizes], marker=_MARKERS[i % len(_MARKERS)],
                        markersize=max(9 - i, 4), linestyle="-" if r["kind"] == "agent" else "--", label=r["policy"])
        if all_sizes and all(float(v).is_integer() for v in all_sizes):
            ax.set_xticks(sorted(all_sizes))
        if len(all_sizes) == 1:
            ax.set_xlim(min(all_sizes) - 1, max(all_sizes) + 1)
        ax.set_xlabel(f"task size ({size_key or 'size'})")
        ax.set_ylabel("peak context tokens (mean per size)")
        ax.set_title(env)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def read_training_log(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a training ``log.jsonl`` that have a step and a reward (others are skipped)."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a killed run must not hide the rest of the curve
        if isinstance(row, dict) and isinstance(row.get("step"), (int, float)) and isinstance(row.get("reward"), (int, float)):
            rows.append(row)
    return rows


def plot_learning_curve(log_rows: list[dict[str, Any]], path: str | Path) -> bool:
    """Mean training reward per step (and per-plugin rewards when logged); False when there is nothing to plot."""
    if not log_rows:
        return False
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    steps = [r["step"] for r in log_rows]
    ax.plot(steps, [r["reward"] for r in log_rows], marker=".", label="reward")
    for key in sorted({k for r in log_rows for k in r if k.startswith("reward/") and k.endswith("/mean")}):
        pts = [(r["step"], r[key]) for r in log_rows if isinstance(r.get(key), (int, float))]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle="--", label=key)
    ax.set_xlabel("training step")
    ax.set_ylabel("mean episode reward")
    ax.set_title("learning curve (training log)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def _max_policies(result: EvalResult) -> int:
    counts: dict[str, int] = defaultdict(int)
    for r in result.rows:
        counts[r["env"]] += 1
    return max(counts.values(), default=1)
