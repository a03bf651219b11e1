"""MemAgent-v0: read turns rewrite an overwritten memory, the answer turn is boxed EM, baselines."""

from __future__ import annotations

import re

import pytest

from memrl.env.checker import check_env
from memrl.env.registry import make
from memrl.data.documents import approx_tokens
from memrl.errors import UserError
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams, make_backend
from tests.data.test_documents import hotpot_fixture

NEEDLE = re.compile(r"The special magic number for [\w-]+ is \d+\.")


def small(**kwargs):
    return make("memrl/MemAgent-v0", doc_tokens=600, chunk_tokens=128, memory_tokens=32, **kwargs)


def read_all(env, reply="noted"):
    while env.chunk_index < len(env.chunks):
        messages, reward, term, trunc, info = env.step(reply)
        assert (reward, term, trunc, info["context"]) == (0.0, False, False, "rewrite")
    return messages


def test_each_section_is_a_fresh_conversation_then_a_boxed_answer_scores_em():
    env = small()
    messages, info = env.reset(seed=3)
    n = len(env.chunks)
    assert n >= 4 and env.max_turns == n + 1 and info["context"] == "rewrite"
    assert [m["role"] for m in messages] == ["system", "user"] and "Section 1 of" in messages[1]["content"]
    messages, *_ = env.step("first memory")
    assert [m["role"] for m in messages] == ["system", "user"]  # the previous section is gone
    assert "Memory:\nfirst memory" in messages[1]["content"] and "Section 2 of" in messages[1]["content"]
    messages = read_all(env)
    assert "Section" not in messages[1]["content"] and "Memory:\nnoted" in messages[1]["content"]
    _, reward, term, trunc, info = env.step(f"\\boxed{{{env.task['answer'][0]}}}")
    assert reward == 1.0 and term and not trunc and info["outcome"]["success"]
    assert env.turn == n + 1 and env.format_errors == 0  # free-text memory is never a format error


def test_a_box_in_a_read_turn_does_not_end_the_episode_and_a_missing_box_scores_zero():
    env = small()
    env.reset(seed=1)
    _, reward, term, trunc, _ = env.step(f"\\boxed{{{env.task['answer'][0]}}}")
    assert (reward, term, trunc) == (0.0, False, False) and env.memory_text.startswith("\\boxed")
    read_all(env)
    _, reward, term, trunc, info = env.step("I do not know")
    assert (reward, term, trunc) == (0.0, True, False)
    assert info["outcome"]["answer"] is None and info["outcome"]["answered"] is False and env.done
    env.reset(seed=1)
    read_all(env)
    assert env.step("\\boxed{wrong}")[1] == 0.0


def test_memory_is_cut_to_its_bound_thoughts_are_dropped_and_overflows_counted():
    env = small()
    env.reset(seed=0)
    env.step("<think>plan " + "secret " * 50 + "</think> kept words " + "more " * 100)
    assert env.memory_text.startswith("kept words") and "secret" not in env.memory_text
    assert approx_tokens(env.memory_text) <= 32 and env.outcome["memory_overflows"] == 1
    env.step("short")
    assert env.memory_text == "short" and env.outcome["memory_overflows"] == 1
    env.step("cut off <think>while thinking")
    assert env.memory_text == "cut off"


def test_max_chunks_drops_the_rest_and_says_so():
    env = small(max_chunks=2)
    env.reset(seed=0)
    assert len(env.chunks) == 2 and env.max_turns == 3 and env.outcome["chunks_dropped"] >= 2


@pytest.mark.parametrize("kwargs, message", [
    ({"max_turns": 3}, "chunk_tokens or max_chunks"),
    ({"source": "wiki"}, "source 'wiki'"),
    ({"doc_tokens": [1024, 10]}, "doc_tokens"),
    ({"memory_mode": "heuristic"}, "does not support memory_mode 'heuristic'"),
])
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(UserError, match=re.escape(message)):
        make("memrl/MemAgent-v0", **kwargs)


