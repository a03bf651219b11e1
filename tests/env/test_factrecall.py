"""The reference environment end to end with hand-written model text."""

from memrl.actions import ToolCall, render_tool_call
from memrl.env.registry import make


def store_all(env, facts):
    return "".join(render_tool_call(ToolCall("Add_memory", {"content": f})) for f in facts)


def test_store_then_retrieve_then_answer_scores_one():
    env = make("memrl/FactRecall-v0")
    messages, info = env.reset(seed=5)
    facts = env.task["facts"]
    assert info["context"] == "rewrite" and all(f in messages[1]["content"] for f in facts)
    assert "Add_memory" in messages[0]["content"]  # tool schemas are in the system prompt
    messages, reward, term, trunc, info = env.step("<think>store</think>" + store_all(env, facts))
    assert info["context"] == "rewrite" and not (term or trunc)  # stage change: context cleared
    assert env.task["question"] in messages[-1]["content"] and len(env.memory) == len(facts)
    messages, _, _, _, info = env.step(render_tool_call(ToolCall("Retrieve_memory", {"query": env.task["question"]})))
    assert info["context"] == "append" and messages[-1]["role"] == "tool"
    _, reward, term, trunc, info = env.step(f"<answer>{env.task['answer']}</answer>")
    assert term and not trunc and reward == 1.0 and info["outcome"]["success"]
    assert info["memory_ops"]["add"] == len(facts) and info["memory_ops"]["retrieve"] == 1


def test_bad_output_is_shown_to_the_model_and_counted():
    env = make("memrl/FactRecall-v0")
    env.reset(seed=1)
    env.step("no tags at all")  # stage 1 turn is used up; the context moves on
    messages, reward, term, trunc, info = env.step('<tool_call>{"name": "Add_memroy", "arguments": {}}</tool_call>')
    assert info["format_error"] and "Add_memory" in info["format_error"]
    assert messages[-1]["role"] == "tool" and "Format error" in messages[-1]["content"]
    assert env.format_errors == 2 and reward == 0.0 and not term


def test_wrong_answer_scores_zero_and_f1_gives_partial_credit():
    env = make("memrl/FactRecall-v0", metric="f1")
    env.reset(seed=2)
    env.step("<answer>skip</answer>")
    assert env.done and env.outcome["score"] == 0.0
    env.reset(seed=2)
    _, reward, *_ = env.step(f"<answer>maybe {env.task['answer']}</answer>")
    assert 0 < reward < 1


def test_turn_limit_truncates():
    env = make("memrl/FactRecall-v0", max_turns=2)
    env.reset(seed=0)
    env.step("hmm")
    _, _, term, trunc, info = env.step("hmm")
    assert trunc and not term and info["outcome"]["truncated"] == "turn_limit"
