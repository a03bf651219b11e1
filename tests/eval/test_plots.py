"""Plots name what they measure (metric, model, env, N), keep scores on a 0..1 axis, use integer
steps, mark the SFT phase and draw a CI where the log allows one."""

from __future__ import annotations

import json

import pytest

from memrl.eval import EvalResult
from memrl.eval.plots import (context_figure, learning_curve_figure, metric_name, plot_learning_curve, plot_scores,
                              read_training_log, score_figure)

pytest.importorskip("matplotlib")


def row(policy: str, env: str = "memrl/AgeMem-v0", score: float = 0.5, no_answer: int = 0, **extra) -> dict:
    episodes = [{"task_id": f"t{i}", "score": score, "answered": i >= no_answer, "success": False, "size": 4.0 + 2 * (i % 2),
                 "peak_context_tokens": 100 + i, "turns": 2} for i in range(6)]
    return {"policy": policy, "kind": "agent" if policy in ("base", "trained") else "baseline", "memory_mode": "agent",
            "env": env, "episodes": 6, "score": score, "score_ci_low": max(score - 0.1, 0.0), "score_ci_high": min(score + 0.1, 1.0),
            "no_answer": no_answer, "size_key": "n_items", "episodes_detail": episodes, **extra}


def result(*rows) -> EvalResult:
    return EvalResult(config={"model": "embedded", "model_path": "/root/.cache/memrl/smollm2-135m-instruct", "split": "test",
                              "env_kwargs": {}}, rows=list(rows))


def test_score_plot_names_metric_model_env_and_n():
    fig = score_figure(result(row("base", score=0.0, no_answer=6, metric="F1"), row("trained", score=0.74, metric="F1")))
    [ax] = fig.axes
    assert "memrl/AgeMem-v0" in ax.get_title() and "F1" in ax.get_title() and "N = 6" in ax.get_title()
    assert ax.get_ylabel().startswith("F1") and ax.get_ylim() == (0.0, 1.0)  # not zoomed in on 0.74
    assert "smollm2-135m-instruct" in fig._suptitle.get_text() and "/root" not in fig._suptitle.get_text()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels == ["base\n6/6 unanswered", "trained"]


def test_an_older_result_asks_the_env_for_its_metric():
    old = result(row("base", env="memrl/FactRecall-v0"), row("base", env="memrl/MemAgent-v0"), row("x", env="memrl/Gone-v0"))
    assert [metric_name(old, r) for r in old.rows] == ["EM", "boxed EM", "score"]


def test_context_plot_starts_at_zero_and_names_the_model():
    fig = context_figure(result(row("base", metric="F1"), row("full_context", metric="F1")))
    [ax] = fig.axes
    assert ax.get_ylim()[0] == 0 and "N = 6" in ax.get_title() and "smollm2" in fig._suptitle.get_text()
    assert [t for t in ax.get_xticks()] == [4.0, 6.0]


def integral(ticks) -> bool:
    return all(float(t).is_integer() for t in ticks)


def test_learning_curve_marks_the_sft_phase_and_keeps_rl_on_a_fixed_axis(tmp_path):
    rows = [{"step": s, "phase": "sft", "sft/loss": 2.0 / s, "sft/mean_token_accuracy": 0.5} for s in range(1, 5)]
    rows += [{"step": s, "reward/mean": 0.40 + 0.01 * s, "reward/std": 0.2, "rollout/episodes": 16, "success_rate": 0.3}
             for s in range(1, 4)]
    fig = learning_curve_figure(rows, title="learning curve · memrl/AgeMem-v0 · smollm2")
    sft, rl, sft_right, rl_right = fig.axes  # the right-hand (0..1) axes are added last
    assert "SFT warm start" in sft.get_title() and "RL" in rl.get_title()
    assert integral(sft.get_xticks()) and integral(rl.get_xticks())
    assert rl.get_ylim() == (0.0, 1.0) and rl_right.get_ylim() == (0.0, 1.0) and sft_right.get_ylim() == (0.0, 1.0)
    labels = rl.get_legend().get_texts()
    assert any("95% CI" in t.get_text() for t in labels)  # std and episode count: a CI of the mean


def test_learning_curve_without_sft_rows_has_one_panel_and_a_std_band_without_counts():
    rows = [{"step": s, "reward": -1.4 + 0.1 * s, "reward_std": 0.5} for s in (1, 2, 3)]
    fig = learning_curve_figure(rows)
    [rl] = fig.axes
    assert "SFT" not in rl.get_title() and integral(rl.get_xticks())
    low, high = rl.get_ylim()
    assert low == pytest.approx(-1.3) and high == 1.0  # the mean rewards and all of 0..1; the band does not widen it
    assert any("std" in t.get_text() for t in rl.get_legend().get_texts())


