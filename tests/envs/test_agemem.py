"""AgeMem-v0: stages and segments, tools, the composite reward, baselines, task sources."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from memrl.env.registry import make
from memrl.envs.agemem import AgeMemEnv
from memrl.data.hotpot_stages import hotpot_tasks, to_task
from memrl.data.paths import data_folder
from memrl.data.worlds import Knobs, canonical, make_world
from memrl.errors import UserError
from memrl.scoring import RewardError, RewardSet


def play(env: AgeMemEnv, replies, seed: int = 0, task=None):
    """Play replies (a list or a callable(env)) to the end; returns (total reward, infos)."""
    env.reset(seed=seed, options={"task": task} if task else None)
    total, infos, i = 0.0, [], 0
    while True:
        text = replies(env) if callable(replies) else replies[min(i, len(replies) - 1)]
        _, reward, terminated, truncated, info = env.step(text)
        total += reward
        infos.append(info)
        i += 1
        if terminated or truncated:
            return total, infos


def test_expert_scores_near_the_top_and_a_passive_agent_near_the_bottom():
    env = make("memrl/AgeMem-v0")
    expert = [play(env, lambda e: e.expert_reply(), seed=s)[0] for s in range(12)]
    passive = [play(env, ["<think>ok</think><answer>no idea</answer>"], seed=s)[0] for s in range(12)]
    # 0.86 at best with one turn a stage: the stored ids are out of sight in stage 2, so the
    # correction is added beside the stale fact and R_memory's no-stale quarter is lost.
    assert min(expert) > 0.8
    assert max(passive) < 0.35
    assert env.outcome["components"]["task"] == 0.0


def test_every_stage_change_is_a_rewrite_and_the_expert_makes_no_format_error():
    env = make("memrl/AgeMem-v0")
    _, infos = play(env, lambda e: e.expert_reply())
    assert [i["context"] for i in infos[:2]] == ["rewrite", "rewrite"]  # stage 1->2, 2->3
    assert all(i["format_error"] is None for i in infos)
    ops = infos[-1]["memory_ops"]
    # The correction is added: no stored id is in sight in stage 2 (its context was reset).
    assert ops["add"] == 5 and "update" not in ops and ops["summary"] == 1 and ops["retrieve"] == 1


def test_overflow_cuts_the_oldest_notes_and_is_penalised():
    env = make("memrl/AgeMem-v0", context_budget=20)
    # Stage 1: store nothing; stage 2: do nothing (no tool calls ends the stage); answer.
    play(env, ["<think>skip</think>", "<think>skip</think>", f"<answer>x</answer>"])
    assert env.outcome["overflow"] is True
    assert env.outcome["components"]["penalty"] == -0.5
    notes = [m for m in env.context.messages if not m.pinned]
    assert sum(len(m.content.split()) for m in notes) <= 20


def test_turn_limit_is_penalised_once():
    env = make("memrl/AgeMem-v0", context_budget=1000)
    call = '<tool_call>{"name": "Retrieve_memory", "arguments": {"query": "x"}}</tool_call>'
    total, infos = play(env, [call])
    assert env.outcome["components"]["penalty"] == -1.0
    assert env.outcome["truncated"] == "turn_limit"
    assert total == pytest.approx(env.outcome["reward"])


@pytest.mark.parametrize("call, expect", [
    ({"name": "Update_memory", "arguments": {"memory_id": "m99", "content": "x"}}, "m99"),  # unknown id
    ({"name": "Delete_memory", "arguments": {"memory_id": "nope"}}, "nope"),  # malformed id
    ({"name": "Summary_context", "arguments": {"span": "three to five"}}, "span"),  # bad span
    ({"name": "Filter_context", "arguments": {"criteria": ""}}, "empty"),  # nothing to match
])
def test_bad_tool_arguments_become_text_and_change_nothing(call, expect):
    env = make("memrl/AgeMem-v0", turns_per_stage=3)  # stage 1 goes on: the tool result is shown
    env.reset(seed=0)
    env.step("<think>store</think>" + "".join(
        f'<tool_call>{json.dumps({"name": "Add_memory", "arguments": {"content": f}})}</tool_call>' for f in env.task["facts"]))
    before_memory, before_context = env.memory.snapshot(), env.context.snapshot()
    messages, *_ = env.step(f"<tool_call>{json.dumps(call)}</tool_call>")
    assert expect in messages[-1]["content"]
    assert env.memory.snapshot() == before_memory
    assert [m for m in env.context.snapshot() if m["role"] == "user"] == [m for m in before_context if m["role"] == "user"]


def test_summary_without_text_keeps_first_sentences():
    env = make("memrl/AgeMem-v0")
    env.reset(seed=0)
    env.step("<think>skip</think>")
    ids = [m.id for m in env.context.messages if not m.pinned]
    env.step(f'<tool_call>{{"name": "Summary_context", "arguments": {{"span": "{ids[0]}-{ids[1]}"}}}}</tool_call>')
    assert env.context.ops["summary"] == 1 or env.stage == 3


def test_reward_weights_are_configurable_and_validated():
    env = make("memrl/AgeMem-v0", weights={"task": 1.0, "context": 0.0, "memory": 0.0})
    total, _ = play(env, lambda e: e.expert_reply())
    assert total == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown keys"):
        make("memrl/AgeMem-v0", weights={"tsak": 1.0})


@pytest.mark.parametrize("mode", ["none", "full_context", "retrieval", "heuristic"])
def test_baselines_answer_in_one_turn_without_tools(mode):
    env = make("memrl/AgeMem-v0", memory_mode=mode)
    messages, _ = env.reset(seed=3)
    assert env.tool_specs == {} and "Question:" in messages[-1]["content"]
    _, reward, terminated, _, _ = env.step(f"<answer>{env.task['answer']}</answer>")
    assert terminated and env.outcome["score"] == 1.0
    assert env.outcome["components"]["memory"] == 0.0  # rule-based writes earn no memory reward


def test_heuristic_memory_replaces_a_fact_on_conflict():
    env = make("memrl/AgeMem-v0", memory_mode="heuristic")
    env.reset(seed=0)
    contents = [e.content for e in env.memory.entries()]
    assert env.task["supporting"][0] in contents
    assert not set(env.task["stale"]) & set(contents)


def test_world_knobs_hops_and_updates():
    task = make_world(random.Random(5), Knobs(facts=5, hops=2, distractors=3, updates=1))
    assert len(task["supporting"]) == 2 and len(task["stale"]) == 1
    assert task["answer"] in task["supporting"][1]
    assert any(n.startswith("Update:") for n in task["notes"])
    assert all(task["answer"] not in n or n.startswith("Update:") for n in task["notes"])
    with pytest.raises(ValueError, match="hops"):
        Knobs(hops=3)


@pytest.mark.parametrize("sentence, key", [
    ("Update: Acme moved its base from Paris to Oslo.", ("Acme|hq", "Acme is based in Oslo.")),
    ("Update: Dana is no longer a nurse; Dana now works as a pilot.", ("Dana|job", "Dana works as a pilot.")),
    ("Chen lives in Quito.", ("Chen|city", "Chen lives in Quito.")),
    ("The park will plant two hundred new trees.", None),  # a distractor is no fact
])
def test_canonical_facts(sentence, key):
    assert canonical(sentence) == key


ITEM = {
    "question": "Which city is the capital of Zorland?", "answer": "Qux",
    "supporting_facts": {"title": ["Zorland", "Qux"], "sent_id": [1, 0]},
    "context": {"title": ["Zorland", "Qux", "Other"],
                "sentences": [["Zorland is a country.", " Its capital is Qux."], ["Qux is a city."], ["Other things happen."]]},
}


def test_hotpot_item_becomes_a_task(tmp_path):
    task = to_task(ITEM)
    assert task["facts"] == ["Its capital is Qux.", "Qux is a city."]
    assert task["notes"] == ["Other things happen."] and task["answer"] == "Qux"
    path = tmp_path / "hp.json"
    path.write_text(json.dumps([ITEM] * 3))
    env = make("memrl/AgeMem-v0", source="hotpotqa", path=str(path))
    tasks = [t for s in ("train", "validation", "test") for t in env.make_tasks(s, 10)]
    assert len(tasks) == 3  # one question, so all three copies land in the same split


@pytest.mark.parametrize("content, message", [("{nope", "not valid JSON"), ('{"a": 1}', "must be a list")])
def test_bad_hotpot_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message):
        hotpot_tasks("test", 5, path=path)
    with pytest.raises(UserError, match="not found"):
        hotpot_tasks("test", 5, path=tmp_path / "missing.json")


@pytest.mark.skipif(not (data_folder() / "hotpotqa").exists(), reason="../shared/data is not beside the repository")
def test_real_hotpot_file_splits_are_disjoint():
    splits = {s: hotpot_tasks(s, 1000) for s in ("train", "validation", "test")}
    assert sum(len(v) for v in splits.values()) == 100
    questions = [{t["question"] for t in v} for v in splits.values()]
    assert not (questions[0] & questions[1] or questions[0] & questions[2] or questions[1] & questions[2])
    env = make("memrl/AgeMem-v0", source="hotpotqa")
    total, _ = play(env, lambda e: e.expert_reply(), task=splits["test"][0])
    assert env.outcome["score"] == 1.0


def test_reward_plugins_hand_over_each_component_and_fail_loudly_elsewhere():
    env = make("memrl/AgeMem-v0")
    play(env, lambda e: e.expert_reply())
    rewards = RewardSet({"agemem_task": 1 / 3, "agemem_context": 1 / 3, "agemem_memory": 1 / 3, "agemem_penalty": 1.0})
    out = rewards(["x"], outcome=[env.outcome])
    assert out.total[0] == pytest.approx(env.outcome["reward"])
    assert set(out.components) == {"agemem_task", "agemem_context", "agemem_memory", "agemem_penalty"}
    with pytest.raises(RewardError, match="agemem_task"):
        rewards(["x"], outcome=[{"score": 1.0}])


def test_an_episode_the_engine_cuts_is_scored_like_a_turn_limit():
    # A token limit ends the episode in the engine; the agemem_* plugins still find components.
    from memrl.models.tiny import tiny_tokenizer
    from memrl.rollout import make_backend
    from memrl.rollout.engine import RolloutEngine, RolloutLimits
    from memrl.rewards.agemem import agemem_penalty, agemem_task

    tok = tiny_tokenizer()
    env = make("memrl/AgeMem-v0")
    task = env.make_tasks("test", 1, 0)[0]
    backend = make_backend("scripted", tokenizer=tok, policy=lambda prompt: "<think>" + "word " * 400)
    engine = RolloutEngine(backend, limits=RolloutLimits(max_new_tokens=64, max_episode_tokens=100))
    (traj,) = engine.rollout(lambda: make("memrl/AgeMem-v0"), [task])
    assert traj.metrics["truncated"] == "episode_token_limit"
    assert agemem_task([None], [traj.outcome]) == [0.0] and agemem_penalty([None], [traj.outcome])[0] <= -1.0
    assert traj.reward == traj.outcome["reward"] < 0
