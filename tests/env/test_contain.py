"""No model reply ends a rollout: out-of-bounds numbers are format errors, a tool that raises is a
typed tool error the model sees, counted as ``env_error`` and logged with the episode id."""

from __future__ import annotations

import logging
import random

import pytest

from memrl.actions import ToolCall, render_tool_call
from memrl.env import MemoryEnv, tool
from memrl.env.registry import make
from memrl.env.tools import MAX_TOP_K, collect_tools


def call(name, **arguments):
    return render_tool_call(ToolCall(name, arguments))


class Fragile(MemoryEnv):
    """A one-stage env whose tool raises on some input (an env bug), for the containment tests."""

    max_turns = 4

    def sample_task(self, rng: random.Random):
        return {"id": "fragile-0", "answer": "x"}

    def begin(self, task):
        self.context.append("system", self.system_prompt("Use the tools."), pinned=True)
        self.context.append("user", "Go.", pinned=True)

    def finish(self, answer: str) -> float:
        self.outcome.update(score=float(answer == "x"), success=answer == "x")
        return self.outcome["score"]

    @tool
    def Divide(self, n: int) -> str:
        """Divide 100 by a number.

        Args:
            n: The divisor.
        """
        return str(100 // n)

    @tool(bounds={"k": (2, 5)})
    def Pick(self, k: int, scale: float = 1.0) -> str:
        """Pick k things.

        Args:
            k: How many.
            scale: A factor.
        """
        return f"picked {k * scale}"


@pytest.mark.parametrize("memory", ["inprocess", "sqlite"])
@pytest.mark.parametrize("top_k", ["1e308", "1000", "0", "-5", "9" * 400, "1e999"])
def test_out_of_bounds_top_k_is_a_format_error_on_either_store(memory, top_k):
    env = make("memrl/FactRecall-v0", memory=memory)
    env.reset(seed=0)
    env.step(call("Add_memory", content="Alice lives in Paris."))
    messages, _, term, trunc, info = env.step(f'<tool_call>{{"name": "Retrieve_memory", "arguments": {{"query": "Alice", "top_k": {top_k}}}}}</tool_call>')
    assert not (term or trunc) and info["env_error"] is None
    assert info["format_error"] and "top_k" in info["format_error"], info["format_error"]
    assert f"from 1 to {MAX_TOP_K}" in info["format_error"] or "finite" in info["format_error"]
    assert len(info["format_error"]) < 300  # a 400-digit number is not echoed in full
    _, reward, term, _, _ = env.step(f"<answer>{env.task['answer']}</answer>")
    assert term


def test_tool_schemas_carry_their_bounds():
    specs = {name: spec for name, (spec, _) in collect_tools(make("memrl/FactRecall-v0")).items()}
    top_k = specs["Retrieve_memory"].parameters["properties"]["top_k"]
    assert (top_k["minimum"], top_k["maximum"]) == (1, MAX_TOP_K)  # the conventional top_k bounds
    fragile = Fragile()
    pick = fragile.tool_specs["Pick"].parameters["properties"]
    assert (pick["k"]["minimum"], pick["k"]["maximum"]) == (2, 5) and "minimum" not in pick["scale"]
    assert "minimum" not in fragile.tool_specs["Divide"].parameters["properties"]["n"]


def test_bounds_must_name_an_argument():
    class Typo(Fragile):
        @tool(bounds={"kk": (1, 2)})
        def Other(self, k: int) -> str:
            """Other.

            Args:
                k: How many.
            """
            return ""

    with pytest.raises(ValueError, match="names no argument 'kk'; its arguments are: k"):
        Typo()


def test_a_raising_tool_is_a_typed_error_the_episode_survives(caplog):
    env = Fragile()
    env.reset(seed=0)
    with caplog.at_level(logging.ERROR, logger="memrl.env.base"):
        messages, reward, term, trunc, info = env.step(call("Divide", n=0))
    assert not (term or trunc) and reward == 0.0
    assert messages[-1]["role"] == "tool"
    assert messages[-1]["content"] == "Tool error (env_error): Divide failed with ZeroDivisionError: integer division or modulo by zero"
    assert info["env_error"] == messages[-1]["content"] and info["format_error"] is None
    assert info["memory_ops"]["env_error"] == 1
    record = caplog.records[-1]
    assert "Fragile episode 'fragile-0' turn 1: tool Divide({'n': 0}) raised ZeroDivisionError" in record.getMessage()
    messages, _, _, _, info = env.step(call("Divide", n=4) + call("Divide", n=0))  # the good call still runs
    assert [m["content"] for m in messages[-2:]] == ["25", info["env_error"]] and info["memory_ops"]["env_error"] == 2
    _, _, _, _, info = env.step(call("Pick", k=3))
    assert info["env_error"] is None and info["memory_ops"]["env_error"] == 2  # per episode, not per turn
    _, reward, term, _, info = env.step("<answer>x</answer>")
    assert term and reward == 1.0


def test_declared_bounds_are_enforced_by_the_parser():
    env = Fragile()
    env.reset(seed=0)
    _, _, _, _, info = env.step(call("Pick", k=9))
    assert "argument 'k' must be an integer from 2 to 5, got the number 9" in info["format_error"]


def test_the_engine_plays_on_and_counts_env_errors(tokenizer):
    from memrl.rollout import RolloutEngine, RolloutLimits, ScriptedBackend
    from memrl.rollout.summary import summarize

    replies = iter([call("Divide", n=0), call("Divide", n=0), "<answer>x</answer>"] * 2)
    engine = RolloutEngine(ScriptedBackend(tokenizer, lambda _prompt: next(replies)),
                           limits=RolloutLimits(max_new_tokens=64, max_context_tokens=4096))
    trajectories = engine.rollout(Fragile, [{"id": "t", "answer": "x"}], group_size=2, seed=0)
    assert [t.env_reward for t in trajectories] == [1.0, 1.0]
    assert summarize(trajectories)["memory/ops/env_error"] == 2.0
