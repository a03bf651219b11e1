"""``evaluate`` / ``run_policy``: exact scores with scripted agents, and a tiny-model run end to end."""

from __future__ import annotations

import json
import re

import pytest

from memrl.env.registry import make
from memrl.eval import EvalResult, evaluate, run_policy
from memrl.eval.plots import plot_context_vs_size, plot_learning_curve, plot_scores, read_training_log
from memrl.rollout import make_backend

ENV = "memrl/FactRecall-v0"


def oracle(tasks, *, correct=True):
    """A scripted agent: reads the facts, then answers the question from the task list (or wrongly)."""
    answers = {t["question"]: t["answer"] for t in tasks}

    def policy(prompt: str) -> str:
        asked = re.findall(r"Question: (.+?\?)", prompt)
        if not asked:
            return "<think>read</think>OK"
        return f"<answer>{answers[asked[-1]] if correct else 'nobody knows'}</answer>"

    return policy


@pytest.fixture(scope="module")
def tasks():
    return make(ENV).make_tasks("test", 6, 0)


def test_scripted_oracle_scores_exactly_one(tokenizer, tasks):
    backend = make_backend("scripted", tokenizer=tokenizer, policy=oracle(tasks))
    trajs = run_policy(None, tokenizer, ENV, tasks, backend=backend, batch_size=4)
    assert [t.outcome["score"] for t in trajs] == [1.0] * 6
    assert [t.task_id for t in trajs] == [t["id"] for t in tasks]  # order kept across batches


def test_paired_difference_of_a_perfect_policy_over_a_wrong_base(tokenizer, tasks):
    policies = {
        "base": make_backend("scripted", tokenizer=tokenizer, policy=oracle(tasks, correct=False)),
        "oracle": make_backend("scripted", tokenizer=tokenizer, policy=oracle(tasks)),
    }
    result = evaluate(policies, [ENV], episodes=6, split="test", task_seed=0, baselines="none")
    good, base = result.row("oracle", ENV), result.row("base", ENV)
    assert (good["score"], good["score_ci_low"], good["score_ci_high"]) == (1.0, 1.0, 1.0)
    assert (base["score"], base["no_answer"], base["success_rate"]) == (0.0, 0, 0.0)
    assert (good["diff_vs_base"], good["diff_ci_low"], good["diff_ci_high"]) == (1.0, 1.0, 1.0)
    assert base["diff_vs_base"] is None


def test_baselines_run_on_the_base_with_their_memory_mode(tokenizer, tasks):
    seen = []

    def policy(prompt):
        seen.append(prompt)
        return oracle(tasks)(prompt)

    result = evaluate({"base": make_backend("scripted", tokenizer=tokenizer, policy=policy)}, [ENV], episodes=6,
                      baselines="retrieval,heuristic")
    assert [r["policy"] for r in result.rows] == ["base", "retrieval", "heuristic"]
    assert result.row("retrieval", ENV)["memory_mode"] == "retrieval"
    assert any("Relevant memory:" in p for p in seen)  # the retrieval baseline's recall reached the prompt
    assert all(r["score"] == 1.0 for r in result.rows)


def test_reward_plugins_are_reported_per_component(tokenizer, tasks):
    backend = make_backend("scripted", tokenizer=tokenizer, policy=oracle(tasks))
    result = evaluate({"base": backend}, [ENV], episodes=6, baselines="none",
                      reward_plugins={"exact_match": 1.0, "format_compliance": 0.0})
    row = result.row("base", ENV)
    assert row["reward/exact_match/mean"] == 1.0
    assert "reward/format_compliance/mean" in row