def test_baselines_see_the_document_the_question_or_the_top_paragraphs():
    env = small(memory_mode="full_context")
    messages, _ = env.reset(seed=2)
    assert env.max_turns == 1 and all(p in messages[1]["content"] for p in env.task["paragraphs"])
    _, reward, term, *_ = env.step(f"\\boxed{{{env.task['answer'][0]}}}")
    assert reward == 1.0 and term
    env = small(memory_mode="none")
    messages, _ = env.reset(seed=2)
    assert env.task["question"] in messages[1]["content"] and "special magic number for" not in messages[1]["content"].replace(env.task["question"], "")
    env = small(memory_mode="retrieval")
    messages, _ = env.reset(seed=2)
    gold = env.task["paragraphs"][env.task["gold_positions"][0]]
    assert messages[1]["content"].startswith("Relevant memory:") and gold in messages[1]["content"]
    assert len(messages[1]["content"]) < len("\n\n".join(env.task["paragraphs"]))


def test_contract_holds_for_every_mode_and_for_hotpot_documents(tmp_path):
    for mode in ("agent", "none", "full_context", "retrieval"):
        check_env(small(memory_mode=mode))
    check_env(make("memrl/MemAgent-v0", source="hotpotqa", data_dir=str(hotpot_fixture(tmp_path)), doc_tokens=800,
                   chunk_tokens=200))


@pytest.mark.parametrize("source", ["needle", "hotpotqa"])
def test_the_scripted_expert_keeps_the_evidence_within_the_bound_and_scores_one(source, tmp_path):
    data = {"data_dir": str(hotpot_fixture(tmp_path))} if source == "hotpotqa" else {}
    env = small(source=source, **data)
    for seed in range(4):
        env.reset(seed=seed)
        gold = [env.task["paragraphs"][p] for p in env.task["gold_positions"]]
        while not env.done:
            reading = env.chunk_index < len(env.chunks)
            reward = env.step(env.expert_reply())[1]
            if reading:
                assert approx_tokens(env.memory_text) <= env.memory_tokens
        assert reward == 1.0 and env.outcome["memory_overflows"] == 0
        assert all(g[:20] in env.outcome["memory"] for g in gold)  # every gold paragraph was noted


def copy_needles(prompt: str) -> str:
    """A scripted reader: keep every needle seen (memory + section); answer from the memory."""
    needles = list(dict.fromkeys(NEEDLE.findall(prompt)))
    if "Section" in prompt:
        return " ".join(needles) or "nothing yet"
    numbers = re.findall(r"is (\d+)\.", " ".join(needles))
    return f"\\boxed{{{numbers[-1]}}}" if numbers else "no idea"


def test_rollout_records_one_segment_per_conversation_and_rewards_a_faithful_reader(tokenizer):
    env_kwargs = dict(doc_tokens=600, chunk_tokens=128, memory_tokens=64)
    tasks = make("memrl/MemAgent-v0", **env_kwargs).make_tasks("test", 2, seed=0)
    engine = RolloutEngine(make_backend("scripted", tokenizer=tokenizer, policy=copy_needles),
                           limits=RolloutLimits(max_new_tokens=64, max_context_tokens=1024), sampling=SamplingParams())
    trajs = engine.rollout(lambda: make("memrl/MemAgent-v0", **env_kwargs), tasks, group_size=2)
    for traj in trajs:
        assert traj.reward == 1.0 and traj.outcome["success"] and traj.truncated is None
        assert len(traj.segments) == traj.outcome["chunks"] + 1 == traj.metrics["turns"]
        assert all(s.policy_tokens > 0 for s in traj.segments)


def test_full_context_past_the_window_ends_as_context_limit(tokenizer):
    engine = RolloutEngine(make_backend("scripted", tokenizer=tokenizer, policy=lambda p: "\\boxed{1}"),
                           limits=RolloutLimits(max_new_tokens=16, max_context_tokens=256))
    trajs = engine.rollout(lambda: small(memory_mode="full_context"), [None], seed=0)
    assert trajs[0].truncated == "context_limit" and trajs[0].reward == 0.0
