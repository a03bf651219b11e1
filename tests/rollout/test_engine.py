"""The rollout engine records exactly what the model saw and sampled."""

from __future__ import annotations

import copy
import math
import random

import pytest
import torch

from memrl.actions import ToolCall, render_tool_call
from memrl.env.base import MemoryEnv
from memrl.env.registry import make
from memrl.env.tools import tool
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams, ScriptedBackend
from memrl.rollout.backends.base import Backend, Generation
from memrl.rollout.backends.hf import HFBackend


class NotesEnv(MemoryEnv):
    """Append-only: the agent writes notes with a tool for a few turns, then answers."""

    max_turns = 6

    def sample_task(self, rng: random.Random) -> dict:
        return {"id": f"notes-{rng.randint(0, 99)}", "answer": "done"}

    def begin(self, task: dict) -> None:
        self.context.append("system", self.system_prompt("Take notes, then answer."), pinned=True)
        self.context.append("user", "Write notes, then say done.", pinned=True)

    def finish(self, answer: str) -> float:
        self.outcome["success"] = answer.strip() == "done"
        return float(self.outcome["success"])

    @tool
    def Add_memory(self, content: str) -> str:
        """Store a note.

        Args:
            content: The note.
        """
        return self.memory.add(content).message


class RecordingBackend(Backend):
    """Wraps another backend and keeps every generation it returned, per prompt."""

    def __init__(self, inner: Backend):
        super().__init__(inner.tokenizer)
        self.inner, self.calls, self.outputs = inner, 0, []

    def generate(self, prompts, sampling):
        self.calls += 1
        gens = self.inner.generate(prompts, sampling)
        self.outputs.append(list(zip(prompts, gens)))
        return gens


def notes_policy(prompt: str) -> str:
    turns = prompt.count("<|im_start|>assistant") - 1
    if turns < 3:
        return "<think>note</think>" + render_tool_call(ToolCall("Add_memory", {"content": f"note {turns}"}))
    return "<answer>done</answer>"


def policy_tokens(segment):
    return [t for t, m in zip(segment.completion_ids, segment.completion_mask) if m]


def test_append_episode_is_one_segment_equal_to_the_rendered_conversation(tokenizer):
    backend = RecordingBackend(ScriptedBackend(tokenizer, notes_policy))
    engine = RolloutEngine(backend)
    env = NotesEnv()
    [traj] = engine.play([env], [(0, 0, None, 7)])
    assert len(traj.segments) == 1 and traj.metrics["turns"] == 4
    assert traj.outcome["success"] and traj.reward == 1.0
    # The ids built turn by turn equal the template's rendering of the final conversation.
    final = env.context.to_messages()
    rendered = tokenizer.apply_chat_template(final, tokenize=False)
    full = tokenizer(rendered, add_special_tokens=False)["input_ids"]
    seg = traj.segments[0]
    assert full[: len(seg.ids)] == seg.ids
    assert tokenizer.decode(full[len(seg.ids):]) == "\n"  # only the template's trailing newline
    # Every policy token is the sampled one, in order; env tokens are masked out.
    sampled = [t for call in backend.outputs for _, g in call for t in g.token_ids]
    assert policy_tokens(seg) == sampled
    assert traj.metrics["env_tokens"] > 0 and traj.metrics["policy_tokens"] == len(sampled)


def fact_policy(prompt: str) -> str:
    if "Facts:" in prompt:
        facts = [line[2:] for line in prompt.split("\n") if line.startswith("- ")]
        return "".join(render_tool_call(ToolCall("Add_memory", {"content": f})) for f in facts)
    if "<|im_start|>tool" not in prompt:
        question = prompt.split("Question: ")[1].split("\n")[0]
        return render_tool_call(ToolCall("Retrieve_memory", {"query": question, "top_k": 1}))
    retrieved = prompt.split("<|im_start|>tool\n")[-1].split("<|im_end|>")[0]
    return f"<answer>{retrieved.split('.')[0].split()[-1]}</answer>"


