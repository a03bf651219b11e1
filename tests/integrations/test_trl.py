"""memrl envs in TRL's own GRPOTrainer(environment_factory=...): tools, reset, reward, refusals."""

from __future__ import annotations

import inspect
import json

import pytest

from memrl.env.checker import check_env
from memrl.env.registry import make
from memrl.errors import UserError
from memrl.integrations.trl import (
    REWRITES, env_reward, environment_factory, template_renders_tools, tool_chat_template,
)
from memrl.models import tiny_model, tiny_tokenizer

ENV = "memrl/FactLookup-v0"


@pytest.fixture()
def tok():
    return tool_chat_template(tiny_tokenizer())


def test_the_lookup_env_passes_the_contract_and_only_appends():
    env = make(ENV)
    check_env(env)
    task = env.make_tasks("test", 1, seed=0)[0]
    messages, _ = env.reset(seed=0, options={"task": task})
    assert [m["role"] for m in messages] == ["system", "user"] and task["question"] in messages[1]["content"]
    name = task["question"].split()[-2].rstrip("'s")  # "What pet does Farah have?" -> Farah
    reply = f'<tool_call>{{"name": "Retrieve_memory", "arguments": {{"query": "{name}"}}}}</tool_call>'
    after, _, done, _, info = env.step(reply)
    assert info["context"] == "append" and not done and task["answer"] in after[-1]["content"]
    _, reward, done, _, info = env.step(f"<answer>{task['answer']}</answer>")
    assert done and reward == 1.0 and info["context"] == "append"


def test_with_several_facts_per_person_the_expert_still_solves_every_task():
    env = make(ENV, n_facts=12, per_person=3)
    train, test = env.make_tasks("train", 20, seed=0), env.make_tasks("test", 20, seed=0)
    assert not {t["question"] + str(t["facts"]) for t in train} & {t["question"] + str(t["facts"]) for t in test}
    for i, task in enumerate(test[:5]):
        people = [f.split()[0] for f in task["facts"]]
        assert len(task["facts"]) == 12 and all(people.count(p) == 3 for p in people)
        env.reset(seed=i, options={"task": task})
        done, reward = False, 0.0
        while not done:
            _, reward, done, truncated, _ = env.step(env.expert_reply())
            done = done or truncated
        assert reward == 1.0
    with pytest.raises(UserError, match="per_person"):
        make(ENV, per_person=5)


def test_tools_are_public_typed_docstringed_methods_and_nothing_else_is():
    from transformers.utils import get_json_schema

    Env = environment_factory(ENV, n_facts=4)
    public = [n for n, _ in inspect.getmembers(Env, inspect.isfunction) if not n.startswith("_")]
    assert public == ["Retrieve_memory", "reset"]  # TRL offers every other public function as a tool
    schema = get_json_schema(Env().Retrieve_memory)["function"]
    assert schema["description"].startswith("Search long-term memory")
    assert schema["parameters"]["properties"]["top_k"]["type"] == "integer"
    assert schema["parameters"]["required"] == ["query"]
    assert Env.max_tool_calling_iterations == make(ENV).max_turns - 1


def test_reset_tools_and_reward_play_the_memrl_episode(tok):
    Env = environment_factory(ENV)
    row = Env.dataset("train", 2, tokenizer=tok)[0]
    task = json.loads(row["task"])
    env = Env()
    assert env.reset(**row) is None  # the prompt is the row's own
    name = task["question"].split()[-2].rstrip("'s")
    assert task["answer"] in env.Retrieve_memory(query=name)
    assert env.Retrieve_memory(query=3).startswith("Format error (wrong_type)")  # memrl's own message
    right = [{"role": "assistant", "content": "", "tool_calls": [{"type": "function"}]},
             {"role": "tool", "content": "..."}, {"role": "assistant", "content": f"<answer>{task['answer']}</answer>"}]
    assert env_reward([right], environments=[env]) == [1.0]
    env.reset(**row)
    unanswered = [{"role": "assistant", "content": "", "tool_calls": [{"type": "function"}]}]
    assert env_reward([unanswered], environments=[env]) == [0.0]


def test_the_dataset_keeps_memrl_schemas_only_where_the_template_does_not_render_tools(tok):
    Env = environment_factory(ENV)
    assert not template_renders_tools(tok)
    assert "<tools>" in Env.dataset("train", 1, tokenizer=tok)[0]["prompt"][0]["content"]
    from trl.chat_template_utils import qwen2_5_chat_template

    qwen = tiny_tokenizer()
    qwen.chat_template = qwen2_5_chat_template
    assert template_renders_tools(qwen)
    row = Env.dataset("train", 1, tokenizer=qwen)[0]
    assert "<tools>" not in row["prompt"][0]["content"]  # TRL renders them from the tool methods
    env = Env()
    env.reset(**row)
    assert env._env.context.messages[0].content == row["prompt"][0]["content"]


@pytest.mark.parametrize("env_id", sorted(REWRITES))
def test_envs_whose_context_is_rewritten_are_refused_in_one_line(env_id):
    with pytest.raises(UserError, match="cannot run on TRL's environment_factory") as e:
        environment_factory(env_id)
    assert "\n" not in str(e.value) and "memrl/FactLookup-v0" in str(e.value)


def test_any_other_env_is_judged_by_its_shape():
    from memrl.env.registry import register, registry

    from memrl.envs.factrecall import FactRecallEnv

    if "test/StagedRecall-v0" not in registry:
        register("test/StagedRecall-v0", FactRecallEnv)
    with pytest.raises(UserError, match="overrides after_turn"):
        environment_factory("test/StagedRecall-v0")


