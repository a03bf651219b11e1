"""The README's plugins on real episodes: scored by the trainer's reward step and by ``memrl eval``
(scripted agents, no model), with the prompts, token ids and memory the rollout engine recorded."""

from __future__ import annotations

import re
import types

import pytest

from memrl.actions import ToolCall, render_tool_call
from memrl.env.registry import make
from memrl.rollout import RolloutEngine, RolloutLimits, make_backend
from memrl.scoring import RewardSet
from tests.scoring.test_plugins import clean_registry, readme_plugins  # noqa: F401  (fixture)

ENV = "memrl/FactRecall-v0"
PLUGINS = {"mentions_city": 1.0, "readme_rewards:memory_budget": {"weight": 0.5, "limit": 0}}


@pytest.fixture
def tasks():
    """FactRecall tasks with the README plugin's column: ``city`` is the gold answer."""
    return [dict(t, city=t["answer"]) for t in make(ENV).make_tasks("test", 4, 0)]


def storing_oracle(tasks):
    """Stores the first fact, then answers right (a memory of one entry, a correct answer)."""
    answers = {t["question"]: t["answer"] for t in tasks}

    def policy(prompt: str) -> str:
        asked = re.findall(r"Question: (.+?\?)", prompt)
        if asked:
            return f"<answer>{answers[asked[-1]]}</answer>"
        fact = re.search(r"Facts:\n- (.+)", prompt).group(1)
        return render_tool_call(ToolCall("Add_memory", {"content": fact}))

    return policy


def test_readme_plugins_score_training_episodes(tokenizer, tasks):
    """The trainer's reward step (``MemoryGRPOTrainer._score``) on engine-played episodes."""
    from memrl.train.grpo import MemoryGRPOTrainer

    readme_plugins()
    backend = make_backend("scripted", tokenizer=tokenizer, policy=storing_oracle(tasks))
    trajs = RolloutEngine(backend, limits=RolloutLimits(max_new_tokens=64)).rollout(lambda: make(ENV), tasks, group_size=2)
    seen = {}

    def spy(prompts, completions, completion_ids, trainer_state, final_memory, turns, **kwargs):
        seen.update(prompts=prompts, completions=completions, ids=completion_ids, state=trainer_state,
                    memory=final_memory, turns=turns)
        return [0.0] * len(completions)

    trainer = types.SimpleNamespace(rewards=RewardSet({**PLUGINS, spy: 0.0}), state="trainer state")
    totals = MemoryGRPOTrainer._score(trainer, trajs)
    assert totals == [1.0 - 0.5] * 8  # the city named; one memory entry over a limit of 0
    assert trajs[0].rewards == {"mentions_city": 1.0, "memory_budget": -1.0, "spy": 0.0}
    assert seen["state"] == "trainer state"
    question = tasks[0]["question"]
    assert seen["prompts"][0][0]["role"] == "system" and question in seen["prompts"][0][-1]["content"]
    assert seen["completions"][0] == [{"role": "assistant", "content": f"<answer>{tasks[0]['answer']}</answer>"}]
    assert tokenizer.decode(seen["ids"][0], skip_special_tokens=True) == seen["completions"][0][0]["content"]
    assert seen["memory"][0][0]["content"] in tasks[0]["facts"]
    turns = seen["turns"][0]  # the reset, the Add_memory turn, the answer
    assert [t["policy_text"] for t in turns] == [None, turns[1]["policy_text"], seen["completions"][0][0]["content"]]
    assert "Add_memory" in turns[1]["policy_text"] and turns[1]["memory"] == seen["memory"][0]


def test_readme_plugins_score_eval_episodes(tokenizer, tasks):
    from memrl.eval import evaluate

    readme_plugins()
    backend = make_backend("scripted", tokenizer=tokenizer, policy=storing_oracle(tasks))
    result = evaluate({"base": backend}, [ENV], tasks={ENV: tasks}, baselines="none", reward_plugins=PLUGINS)
    row = result.row("base", ENV)
    assert row["reward/mentions_city/mean"] == 1.0 and row["reward/memory_budget/mean"] == -1.0
    assert row["score"] == 1.0


def test_eval_checks_plugins_against_the_tasks_before_playing(tokenizer, tasks):
    from memrl.errors import UserError
    from memrl.eval import evaluate

    readme_plugins()
    played = []
    backend = make_backend("scripted", tokenizer=tokenizer, policy=lambda p: played.append(p) or "<answer>x</answer>")
    no_city = [{k: v for k, v in t.items() if k != "city"} for t in tasks]
    with pytest.raises(UserError, match=r"reward 'mentions_city' needs 'city': not a task column"):
        evaluate({"base": backend}, [ENV], tasks={ENV: no_city}, baselines="none", reward_plugins=PLUGINS)
    assert played == []


def first_word_is_an_operation(prompts, completions, **kwargs):
    """A plugin in TRL's conversational shape, as the README writes them: 1 if the final reply
    starts with a memory operation word."""
    return [float(c[-1]["content"].split()[:1] in (["add"], ["update"], ["delete"], ["skip"])) for c in completions]


def test_readme_plugins_train_one_grpo_step(tmp_path):
    """One real GRPO step of the tiny model (the toy task) scored only by plugins."""
    import json

    from tests.train.test_learning import toy_trainer

    readme_plugins()
    plugins = {"tests.scoring.test_episodes:first_word_is_an_operation": 1.0,
               "readme_rewards:memory_budget": {"weight": 0.5, "limit": 0}}
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16, reward_plugins=plugins)
    trainer.train()
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    row = next(r for r in logged if "reward/first_word_is_an_operation/mean" in r)
    assert row["reward/memory_budget/mean"] == 0.0  # the toy task stores nothing
    assert 0.0 <= row["reward/first_word_is_an_operation/mean"] <= 1.0
