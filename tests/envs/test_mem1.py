"""MEM1: the context is rebuilt every turn; each segment's prompt is exactly what the model saw."""

from __future__ import annotations

import pytest

from memrl.env.registry import make
from memrl.rollout import RolloutEngine, RolloutLimits, ScriptedBackend


def reply(state: str, action: str) -> str:
    return f"<internal_state>{state}</internal_state>{action}"


def test_context_is_task_latest_reply_and_latest_observation():
    env = make("memrl/MEM1-v0", n_objectives=2)
    first, _ = env.reset(seed=0)
    q1, q2 = env.task["questions"]
    m, _, _, _, info = env.step(reply("S1", f"<search>{q1}</search>"))
    assert m[:2] == first and m[2]["content"] == reply("S1", f"<search>{q1}</search>")
    assert m[3]["role"] == "user" and env.task["answers"][0] in m[3]["content"] and len(m) == 4
    m, _, _, _, info = env.step(reply("S2", f"<search>{q2}</search>"))
    # The first reply and its observation are gone: the context stays four messages.
    assert len(m) == 4 and "S1" not in str(m) and m[2]["content"].startswith("<internal_state>S2")
    assert info["context"] == "rewrite" and info["memory_ops"]["consolidate"] == 2
    _, reward, term, _, info = env.step(reply("S3", f"<answer>{env.task['answers'][0]}; wrong</answer>"))
    assert term and reward == 1.0
    assert info["outcome"]["per_objective"] == [1.0, 0.0] and info["outcome"]["score"] == 0.5
    assert not info["outcome"]["success"]


def test_every_turn_is_its_own_segment_and_its_prompt_holds_the_previous_state(tokenizer):
    env = make("memrl/MEM1-v0", n_objectives=2)
    env.reset(seed=0)
    task = env.task
    q1, q2 = task["questions"]
    texts = [reply("alpha state", f"<search>{q1}</search>"), reply("beta state", f"<search>{q2}</search>"),
             reply("gamma state", f"<answer>{'; '.join(task['answers'])}</answer>")]
    engine = RolloutEngine(ScriptedBackend(tokenizer, texts), limits=RolloutLimits(max_new_tokens=64))
    (traj,) = engine.rollout(lambda: make("memrl/MEM1-v0", n_objectives=2), [task])
    assert traj.reward == 2.0 and len(traj.segments) == 3
    decode = lambda ids: tokenizer.decode(ids)  # noqa: E731
    for k, seg in enumerate(traj.segments):
        assert decode(seg.completion_ids).startswith(texts[k])  # the sampled reply, policy-masked
        assert seg.completion_mask == [1] * len(seg.completion_ids)  # no env tokens are trained on
    # The pitfall of MEM1's released mask: the state the rollout showed must be in the trained prompt.
    assert "alpha state" in decode(traj.segments[1].prompt_ids)
    assert "beta state" in decode(traj.segments[2].prompt_ids) and "alpha state" not in decode(traj.segments[2].prompt_ids)


def test_full_context_keeps_everything_and_appends():
    env = make("memrl/MEM1-v0", n_objectives=2, memory_mode="full_context")
    env.reset(seed=0)
    q1, q2 = env.task["questions"]
    env.step(reply("S1", f"<search>{q1}</search>"))
    m, _, _, _, info = env.step(reply("S2", f"<search>{q2}</search>"))
    assert len(m) == 6 and "S1" in m[2]["content"] and info["context"] == "append"


def test_none_mode_drops_the_reply():
    env = make("memrl/MEM1-v0", n_objectives=2, memory_mode="none")
    env.reset(seed=0)
    m, *_ = env.step(reply("S1", f"<search>{env.task['questions'][0]}</search>"))
    assert len(m) == 3 and "S1" not in str(m) and "<information>" in m[2]["content"]


def test_missing_state_is_a_format_error_shown_to_the_model():
    env = make("memrl/MEM1-v0", n_objectives=1)
    env.reset(seed=0)
    m, reward, term, trunc, info = env.step("<search>who</search>")
    # The error is shown before the search result, and the well-formed search still runs.
    assert info["format_error"] and "internal_state" in m[-2]["content"] and env.format_errors == 1
    assert m[-1]["content"].startswith("<information>")
    assert not term and reward == 0.0


def test_unsupported_mode_is_rejected():
    from memrl.errors import UserError

    with pytest.raises(UserError, match="does not support memory_mode 'retrieval'"):
        make("memrl/MEM1-v0", memory_mode="retrieval")


def test_benchmark_agents_solve_every_mode_and_mem1_stays_flat(monkeypatch):
    """bench/mem1_memory.py's scripted agents end to end on the three context rules (synthetic)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "mem1_memory.py"
    spec = importlib.util.spec_from_file_location("mem1_memory_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "SIZES", (1, 4))
    table = bench.run("synthetic", 2, None)
    for n in (1, 4):
        assert all(table[n][c]["em"] == 1.0 for c in bench.MODES)  # every rule scores the oracle right
    assert table[4]["mem1"]["segments"] == 5 and table[4]["memact"]["segments"] == 4 and table[4]["full_context"]["segments"] == 1
    assert table[4]["full_context"]["peak"] > 1.8 * table[4]["mem1"]["peak"]


def play_expert(env, task):
    env.reset(seed=0, options={"task": task})
    done, replies = False, []
    while not done:
        replies.append(env.expert_reply())
        _, _, terminated, truncated, info = env.step(replies[-1])
        done = terminated or truncated
    return info["outcome"], replies


@pytest.mark.parametrize("n", [1, 4, 16])
def test_the_scripted_expert_carries_its_answers_in_its_state_and_solves_synthetic_tasks(n):
    env = make("memrl/MEM1-v0", n_objectives=n)
    for task in env.make_tasks("test", 5, seed=0):
        outcome, replies = play_expert(env, task)
        assert outcome["score"] == 1.0 and env.format_errors == 0 and len(replies) == n + 1
        assert f"Q{n}: {task['answers'][-1]}" in replies[-1]  # the last state lists every answer


def test_the_scripted_expert_knows_only_what_its_context_shows():
    # With the reply dropped ("none") the search and its answer cannot be paired: the expert never
    # learns an answer, searches Q1 again and runs out of turns.
    env = make("memrl/MEM1-v0", n_objectives=2, memory_mode="none")
    outcome, replies = play_expert(env, env.make_tasks("test", 1, seed=0)[0])
    assert outcome.get("truncated") == "turn_limit" and all("Q1: " not in r for r in replies)
    # A search whose results miss the answer finds nothing: the answer says "unknown".
    env = make("memrl/MEM1-v0", n_objectives=1)
    task = env.make_tasks("test", 1, seed=0)[0]
    outcome, replies = play_expert(env, dict(task, documents=[d for d in task["documents"] if task["answers"][0] not in d["text"]]))
    assert "Q1: unknown" in replies[-1] and outcome["answer"] == "unknown" and outcome["score"] == 0.0


def test_the_scripted_expert_gives_sft_demonstrations():
    from memrl.train.warmstart import expert_demonstrations

    env = make("memrl/MEM1-v0", n_objectives=2)
    rows = expert_demonstrations(lambda: make("memrl/MEM1-v0", n_objectives=2), env.make_tasks("train", 3, seed=0))
    assert len(rows) == 9 and all(r["completion"][0]["content"].startswith("<internal_state>") for r in rows)
