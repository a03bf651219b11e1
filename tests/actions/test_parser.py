"""The action parser: every valid form, every error kind, and fuzzing (it never raises)."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memrl.actions import ERROR_KINDS, Protocol, ToolCall, ToolSpec, parse_action, render_tool_call


def add_memory(content: str, metadata: dict | None = None) -> str:
    """Store a fact.

    Args:
        content: The fact.
        metadata: Optional tags.
    """
    return content


def retrieve_memory(query: str, top_k: int = 3) -> str:
    """Search memory.

    Args:
        query: What to look for.
        top_k: How many entries.
    """
    return query


TOOLS = {s.name: s for s in (ToolSpec.from_function(add_memory), ToolSpec.from_function(retrieve_memory))}
MEM1 = Protocol(state_tag="internal_state", search_tag="search")


def call(name, **args):
    return render_tool_call(ToolCall(name, args))


@pytest.mark.parametrize(
    "text, protocol, expect",
    [
        # a tool call after a thought
        ("<think>store it</think>" + call("add_memory", content="Ann is 3"), Protocol(), {"calls": [("add_memory", {"content": "Ann is 3"})], "think": "store it"}),
        # two tool calls in one turn, in order
        (call("add_memory", content="a") + "\n" + call("retrieve_memory", query="b", top_k=2), Protocol(), {"calls": [("add_memory", {"content": "a"}), ("retrieve_memory", {"query": "b", "top_k": 2})]}),
        # arguments given as a JSON string (some models do this)
        ('<tool_call>{"name": "retrieve_memory", "arguments": "{\\"query\\": \\"x\\"}"}</tool_call>', Protocol(), {"calls": [("retrieve_memory", {"query": "x"})]}),
        # a plain answer
        ("<think>easy</think><answer> Paris </answer>", Protocol(), {"answer": "Paris"}),
        # tags inside a thought do not count
        ("<think>maybe <answer>Rome</answer>?</think><answer>Paris</answer>", Protocol(), {"answer": "Paris"}),
        # MEM1: internal state and a search
        ("<internal_state>need Q1</internal_state><search>capital of Peru</search>", MEM1, {"calls": [("search", {"query": "capital of Peru"})], "state": "need Q1"}),
        # MemAgent: boxed answer with nested braces
        ("so the answer is \\boxed{\\frac{1}{2}}", Protocol(answer="boxed"), {"answer": "\\frac{1}{2}"}),
        # MemAct: FINAL_ANSWER takes the rest of the text
        ("<think>done</think>FINAL_ANSWER: Lima, Peru", Protocol(answer="final_answer"), {"answer": "Lima, Peru"}),
    ],
)
def test_valid_forms(text, protocol, expect):
    action = parse_action(text, TOOLS if protocol.search_tag is None else None, protocol)
    assert action.ok, action.errors
    assert [(c.name, c.arguments) for c in action.tool_calls] == expect.get("calls", [])
    assert action.answer == expect.get("answer")
    assert action.state == expect.get("state")
    if "think" in expect:
        assert action.think == expect["think"]


@pytest.mark.parametrize(
    "text, protocol, kind, fix",
    [
        ("", Protocol(), "empty", "answer"),  # nothing at all
        ("   \n ", Protocol(), "empty", "answer"),  # whitespace only
        ("I think Paris.", Protocol(), "no_action", "<answer>"),  # prose, no tags
        ("<tool_call>{name: add_memory}</tool_call>", Protocol(), "malformed_json", '"name"'),  # not JSON
        ('<tool_call>["add_memory"]</tool_call>', Protocol(), "malformed_json", '"name"'),  # JSON, not an object
        (call("Add_memroy", content="x"), Protocol(), "unknown_tool", "did you mean 'add_memory'"),  # typo
        (call("add_memory"), Protocol(), "missing_argument", "'content'"),  # required argument missing
        (call("add_memory", content="x", colour="red"), Protocol(), "unexpected_argument", "'colour'"),  # extra argument
        (call("retrieve_memory", query="x", top_k="3"), Protocol(), "wrong_type", "integer"),  # string for int
        (call("retrieve_memory", query="x", top_k=True), Protocol(), "wrong_type", "integer"),  # bool is not an int
        ("<answer>Paris", Protocol(), "unclosed_tag", "</answer>"),  # never closed
        ("Paris</answer>", Protocol(), "unclosed_tag", "<answer>"),  # stray closing tag
        ("<answer><answer>x</answer></answer>", Protocol(), "nested_tag", "close"),  # nested
        ("<tool_call><tool_call>{}</tool_call></tool_call>", Protocol(), "malformed_json", "JSON"),  # nested call: its body is not JSON
        ("<answer>a</answer><answer>b</answer>", Protocol(), "multiple_answers", "exactly one"),  # two answers
        (call("add_memory", content="x") + "<answer>b</answer>", Protocol(), "answer_and_tool", "not both"),  # both
        ("<search>x</search>", MEM1, "missing_state", "<internal_state>"),  # MEM1 without its state
        ("\\boxed{1} and \\boxed{2}", Protocol(answer="boxed"), "multiple_answers", "exactly one"),  # two boxes
    ],
)
def test_error_kinds_are_typed_and_one_line(text, protocol, kind, fix):
    action = parse_action(text, TOOLS if protocol.search_tag is None else None, protocol)
    kinds = [e.kind for e in action.errors]
    assert kind in kinds, action.errors
    error = action.errors[kinds.index(kind)]
    assert error.kind in ERROR_KINDS
    assert "\n" not in error.message and error.message and fix in error.message


def test_valid_calls_survive_beside_a_bad_one():
    action = parse_action(call("add_memory", content="keep") + "<tool_call>{oops</tool_call>", TOOLS)
    assert [c.arguments for c in action.tool_calls] == [{"content": "keep"}]
    assert [e.kind for e in action.errors] == ["malformed_json"]


def test_control_characters_and_huge_junk_are_handled_fast():
    assert parse_action("\x00\x07<answer>\x1bok</answer>").answer == "ok"
    junk = ("<tool_call>{" * 3000 + "<answer>" * 3000 + "\\boxed{" * 3000 + "x" * 40_000)[:100_000]
    start = time.perf_counter()
    action = parse_action(junk, TOOLS, Protocol(max_chars=200_000))
    assert time.perf_counter() - start < 0.5
    assert not action.ok


def test_too_long_is_flagged_and_cut():
    action = parse_action("<answer>x</answer>" + "y" * 50, protocol=Protocol(max_chars=20))
    assert "too_long" in [e.kind for e in action.errors] and action.answer == "x"


def test_toolspec_from_function_builds_the_schema():
    spec = TOOLS["retrieve_memory"]
    assert spec.description == "Search memory."
    assert spec.parameters["properties"]["top_k"] == {"type": "integer", "description": "How many entries."}
    assert spec.parameters["required"] == ["query"]
    assert spec.to_openai()["function"]["name"] == "retrieve_memory"


FRAGMENTS = ["<tool_call>", "</tool_call>", "{", "}", '"name"', ":", '"add_memory"', '"arguments"', "<answer>",
             "</answer>", "<think>", "</think>", "\\boxed{", "FINAL_ANSWER:", "<search>", "</search>",
             "<internal_state>", "</internal_state>", "\x00", "\n", " ", "x", '"'] 

protocols = st.sampled_from([Protocol(), MEM1, Protocol(answer="boxed"), Protocol(answer="final_answer")])


def _check(action):
    assert isinstance(action.tool_calls, tuple) and isinstance(action.errors, tuple)
    for e in action.errors:
        assert e.kind in ERROR_KINDS and e.message and "\n" not in e.message


@settings(max_examples=300, deadline=None)
@given(st.text(), protocols)
def test_arbitrary_text_never_raises(text, protocol):
    _check(parse_action(text, TOOLS, protocol))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join), protocols)
def test_tag_soup_never_raises(text, protocol):
    _check(parse_action(text, TOOLS, protocol))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60).filter(lambda q: "</tool_call>" not in q), st.integers(min_value=1, max_value=10**6))
def test_rendered_tool_calls_round_trip(query, top_k):
    action = parse_action("<think>t</think>" + call("retrieve_memory", query=query, top_k=top_k), TOOLS)
    assert action.ok and action.tool_calls == (ToolCall("retrieve_memory", {"query": query, "top_k": top_k}),)
    assert json.loads(json.dumps(action.tool_calls[0].arguments)) == {"query": query, "top_k": top_k}
