"""PNG plots of an evaluation (matplotlib, Agg: no display needed).

Every plot says what it measures: the score's metric (F1, EM, boxed EM), the model, the env and
the number of tasks. Scores are drawn on a fixed 0..1 axis, so a small change looks small; lines
that would coincide get distinct markers and styles so none hides another.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path
from statistics import fmean
from typing import Any

from memrl.eval.metrics import metric_name
from memrl.eval.result import EvalResult, episodes_by_size

_MARKERS = ("o", "s", "^", "v", "D", "P", "X")
_LINESTYLES = ("-", "--", "-.", ":")
# log.jsonl keys, newest name first: the training log's namespaces have changed over time.
_REWARD = ("reward/mean", "reward", "train/reward")
_REWARD_STD = ("reward/std", "reward_std")
_EPISODES = ("rollout/episodes", "episodes", "reward/count")
_SUCCESS = ("reward/success_rate", "rollout/success_rate", "success_rate")
_SFT_LOSS = ("sft/loss", "loss")
_SFT_ACCURACY = ("sft/mean_token_accuracy", "sft/accuracy", "mean_token_accuracy")
_PLUGIN_COLORS = ("tab:orange", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _integer_ticks(ax) -> None:
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


# -- what a result measures -----------------------------------------------------------------------
def model_label(result: EvalResult) -> str:
    """The base model: a hub id as is, a local folder by its name."""
    model = str(result.config.get("model_path") or result.config.get("model") or "unknown model")
    return Path(model.rstrip("/")).name if model.startswith(("/", ".", "~")) else model


def _count(values: list[int]) -> str:
    low, high = min(values), max(values)
    return f"N = {low}" if low == high else f"N = {low}-{high}"


# -- score.png --------------------------------------------------------------------------------------
def plot_scores(result: EvalResult, path: str | Path) -> None:
    _save(score_figure(result), path)


def score_figure(result: EvalResult):
    """One panel per env: mean score per policy with its 95% bootstrap CI as an error bar, on a
    0..1 axis, the metric and N in the title, unanswered episodes under each policy's name."""
    plt = _pyplot()
    envs = list(dict.fromkeys(r["env"] for r in result.rows))
    fig, axes = plt.subplots(1, len(envs), figsize=(max(5.0, 1.1 * _max_policies(result) + 2) * len(envs), 4.6), squeeze=False)
    for ax, env in zip(axes[0], envs):
        rows = [r for r in result.rows if r["env"] == env]
        metric = metric_name(result, rows[0])
        x = range(len(rows))
        means = [r["score"] for r in rows]
        err = [[m - r["score_ci_low"] for m, r in zip(means, rows)], [r["score_ci_high"] - m for m, r in zip(means, rows)]]
        colors = ["tab:blue" if r["kind"] == "agent" else "tab:gray" for r in rows]
        bars = ax.bar(x, means, yerr=err, capsize=4, color=colors)
        # Print the value too: a bar at 0 is otherwise invisible.
        ax.bar_label(bars, labels=[f"{m:.2f}" for m in means], padding=2, fontsize=8)
        ax.set_xticks(list(x), [_policy_label(r) for r in rows], rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, max(1.0, max(r["score_ci_high"] for r in rows) * 1.05))
        ax.set_ylabel(f"{metric} (mean, 95% bootstrap CI)")
        ax.set_title(f"{env}\n{metric} · {_count([r['episodes'] for r in rows])} tasks per policy", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"memrl eval · model {model_label(result)} · {result.config.get('split', '')} split", fontsize=10)
    return fig


def _policy_label(row: dict[str, Any]) -> str:
    unanswered = row.get("no_answer") or 0
    return row["policy"] + (f"\n{unanswered}/{row['episodes']} unanswered" if unanswered else "")


# -- context_vs_size.png ----------------------------------------------------------------------------
def plot_context_vs_size(result: EvalResult, path: str | Path) -> None:
    _save(context_figure(result), path)


def context_figure(result: EvalResult):
    """One panel per env: mean peak context tokens at each task size, one line per policy."""
    plt = _pyplot()
    envs = list(dict.fromkeys(r["env"] for r in result.rows))
    fig, axes = plt.subplots(1, len(envs), figsize=(7.5 * len(envs), 4.4), squeeze=False)
    for ax, env in zip(axes[0], envs):
        all_sizes: set[float] = set()
        size_key = None
        rows = [r for r in result.rows if r["env"] == env]
        for i, r in enumerate(rows):
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
        ax.set_ylim(bottom=0)
        ax.set_xlabel(f"task size ({size_key or 'size'})")
        ax.set_ylabel("peak context tokens (mean per size)")
        ax.set_title(f"{env} · {_count([r['episodes'] for r in rows])} tasks per policy", fontsize=10)
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle(f"memrl eval · model {model_label(result)}", fontsize=10)
    return fig


