"""MemAct: messages carry ids, prune deletes by id and keeps a memory, a segment ends at each prune."""

from __future__ import annotations

from memrl.actions import ToolCall, render_tool_call
from memrl.env.registry import make
from memrl.rollout import RolloutEngine, RolloutLimits, ScriptedBackend


def search(query: str) -> str:
    return render_tool_call(ToolCall("search", {"query": query}))


def prune(memory: str, ids: list[int]) -> str:
    return render_tool_call(ToolCall("prune_context", {"memory": memory, "delete_ids": ids}))


def test_ids_are_shown_and_a_prune_deletes_calls_and_results_and_keeps_the_memory():
    env = make("memrl/MemAct-v0", n_objectives=2)
    m, _ = env.reset(seed=0)
    q1, q2 = env.task["questions"]
    a1, a2 = env.task["answers"]
    assert m[1]["content"].startswith("[2] Questions:") and "prune_context" in m[0]["content"]
    m, _, _, _, info = env.step(search(q1))  # the reply is message 3, its result message 4
    assert info["context"] == "append" and m[2]["content"] == search(q1)
    assert m[3]["content"].startswith("[4] (reply to message 3) ") and a1 in m[3]["content"]
    m, _, _, _, info = env.step(prune(f"Q1: {a1}", [3, 4]) + search(q2))
    assert info["context"] == "rewrite" and info["memory_ops"]["prune"] == 1
    # Messages 3 and 4 are gone; the pruning reply (5), the memory (6) and both results follow the task.
    assert len(m) == 6 and m[2]["content"].startswith(prune(f"Q1: {a1}", [3, 4]))
    assert m[3]["content"] == f"[6] [memory] Q1: {a1}" and m[4]["content"].startswith("[7] (reply to message 5) pruned 2")
    assert m[5]["content"].startswith("[8] (reply to message 5) ") and a2 in m[5]["content"]
    _, reward, term, _, info = env.step(f"FINAL_ANSWER: {a1}; {a2}")
    assert term and reward == 2.0 and info["outcome"]["success"] and info["outcome"]["score"] == 1.0


def test_a_bad_prune_is_a_message_and_changes_nothing():
    env = make("memrl/MemAct-v0", n_objectives=1)
    env.reset(seed=0)
    m, _, _, _, info = env.step(prune("keep", [1]))
    assert "pinned" in m[-1]["content"] and info["context"] == "append" and len(m) == 4


def test_a_segment_ends_at_each_prune_and_only_there(tokenizer):
    env = make("memrl/MemAct-v0", n_objectives=2)
    env.reset(seed=0)
    task = env.task
    q1, q2 = task["questions"]
    texts = [search(q1), search(q2), prune("Q1 and Q2 found", [3, 4, 5, 6]) + search(q1),
             "FINAL_ANSWER: " + "; ".join(task["answers"])]
    engine = RolloutEngine(ScriptedBackend(tokenizer, texts), limits=RolloutLimits(max_new_tokens=128))
    (traj,) = engine.rollout(lambda: make("memrl/MemAct-v0", n_objectives=2), [task])
    assert traj.reward == 2.0 and traj.metrics["template_breaks"] == 0
    assert len(traj.segments) == 2  # turns 1-3 share a segment (appends); the prune starts the second
    first = tokenizer.decode(traj.segments[0].completion_ids)
    assert search(q1) in first and search(q2) in first and "prune_context" in first
    assert 0 < traj.segments[0].policy_tokens < len(traj.segments[0].completion_ids)  # env tokens masked
    assert "[memory] Q1 and Q2 found" in tokenizer.decode(traj.segments[1].prompt_ids)


def test_hide_prune_fraction_is_seeded_and_hides_the_tool():
    env = make("memrl/MemAct-v0", hide_prune_fraction=0.5)
    hidden = []
    for seed in range(200):
        m, _ = env.reset(seed=seed)
        hidden.append(env.prune_hidden)
        assert ("prune_context" in m[0]["content"]) != env.prune_hidden
    assert 70 < sum(hidden) < 130
    assert [env.reset(seed=s) and env.prune_hidden for s in range(20)] == hidden[:20]
    seed = hidden.index(True)
    env.reset(seed=seed)
    _, _, _, _, info = env.step(prune("x", [2]))
    assert "unknown_tool" in info["format_error"] and info["outcome"]["prune_hidden"]


def test_full_context_has_no_prune_tool():
    env = make("memrl/MemAct-v0", memory_mode="full_context")
    m, _ = env.reset(seed=0)
    assert "prune_context" not in m[0]["content"] and "search" in env.tool_specs


def play_expert(env, task, seed=0):
    env.reset(seed=seed, options={"task": task})
    done, replies = False, []
    while not done:
        replies.append(env.expert_reply())
        _, _, terminated, truncated, info = env.step(replies[-1])
        done = terminated or truncated
    return info, replies


def test_the_scripted_expert_prunes_before_each_new_search_and_solves_synthetic_tasks():
    env = make("memrl/MemAct-v0", n_objectives=4)
    for task in env.make_tasks("test", 5, seed=0):
        info, replies = play_expert(env, task)
        assert info["outcome"]["score"] == 1.0 and env.format_errors == 0 and len(replies) == 5
        assert info["memory_ops"]["prune"] == 3  # before searches 2, 3 and 4
        assert f"Q3: {task['answers'][2]}" in replies[3] and replies[-1].startswith("FINAL_ANSWER: ")
        # After the last prune the context is the task, one memory and one search: flat.
        assert len(env.context.messages) <= 2 + 6


def test_the_scripted_expert_searches_without_pruning_when_the_tool_is_hidden():
    env = make("memrl/MemAct-v0", n_objectives=3, hide_prune_fraction=1.0)
    info, replies = play_expert(env, env.make_tasks("test", 1, seed=0)[0])
    assert info["outcome"]["score"] == 1.0 and not any("prune_context" in r for r in replies)


def test_the_scripted_expert_gives_sft_demonstrations():
    from memrl.train.warmstart import expert_demonstrations

    env = make("memrl/MemAct-v0", n_objectives=2)
    rows = expert_demonstrations(lambda: make("memrl/MemAct-v0", n_objectives=2), env.make_tasks("train", 3, seed=0))
    assert len(rows) == 9 and sum("prune_context" in r["completion"][0]["content"] for r in rows) == 3