def test_a_log_of_strings_and_cut_lines_is_read(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "reward": "0.25"}\n{"step": 2, "rew\n{"step": "2", "reward": 0.5, "phase": "rl"}\n[1]\n')
    rows = read_training_log(log)
    assert [(r["step"], r["reward"]) for r in rows] == [(1, 0.25), (2.0, 0.5)]
    assert plot_learning_curve(rows, tmp_path / "lc.png") and (tmp_path / "lc.png").read_bytes()[:4] == b"\x89PNG"
    assert not plot_learning_curve([{"step": 1, "loss": 0.3}], tmp_path / "none.png")  # no reward, no SFT phase
    assert not (tmp_path / "none.png").exists()


def test_plots_are_written_with_the_users_permissions(tmp_path):
    import os

    plot_scores(result(row("base", metric="EM")), tmp_path / "score.png")
    mask = os.umask(0)
    os.umask(mask)
    assert (tmp_path / "score.png").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_success_rate_equal_to_the_reward_is_not_drawn_under_it():
    rows = [{"step": s, "reward": v, "success_rate": v} for s, v in ((1, 0.375), (2, 0.75), (3, 1.0))]
    [rl] = learning_curve_figure(rows).axes  # no second line, no right axis
    assert [t.get_text() for t in rl.get_legend().get_texts()] == ["reward = success rate (mean over the step's episodes)"]


def test_the_trainers_log_draws_both_phases(tmp_path):
    # The shape memrl.train.logging writes: SFT rows count their own steps under sft/step.
    log = tmp_path / "log.jsonl"
    sft = [{"phase": "sft", "sft/step": s, "sft/loss": 1.0 / s, "sft/mean_token_accuracy": 0.6} for s in (1, 2, 3)]
    sft.append({"phase": "sft", "sft/step": 3, "sft/train_runtime": 12.0, "sft/train_loss": 0.5})  # the run's summary line
    rl = [{"step": s, "reward": 0.2 * s, "reward_std": 0.1, "success_rate": 0.1 * s} for s in (1, 2)]
    log.write_text("".join(json.dumps(r) + "\n" for r in sft + rl))
    fig = learning_curve_figure(read_training_log(log))
    sft_ax, rl_ax = fig.axes[:2]
    assert "3 logged steps" in sft_ax.get_title() and "2 logged steps" in rl_ax.get_title()


def eval_row(step: int, score: float) -> dict:
    """A row as memrl.train.validation writes it (--eval_every)."""
    return {"step": step, "phase": "eval", "eval/score": score, "eval/score_ci_low": max(score - 0.2, 0.0),
            "eval/score_ci_high": min(score + 0.2, 1.0), "eval/episodes": 16, "eval/metric": "F1", "eval/split": "validation",
            "eval/env": "memrl/AgeMem-v0", "eval/model": "/root/.cache/memrl/smollm2-135m-instruct", "eval/reward": 0.1}


def test_held_out_rows_draw_a_panel_with_a_ci_band_naming_metric_model_and_data(tmp_path):
    sft = [{"phase": "sft", "sft/step": s, "sft/loss": 1.0 / s} for s in (1, 2)]
    rl = [{"step": s, "reward": 0.1 * s, "reward_std": 0.1, "rollout/episodes": 8} for s in (1, 2, 3, 4)]
    held_out = [eval_row(s, v) for s, v in ((0, 0.2), (2, 0.35), (4, 0.5))]
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(r) + "\n" for r in sft + held_out[:2] + rl + held_out[2:]))
    fig = learning_curve_figure(read_training_log(log))
    sft_ax, rl_ax, ax = fig.axes[:3]
    title = ax.get_title()
    for part in ("held-out F1", "N = 16 validation tasks", "memrl/AgeMem-v0", "smollm2-135m-instruct"):
        assert part in title, (part, title)
    assert "/root" not in title and ax.get_ylim() == (0.0, 1.0) and integral(ax.get_xticks())
    [line] = ax.get_lines()
    assert list(line.get_xdata()) == [0, 2, 4] and list(line.get_ydata()) == [0.2, 0.35, 0.5]
    assert any("95% bootstrap CI" in t.get_text() for t in ax.get_legend().get_texts())
    assert "after the warm start" in ax.get_xlabel()
    assert "4 logged steps" in rl_ax.get_title()  # eval rows are not RL steps


def test_a_log_of_only_held_out_rows_still_plots(tmp_path):
    assert plot_learning_curve([eval_row(0, 0.1), eval_row(1, 0.3)], tmp_path / "lc.png")
    [ax] = learning_curve_figure([eval_row(0, 0.1), eval_row(1, 0.3)]).axes
    assert "before RL" in ax.get_xlabel()