def test_rewrite_episode_segments_are_exactly_what_the_model_was_shown(tokenizer):
    backend = RecordingBackend(ScriptedBackend(tokenizer, fact_policy))
    engine = RolloutEngine(backend)
    [traj] = engine.play([make("memrl/FactRecall-v0")], [(0, 0, None, 3)])
    assert [t["context"] for t in traj.turns] == ["rewrite", "rewrite", "append", "append"]
    assert len(traj.segments) == 2
    shown = [p for call in backend.outputs for p, _ in call]
    # Turn 1 was shown segment 0's prompt; turn 2 segment 1's prompt; turn 3 its extension.
    assert shown[0] == traj.segments[0].prompt_ids
    assert shown[1] == traj.segments[1].prompt_ids
    assert shown[2] == traj.segments[1].ids[: len(shown[2])]
    stage2 = traj.turns[1]["env_messages"]
    assert traj.segments[1].prompt_ids == tokenizer(
        tokenizer.apply_chat_template(stage2, tokenize=False, add_generation_prompt=True), add_special_tokens=False
    )["input_ids"]
    assert traj.metrics["memory_ops"]["add"] == 4
    assert traj.outcome["success"], traj.outcome


THINK_STRIPPING = (
    "{% for m in messages %}{% set c = m['content'] %}"
    "{% if m['role'] == 'assistant' and not loop.last and '</think>' in c %}{% set c = c.split('</think>')[-1] %}{% endif %}"
    "{{ '<|im_start|>' + m['role'] + '\n' + c + '<|im_end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def test_template_that_is_not_prefix_preserving_starts_a_new_segment(tokenizer):
    stripped = copy.deepcopy(tokenizer)
    stripped.chat_template = THINK_STRIPPING
    backend = ScriptedBackend(stripped, notes_policy)
    [traj] = RolloutEngine(backend).play([NotesEnv()], [(0, 0, None, 1)])
    assert traj.metrics["template_breaks"] >= 1
    assert len(traj.segments) == traj.metrics["template_breaks"] + 1
    # Each new segment starts from the re-rendered context the model was then shown.
    for seg in traj.segments[1:]:
        assert "<think>" not in stripped.decode(seg.prompt_ids)  # earlier thoughts were stripped


@pytest.mark.parametrize(
    "limits, reason",
    [
        (RolloutLimits(max_turns=2), "turn_limit"),  # engine cap below the env's 6 turns
        (RolloutLimits(max_context_tokens=250), "context_limit"),  # the growing context hits the cap
        (RolloutLimits(max_episode_tokens=40), "episode_token_limit"),  # policy tokens over the episode
    ],
)
def test_limits_end_the_episode_as_truncated_with_the_reason(tokenizer, limits, reason):
    backend = ScriptedBackend(tokenizer, notes_policy)
    [traj] = RolloutEngine(backend, limits=limits).play([NotesEnv()], [(0, 0, None, 1)])
    assert traj.metrics["truncated"] == reason
    assert all(len(s) <= limits.max_context_tokens for s in traj.segments)
    assert traj.metrics["policy_tokens"] <= limits.max_episode_tokens


def test_group_rollout_batches_one_call_per_turn_with_the_tiny_model(tiny):
    model, tokenizer = tiny
    backend = RecordingBackend(HFBackend(model, tokenizer))
    engine = RolloutEngine(backend, limits=RolloutLimits(max_new_tokens=12), sampling=SamplingParams(max_new_tokens=12, seed=0))
    tasks = make("memrl/FactRecall-v0").make_tasks("train", 2, seed=0)
    trajs = engine.rollout(lambda: make("memrl/FactRecall-v0"), tasks, group_size=8, seed=0)
    assert len(trajs) == 16 and {(t.group, t.sample) for t in trajs} == {(g, k) for g in range(2) for k in range(8)}
    assert backend.calls <= 4  # FactRecall's max_turns: every turn is one batched call
    assert len(backend.outputs[0]) == 16
    for t in trajs:
        assert t.task_id == tasks[t.group]["id"]
        for seg in t.segments:
            assert len(seg.completion_ids) == len(seg.completion_mask) == len(seg.logprobs)
            assert all(lp <= 0 and math.isfinite(lp) for lp, m in zip(seg.logprobs, seg.completion_mask) if m)


def test_hf_backend_logprobs_match_a_forward_pass(tiny):
    model, tokenizer = tiny
    prompts = [tokenizer("Hello there", add_special_tokens=False)["input_ids"], [5, 6, 7, 8, 9, 10, 11]]
    gens = HFBackend(model, tokenizer).generate(prompts, SamplingParams(max_new_tokens=6, temperature=0.7, seed=1))
    for prompt, gen in zip(prompts, gens):
        ids = torch.tensor([prompt + gen.token_ids])
        with torch.no_grad():
            logits = model(ids).logits[0, len(prompt) - 1 : -1].float() / 0.7
        expected = torch.log_softmax(logits, -1).gather(1, torch.tensor(gen.token_ids)[:, None]).squeeze(1)
        assert torch.allclose(torch.tensor(gen.logprobs), expected, atol=1e-4)