def _reply(text: str, answers: dict[str, str], right: bool) -> str:
    """The scripted policy: a Retrieve_memory call for the question, then an answer."""
    question = next(q for q in answers if q in text)
    if "<tool_response>" not in text:
        return f'<tool_call>\n{{"name": "Retrieve_memory", "arguments": {{"query": "{question}"}}}}\n</tool_call>'
    return f"<answer>{answers[question] if right else 'no idea'}</answer>"


def _scripted(trainer, answers: dict[str, str], calls: list[int], seen: list):
    """Replaces TRL's generate with the scripted policy, right for every other answer (so a
    group has a reward spread), and records what TRL trains on."""
    tok = trainer.processing_class

    def generate(prompt_ids, images, multimodal_fields, num_generations, has_tool_images=False):
        out = []
        for i, ids in enumerate(prompt_ids):
            text = tok.decode(ids)
            reply = _reply(text, answers, right=len(calls) % 2 == 0)
            if "<tool_response>" in text:
                calls.append(i)
            out.append(tok.encode(reply, add_special_tokens=False) + [tok.eos_token_id])
        return out, None

    def record(prompts, _generate=trainer._generate):
        result = _generate(prompts)
        seen.append(result[:3])  # prompt_ids, completion_ids, tool_mask
        return result

    trainer._generate_single_turn = generate
    trainer._generate = record


def _trainer(tmp_path, Env, tok, **overrides):
    from peft import LoraConfig
    from trl import GRPOConfig, GRPOTrainer

    model, _ = tiny_model(seed=0)
    by_question = {t["question"]: t for t in make(ENV, n_facts=4).make_tasks("train", 40, seed=0)}
    tasks = list(by_question.values())[:8]  # one task per question: the scripted policy answers by question
    settings = dict(
        output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, num_generations=4,
        max_completion_length=96, max_tool_calling_iterations=Env.max_tool_calling_iterations,
        learning_rate=1e-3, logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, bf16=False,
        seed=0, disable_tqdm=True,
    )
    args = GRPOConfig(**{**settings, **overrides})
    return GRPOTrainer(model=model, processing_class=tok, reward_funcs=env_reward, args=args,
                       train_dataset=Env.dataset(tokenizer=tok, tasks=tasks), environment_factory=Env,
                       peft_config=LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))


def test_two_trl_grpo_steps_run_the_tool_loop_through_the_adapter(tmp_path, tok):
    Env = environment_factory(ENV, n_facts=4)
    trainer = _trainer(tmp_path, Env, tok)
    answers = {json.loads(r["task"])["question"]: json.loads(r["task"])["answer"] for r in trainer.train_dataset}
    calls: list[int] = []
    seen: list = []
    _scripted(trainer, answers, calls, seen)
    trainer.train()
    logs = [h for h in trainer.state.log_history if "loss" in h]
    assert trainer.state.global_step == 2 and len(logs) == 2
    assert all(h["tools/call_frequency"] == 1.0 and h["tools/failure_frequency"] == 0.0 for h in logs)
    assert all(h["rewards/env_reward/mean"] == 0.5 for h in logs)  # every other episode answered right
    assert len(calls) == 8

    # memrl's engine plays the first episode to exactly the tokens TRL trained on, with the
    # same loss mask (tool results 0): the side-by-side compares trainers, not prompts.
    from memrl.rollout import RolloutEngine, RolloutLimits
    from memrl.rollout.backends.scripted import ScriptedBackend

    prompt_ids, completion_ids, tool_mask = (x[0] for x in seen[0])
    task = next(json.loads(r["task"]) for r in trainer.train_dataset  # the row TRL's sampler drew first
                if json.loads(r["task"])["question"] in tok.decode(prompt_ids))
    backend = ScriptedBackend(tok, lambda text: _reply(text, answers, right=True))
    engine = RolloutEngine(backend, limits=RolloutLimits(max_new_tokens=96, max_context_tokens=2048))
    (traj,) = engine.play([make(ENV, n_facts=4)], [(0, 0, task, 0)])
    (segment,) = traj.segments
    assert segment.prompt_ids == list(prompt_ids)
    assert segment.completion_ids == list(completion_ids)
    assert segment.completion_mask == list(tool_mask)
    assert traj.env_reward == 1.0


def test_one_trl_grpo_step_samples_from_the_tiny_model(tmp_path, tok):
    Env = environment_factory(ENV, n_facts=4)
    trainer = _trainer(tmp_path, Env, tok, max_steps=1, max_completion_length=16)
    trainer.train()
    assert trainer.state.global_step == 1
    assert trainer.state.log_history[0]["rewards/env_reward/mean"] == 0.0  # a random model answers nothing


def test_memory_r1s_answer_agent_is_a_one_turn_trl_env(tok):
    Env = environment_factory("memrl/MemoryR1-Answer-v0", n_memories=10)
    assert Env.max_tool_calling_iterations == 0
    assert [n for n, _ in inspect.getmembers(Env, inspect.isfunction) if not n.startswith("_")] == ["reset"]
    row = Env.dataset("train", 1, tokenizer=tok)[0]
    task = json.loads(row["task"])
    assert task["question"] in row["prompt"][-1]["content"]
    env = Env()
    env.reset(**row)
    reply = env._env.expert_reply()
    own = make("memrl/MemoryR1-Answer-v0", n_memories=10)  # memrl's own loop on the same task and reply
    own.reset(seed=0, options={"task": task})
    _, expected, done, _, _ = own.step(reply)
    assert done and expected > 0
    assert env_reward([[{"role": "assistant", "content": reply}]], environments=[env]) == [expected]