@pytest.mark.slow
def test_tiny_model_all_baselines_writes_json_csv_png(tiny, tmp_path):
    result = evaluate({"base": tiny}, [ENV], episodes=3, max_new_tokens=4, batch_size=4)
    assert [r["policy"] for r in result.rows] == ["base", "none", "full_context", "retrieval", "heuristic"]
    for r in result.rows:
        assert r["episodes"] == 3 and len(r["episodes_detail"]) == 3
        assert r["context/peak_tokens"] > 0 and r["tokens/policy_mean"] > 0
        # A random model never answers: counted as 0 and reported, not hidden.
        assert r["no_answer"] == sum(not e["answered"] for e in r["episodes_detail"])
    result.to_json(tmp_path / "results.json")
    result.to_csv(tmp_path / "results.csv")
    back = EvalResult.from_json(tmp_path / "results.json")
    assert back.rows[2]["policy"] == "full_context" and back.config["episodes"] == 3
    header = (tmp_path / "results.csv").read_text().splitlines()[0].split(",")
    assert header[:6] == ["policy", "kind", "memory_mode", "env", "episodes", "score"]
    assert "episodes_detail" not in header
    plot_scores(result, tmp_path / "score.png")
    plot_context_vs_size(result, tmp_path / "context_vs_size.png")
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"step": s, "reward": s / 10}) for s in range(1, 6)) + "\n{\"step\": 6, \"loss\": 1}\n")
    assert plot_learning_curve(read_training_log(log), tmp_path / "learning_curve.png")
    for name in ("score.png", "context_vs_size.png", "learning_curve.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_training_log_without_rewards_plots_nothing(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1, "loss": 0.3}\n')
    assert not plot_learning_curve(read_training_log(log), tmp_path / "lc.png")
    assert not (tmp_path / "lc.png").exists()


def test_context_of_every_model_call_is_read_off_the_segments():
    from memrl.eval.metrics import call_context_tokens
    from memrl.rollout import Segment, Trajectory

    first = Segment(list(range(10)))
    first.add_policy([1, 2, 3], [0.0] * 3)  # call 1 ends at 13 tokens
    first.add_env([4] * 5)
    first.add_policy([5, 6], [0.0] * 2)  # call 2: 20
    second = Segment(list(range(7)))  # a rewrite: a new segment
    second.add_policy([1] * 4, [0.0] * 4)  # call 3: 11
    t = Trajectory("t", 0, 0, {}, segments=[first, second])
    assert call_context_tokens(t) == [13, 20, 11]


def test_rows_report_mean_and_peak_context(tokenizer, tasks):
    backend = make_backend("scripted", tokenizer=tokenizer, policy=oracle(tasks))
    row = evaluate({"base": backend}, [ENV], episodes=6, baselines="none").row("base", ENV)
    assert 0 < row["context/mean_tokens"] < row["context/peak_tokens_mean"] <= row["context/peak_tokens"]


def test_questions_are_pooled_by_category_across_episodes(tokenizer, tmp_path):
    # Memory-R1's manager scores ~20 questions an episode: the table pools them question by
    # question, so each category's mean is over its questions, not a mean of episode means.
    from memrl.scoring.locomo import CATEGORIES

    env = "memrl/MemoryR1-Manager-v0"
    result = evaluate({"base": make_backend("scripted", tokenizer=tokenizer, policy=lambda prompt: "OK")}, [env],
                      episodes=3, baselines="heuristic")
    heuristic = result.row("heuristic", env)
    questions = [q for e in heuristic["episodes_detail"] for q in e["per_question"]]
    table = heuristic["by_category"]
    assert table["all"]["n"] == len(questions) > 3
    for number, name in CATEGORIES.items():
        mine = [q["f1"] for q in questions if q["category"] == number]
        if mine:
            assert table[name]["n"] == len(mine) and table[name]["f1"] == pytest.approx(sum(mine) / len(mine))
    assert 0 < table["all"]["f1"] <= 1 and set(table["all"]) == {"f1", "em", "bleu1", "n"}
    result.to_csv(tmp_path / "r.csv")
    header = (tmp_path / "r.csv").read_text().splitlines()[0].split(",")
    assert "f1/all" in header and "bleu1/all" in header and "by_category" not in header


def test_bench_eval_gain_passes_a_real_gain_and_fails_none(tokenizer, tasks, tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("eval_gain", Path(__file__).parents[2] / "bench" / "eval_gain.py")
    eval_gain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(eval_gain)
    policies = {
        "base": make_backend("scripted", tokenizer=tokenizer, policy=oracle(tasks, correct=False)),
        "trained": make_backend("scripted", tokenizer=tokenizer, policy=oracle(tasks)),
        "same": make_backend("scripted", tokenizer=tokenizer, policy=oracle(tasks, correct=False)),
    }
    evaluate(policies, [ENV], episodes=6, baselines="none").to_json(tmp_path / "results.json")
    assert eval_gain.main([str(tmp_path / "results.json")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "paired_gain=1.0000"
    assert eval_gain.main([str(tmp_path / "results.json"), "--policy", "same"]) == 1  # no gain: exit 1
    assert capsys.readouterr().out.splitlines()[-1] == "paired_gain=0.0000"
    assert eval_gain.main([str(tmp_path / "results.json"), "--policy", "nope"]) == 2
    assert "policies there: base, trained, same" in capsys.readouterr().err
    assert eval_gain.main([str(tmp_path / "results.json"), "--policy", "same", "--against", "trained"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "paired_gain=-1.0000" and "same - trained" in out[-2] and "worse" in out[-2]


def test_hf_eval_batches_continuously_with_the_same_greedy_episodes(tiny, monkeypatch):
    """``run_policy`` with the hf backend by name plays every task in one continuous batch of at
    most ``batch_size`` rows; the greedy episodes are the ones the chunked turn-by-turn path plays,
    in task order, and the progress bar counts every episode once."""
    from memrl.rollout.backends.hf import HFBackend

    model, tokenizer = tiny
    tasks = make(ENV).make_tasks("test", 5, 0)

    submitted, started_at_finish = set(), []

    class Bar:
        n = 0

        def update(self, k):
            self.n += k
            started_at_finish.append(len(submitted))

    import memrl.eval.runner as runner

    def spied(*args, **kwargs):
        b = make_backend(*args, **kwargs)
        submit = b.submit
        b.submit = lambda key, *a: (submitted.add(key), submit(key, *a))[1]
        made.append(b)
        return b

    made = []
    monkeypatch.setattr(runner, "make_backend", spied)
    bar = Bar()
    kwargs = dict(batch_size=2, max_new_tokens=6, max_context_tokens=1024)
    streamed = run_policy(model, tokenizer, ENV, tasks, backend="hf", progress=bar, **kwargs)
    assert made[0].streaming and made[0].slots.max_rows == 2
    chunked = run_policy(model, tokenizer, ENV, tasks, backend=HFBackend(model, tokenizer), **kwargs)
    assert bar.n == len(tasks)
    # Episodes start as others end: when the first one ends only the first two have started.
    assert started_at_finish[0] == 2 and len(started_at_finish) > 1
    assert [t.task_id for t in streamed] == [t["id"] for t in tasks]
    assert [[s.ids for s in t.segments] for t in streamed] == [[s.ids for s in t.segments] for t in chunked]
    assert [t.outcome for t in streamed] == [t.outcome for t in chunked]