# -- learning_curve.png -------------------------------------------------------------------------------
def read_training_log(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a training ``log.jsonl`` that have a step (``sft/step`` for the warm start's);
    numbers written as strings become numbers."""
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a killed run must not hide the rest of the curve
        if not isinstance(row, dict):
            continue
        row = {k: _number(v) for k, v in row.items()}
        if "step" not in row and "sft/step" in row:  # the warm start's rows count their own steps
            row["step"] = row["sft/step"]
        if isinstance(row.get("step"), (int, float)):
            rows.append(row)
    return rows


def plot_learning_curve(log_rows: list[dict[str, Any]], path: str | Path, *, title: str | None = None) -> bool:
    """Writes ``learning_curve_figure``; False (and no file) when the log has nothing to plot."""
    fig = learning_curve_figure(log_rows, title=title)
    if fig is None:
        return False
    _save(fig, path)
    return True


def learning_curve_figure(log_rows: list[dict[str, Any]], *, title: str | None = None):
    """The SFT warm start (loss, token accuracy), the RL steps (mean episode reward with its
    spread, per-plugin rewards, success rate on a 0..1 axis) and the held-out score
    (``--eval_every`` rows) side by side; integer step ticks. None when the log has none of them."""
    sft = [r for r in log_rows if _is_sft(r) and _first(r, _SFT_LOSS + _SFT_ACCURACY) is not None]
    rl = [r for r in log_rows if not _is_sft(r) and not _is_eval(r) and _first(r, _REWARD) is not None]
    held_out = [r for r in log_rows if _is_eval(r) and _first(r, ("eval/score",)) is not None]
    if not sft and not rl and not held_out:
        return None
    plt = _pyplot()
    panels = [(draw, rows) for draw, rows in ((_sft_panel, sft), (_rl_panel, rl), (_held_out_panel, held_out)) if rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(6.8 * len(panels), 4.4), squeeze=False)
    for ax, (draw, rows) in zip(axes[0], panels):
        draw(ax, rows, warm_start=bool(sft))
    fig.suptitle(title or "learning curve (training log)", fontsize=10)
    return fig


def _save(fig, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")  # legends may sit outside the axes
    _pyplot().close(fig)


def _sft_panel(ax, rows: list[dict[str, Any]], *, warm_start: bool) -> None:
    steps = [r["step"] for r in rows]
    losses = [(s, v) for s, r in zip(steps, rows) if (v := _first(r, _SFT_LOSS)) is not None]
    if losses:
        ax.plot(*zip(*losses), marker=".", color="tab:purple", label="loss")
        ax.set_ylim(bottom=0)
    ax.set_ylabel("SFT loss (cross-entropy on expert replies)")
    accuracy = [(s, v) for s, r in zip(steps, rows) if (v := _first(r, _SFT_ACCURACY)) is not None]
    right = None
    if accuracy:
        right = ax.twinx()
        right.plot(*zip(*accuracy), marker="s", markersize=3, linestyle="--", color="tab:gray", label="token accuracy (right axis)")
        right.set_ylim(0, 1)
        right.set_ylabel("token accuracy (0..1)")
    ax.set_xlabel("SFT step")
    ax.set_title(f"phase 1: SFT warm start ({len(rows)} logged steps)", fontsize=10)
    ax.axvspan(min(steps) - 0.5, max(steps) + 0.5, color="tab:purple", alpha=0.06)
    _integer_ticks(ax)
    ax.grid(alpha=0.3)
    _legend_below(ax, right)


def _rl_panel(ax, rows: list[dict[str, Any]], *, warm_start: bool) -> None:
    steps = [r["step"] for r in rows]
    means = [_first(r, _REWARD) for r in rows]
    success = [(r["step"], v) for r in rows if (v := _first(r, _SUCCESS)) is not None]
    # A 0/1 reward's mean is the success rate: one line, named for both, rather than one hidden under the other.
    same = len(success) == len(rows) and all(abs(v - m) < 1e-9 for (_, v), m in zip(success, means))
    ax.plot(steps, means, marker="o", markersize=4, color="tab:blue",
            label="reward = success rate (mean over the step's episodes)" if same else "reward (mean over the step's episodes)")
    success = [] if same else success
    band = _reward_band(rows, means)
    if band is not None:
        low, high, label = band
        ax.fill_between(steps, low, high, color="tab:blue", alpha=0.15, label=label)
    plugins = sorted({k for r in rows for k in r if k.startswith("reward/") and k.endswith("/mean") and k not in _REWARD})
    for i, key in enumerate(plugins):
        pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], linestyle=_LINESTYLES[(i + 1) % 4], marker=_MARKERS[(i + 1) % 7],
                markersize=3, color=_PLUGIN_COLORS[i % len(_PLUGIN_COLORS)], label=key)
    values = [v for v in means if v is not None] + [r[k] for r in rows for k in plugins if isinstance(r.get(k), (int, float))]
    # Never auto-zoomed: the axis always spans 0..1 (and the rewards' range when wider), so a
    # change of 0.02 looks like one; on 0..1 its grid lines are the success rate's too. The
    # spread band does not widen it (a 0/1 reward's std runs past both ends).
    ax.set_ylim(min([0.0, *values]), max([1.0, *values]))
    ax.set_ylabel("episode reward")
    right = None
    if success:
        right = ax.twinx()
        right.plot(*zip(*success), linestyle=":", marker="^", markersize=4, color="black", label="success rate (right axis)")
        right.set_ylim(0, 1)
        right.set_ylabel("success rate (0..1)")
    ax.set_xlabel("RL step" + (" (after the warm start)" if warm_start else ""))
    ax.set_title(f"{'phase 2: ' if warm_start else ''}RL ({len(rows)} logged steps)", fontsize=10)
    _integer_ticks(ax)
    if len(set(steps)) == 1:
        ax.set_xlim(steps[0] - 1, steps[0] + 1)
    ax.grid(alpha=0.3)
    _legend_below(ax, right)


def _held_out_panel(ax, rows: list[dict[str, Any]], *, warm_start: bool) -> None:
    """The held-out score (``--eval_every``) per RL step with its 95% bootstrap CI as a band, on a
    0..1 axis; step 0 is the policy before RL (the warm start when there is one). The title names
    the metric, the tasks (N, split, env) and the model, as the rows record them."""
    by_step = {r["step"]: r for r in rows}  # a resumed run may log a step twice: the later row wins
    steps = sorted(by_step)
    points = [by_step[s] for s in steps]
    means = [_first(r, ("eval/score",)) for r in points]
    last = points[-1]
    metric = str(last.get("eval/metric") or "score")
    ax.plot(steps, means, marker="o", markersize=4, color="tab:green", label=f"held-out {metric} (greedy, mean over tasks)")
    lows, highs = [_first(r, ("eval/score_ci_low",)) for r in points], [_first(r, ("eval/score_ci_high",)) for r in points]
    if all(v is not None for v in lows + highs):
        ax.fill_between(steps, lows, highs, color="tab:green", alpha=0.15, label="95% bootstrap CI over tasks")
    ax.set_ylim(0, max([1.0, *(h for h in highs if h is not None)]))
    ax.set_ylabel(f"{metric} on held-out tasks (0..1)")
    start = "0 = " + ("after the warm start" if warm_start else "before RL")
    ax.set_xlabel(f"RL step ({start})")
    episodes = last.get("eval/episodes")
    tasks = f"N = {int(episodes)} " if isinstance(episodes, (int, float)) else ""
    data = f"{last['eval/split']} tasks" if last.get("eval/split") else "tasks"
    env = f" of {last['eval/env']}" if last.get("eval/env") else ""
    model = f"\nmodel {_short_model(last['eval/model'])}" if last.get("eval/model") else ""
    ax.set_title(f"held-out {metric} · {tasks}{data}{env}{model}", fontsize=10)
    _integer_ticks(ax)
    if len(steps) == 1:
        ax.set_xlim(steps[0] - 1, steps[0] + 1)
    ax.grid(alpha=0.3)
    _legend_below(ax, None)


def _short_model(model: Any) -> str:
    text = str(model)
    return Path(text.rstrip("/")).name if text.startswith(("/", ".", "~")) else text


def _legend_below(ax, right) -> None:
    """One legend for both y axes, under the panel, where it covers no line."""
    handles, labels = ax.get_legend_handles_labels()
    if right is not None:
        more = right.get_legend_handles_labels()
        handles, labels = handles + more[0], labels + more[1]
    if handles:
        ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)


def _reward_band(rows: list[dict[str, Any]], means: list[float]):
    """A 95% CI of each step's mean reward (normal approximation) when the log has the episodes'
    std and count; ±1 std when it has only the std; None otherwise."""
    stds = [_first(r, _REWARD_STD) for r in rows]
    if any(s is None for s in stds):
        return None
    counts = [_first(r, _EPISODES) for r in rows]
    if all(isinstance(n, (int, float)) and n > 1 for n in counts):
        half = [1.96 * s / math.sqrt(n) for s, n in zip(stds, counts)]
        label = "95% CI of the mean (normal approx.)"
    else:
        half, label = stds, "±1 std of episode rewards"
    return [m - h for m, h in zip(means, half)], [m + h for m, h in zip(means, half)], label


def _is_eval(row: dict[str, Any]) -> bool:
    return row.get("phase") == "eval"


def _is_sft(row: dict[str, Any]) -> bool:
    return row.get("phase") == "sft" or any(k.startswith("sft/") for k in row)


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> float | None:
    for key in keys:
        value = row.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    return None


def _number(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def _max_policies(result: EvalResult) -> int:
    counts: dict[str, int] = defaultdict(int)
    for r in result.rows:
        counts[r["env"]] += 1
    return max(counts.values(), default=1)
