"""The action parser: every valid form, every error kind, tool schemas, and fuzzing (never raises)."""

from __future__ import annotations

import time
from typing import Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memrl.actions import ERROR_KINDS, Action, ReplyFormat, ToolCall, ToolSpec, find_boxed, parse_action, render_tool_call
from memrl.actions.parser import MAX_CALLS, MAX_ERRORS


# -- tools the tables use ------------------------------------------------------------------------
def add_memory(content: str, tags: list[str] | None = None) -> str:
    """Store a fact in long-term memory.

    Args:
        content: The fact to store.
        tags: Optional labels.
    """
    return content


def retrieve_memory(query: str, top_k: int = 3) -> str:
    """Search long-term memory.

    Args:
        query: What to look for.
        top_k: How many entries to return.
    """
    return query


def set_mode(mode: Literal["fast", "slow"], weight: float = 1.0) -> str:
    """Switch the retrieval mode.

    Args:
        mode: The mode.
        weight: A weight.
    """
    return mode


def list_memory() -> str:
    """List every memory entry."""
    return ""


TOOLS = {s.name: s for s in map(ToolSpec.from_function, (add_memory, retrieve_memory, set_mode, list_memory))}
MEM1 = ReplyFormat(state_tag="internal_state", search_tag="search")
BOXED = ReplyFormat(answer="boxed")
FINAL = ReplyFormat(answer="final_answer")
PROTOCOLS = [ReplyFormat(), MEM1, BOXED, FINAL, ReplyFormat(state_tag="think")]


def call(name: str, **args) -> str:
    return render_tool_call(ToolCall(name, args))


def kinds(action: Action) -> list[str]:
    return [e.kind for e in action.errors]


# -- valid forms ---------------------------------------------------------------------------------
VALID = [
    # a tool call after a thought
    ("<think>store it</think>" + call("add_memory", content="Ann is 3"), ReplyFormat(), {"calls": [("add_memory", {"content": "Ann is 3"})], "think": "store it"}),
    # two tool calls in one turn keep their order
    (call("add_memory", content="a") + "\n" + call("retrieve_memory", query="b", top_k=2), ReplyFormat(), {"calls": [("add_memory", {"content": "a"}), ("retrieve_memory", {"query": "b", "top_k": 2})]}),
    # compact layout, no newlines around the JSON
    ('<tool_call>{"name":"retrieve_memory","arguments":{"query":"x"}}</tool_call>', ReplyFormat(), {"calls": [("retrieve_memory", {"query": "x"})]}),
    # arguments given as a JSON string holding an object (some models do this)
    ('<tool_call>{"name": "retrieve_memory", "arguments": "{\\"query\\": \\"x\\"}"}</tool_call>', ReplyFormat(), {"calls": [("retrieve_memory", {"query": "x"})]}),
    # a tool without parameters may leave "arguments" out
    ('<tool_call>{"name": "list_memory"}</tool_call>', ReplyFormat(), {"calls": [("list_memory", {})]}),
    # an integral float is an integer (JSON Schema's rule) and reaches the tool as int
    ('<tool_call>{"name": "retrieve_memory", "arguments": {"query": "x", "top_k": 2.0}}</tool_call>', ReplyFormat(), {"calls": [("retrieve_memory", {"query": "x", "top_k": 2})]}),
    # null is fine for an Optional argument; arrays are checked item by item
    (call("add_memory", content="x", tags=None) + call("add_memory", content="y", tags=["a", "b"]), ReplyFormat(), {"calls": [("add_memory", {"content": "x", "tags": None}), ("add_memory", {"content": "y", "tags": ["a", "b"]})]}),
    # an enum value from Literal, and an int where a number is wanted
    (call("set_mode", mode="slow", weight=2), ReplyFormat(), {"calls": [("set_mode", {"mode": "slow", "weight": 2})]}),
    # a plain answer, stripped
    ("<think>easy</think><answer> Paris </answer>", ReplyFormat(), {"answer": "Paris", "think": "easy"}),
    # tags inside a thought are content
    ("<think>maybe <answer>Rome</answer>? or <tool_call>{</think><answer>Paris</answer>", ReplyFormat(), {"answer": "Paris"}),
    # tags inside a tool call's JSON string are content, not nesting
    (call("add_memory", content="she wrote <answer>42</answer> and <think>"), ReplyFormat(), {"calls": [("add_memory", {"content": "she wrote <answer>42</answer> and <think>"})]}),
    # Qwen3 / R1: the template opened <think>, the reply starts inside it
    ("I know this.</think>\n<answer>Lima</answer>", ReplyFormat(), {"answer": "Lima", "think": "I know this."}),
    # MEM1: internal state and a search
    ("<internal_state>need Q1</internal_state><search> capital of Peru </search>", MEM1, {"calls": [("search", {"query": "capital of Peru"})], "state": "need Q1"}),
    # MEM1: internal state and the answer
    ("<internal_state>Q1: Lima</internal_state><answer>Lima</answer>", MEM1, {"answer": "Lima", "state": "Q1: Lima"}),
    # a protocol whose state is the thought itself
    ("<think>facts so far</think><answer>x</answer>", ReplyFormat(state_tag="think"), {"answer": "x", "state": "facts so far", "think": "facts so far"}),
    # MemAgent: boxed answer with nested braces
    ("so the answer is \\boxed{\\frac{1}{2}}.", BOXED, {"answer": "\\frac{1}{2}"}),
    # MemAgent: escaped braces do not count toward balance
    ("\\boxed{\\{1, 2\\}}", BOXED, {"answer": "\\{1, 2\\}"}),
    # MemAgent: a box inside the thought is not the answer
    ("<think>maybe \\boxed{3}</think>The answer is \\boxed{4}", BOXED, {"answer": "4", "think": "maybe \\boxed{3}"}),
    # MemAct: FINAL_ANSWER takes the rest of the text
    ("<think>done</think>FINAL_ANSWER: Lima, Peru\n", FINAL, {"answer": "Lima, Peru"}),
    # MemAct: tool calls without a final answer
    ("<think>look it up</think>" + call("retrieve_memory", query="Peru"), FINAL, {"calls": [("retrieve_memory", {"query": "Peru"})]}),
    # control characters are dropped, tabs and newlines kept
    ("\x00\x07<answer>\x1bLi\x7fma\x85\tPeru</answer>", ReplyFormat(), {"answer": "Lima\tPeru"}),
]


@pytest.mark.parametrize("text, protocol, expect", VALID)
def test_valid_forms(text, protocol, expect):
    action = parse_action(text, TOOLS, protocol)
    assert action.ok, action.errors
    assert [(c.name, c.arguments) for c in action.tool_calls] == expect.get("calls", [])
    assert action.answer == expect.get("answer")
    assert action.state == expect.get("state")
    if "think" in expect:
        assert action.think == expect["think"]


def test_tools_as_a_list_and_no_tools():
    text = call("retrieve_memory", query="x")
    assert parse_action(text, list(TOOLS.values())).tool_calls == (ToolCall("retrieve_memory", {"query": "x"}),)
    # without tools any well-formed call passes as written
    assert parse_action(call("anything", a=[1, {"b": None}])).tool_calls == (ToolCall("anything", {"a": [1, {"b": None}]}),)


# -- error kinds ---------------------------------------------------------------------------------
ERRORS = [
    # nothing at all
    ("", ReplyFormat(), "empty", "<answer>...</answer>"),
    # whitespace only
    ("  \n\t ", ReplyFormat(), "empty", "<tool_call>"),
    # not a string at all
    (None, ReplyFormat(), "empty", "<answer>"),
    # prose without an action
    ("I think Paris.", ReplyFormat(), "no_action", "<answer>...</answer>"),
    # MEM1 prose: the fix names its search tag
    ("<internal_state>s</internal_state> hmm", MEM1, "no_action", "<search>query</search>"),
    # MemAgent prose: the fix names \boxed
    ("the answer is 4", BOXED, "no_action", "\\boxed{...}"),
    # not JSON
    ("<tool_call>{name: add_memory}</tool_call>", ReplyFormat(), "malformed_json", '"name": "<tool>"'),
    # cut-off JSON
    ('<tool_call>{"name": "add_memory", "arguments": {"content": "x"</tool_call>', ReplyFormat(), "malformed_json", "not valid JSON"),
    # a JSON array of calls
    ('<tool_call>[{"name": "list_memory"}]</tool_call>', ReplyFormat(), "malformed_json", "one object per call"),
    # a JSON scalar
    ("<tool_call>42</tool_call>", ReplyFormat(), "malformed_json", "not an object"),
    # an object without "name"
    ('<tool_call>{"arguments": {}}</tool_call>', ReplyFormat(), "malformed_json", '"name" string'),
    # a name that is not a string
    ('<tool_call>{"name": 7, "arguments": {}}</tool_call>', ReplyFormat(), "malformed_json", '"name" string'),
    # NaN is not JSON
    ('<tool_call>{"name": "set_mode", "arguments": {"mode": "fast", "weight": NaN}}</tool_call>', ReplyFormat(), "malformed_json", "finite number"),
    # arguments that are not an object
    ('<tool_call>{"name": "list_memory", "arguments": [1]}</tool_call>', ReplyFormat(), "malformed_json", '"arguments": {...}'),
    # arguments as a string that is not JSON
    ('<tool_call>{"name": "list_memory", "arguments": "query=x"}</tool_call>', ReplyFormat(), "malformed_json", '"arguments": {...}'),
    # Llama's "parameters" instead of "arguments"
    ('<tool_call>{"name": "retrieve_memory", "parameters": {"query": "x"}}</tool_call>', ReplyFormat(), "malformed_json", 'under "arguments"'),
    # an empty tool call
    ("<tool_call> </tool_call>", ReplyFormat(), "malformed_json", "is empty"),
    # a typo in the tool name
    (call("Add_memroy", content="x"), ReplyFormat(), "unknown_tool", "did you mean 'add_memory'"),
    # a name from another method's tool set
    (call("prune_context", delete_ids=[1]), ReplyFormat(), "unknown_tool", "available: add_memory, retrieve_memory"),
    # a required argument left out
    (call("add_memory"), ReplyFormat(), "missing_argument", "add it to \"arguments\""),
    # an argument the tool does not take, with the closest real one
    (call("add_memory", contnet="x"), ReplyFormat(), "unexpected_argument", "did you mean 'content'"),
    # any argument to a tool that takes none
    (call("list_memory", query="x"), ReplyFormat(), "unexpected_argument", '"arguments": {}'),
    # a numeric string for an integer
    (call("retrieve_memory", query="x", top_k="3"), ReplyFormat(), "wrong_type", "must be an integer"),
    # true is not an integer
    (call("retrieve_memory", query="x", top_k=True), ReplyFormat(), "wrong_type", "must be an integer"),
    # 2.5 is not an integer
    (call("retrieve_memory", query="x", top_k=2.5), ReplyFormat(), "wrong_type", "must be an integer"),
    # null for an optional, non-nullable argument: leave it out instead
    (call("retrieve_memory", query="x", top_k=None), ReplyFormat(), "wrong_type", "leave 'top_k' out"),
    # a number where a string is wanted
    (call("add_memory", content=5), ReplyFormat(), "wrong_type", "must be a string"),
    # a bad item inside an array argument
    (call("add_memory", content="x", tags=["a", 3]), ReplyFormat(), "wrong_type", "'tags[1]' must be a string"),
    # a value outside the enum
    (call("set_mode", mode="turbo"), ReplyFormat(), "wrong_type", 'one of "fast", "slow"'),
    # true is not a number either
    (call("set_mode", mode="fast", weight=True), ReplyFormat(), "wrong_type", "must be a number"),
    # an answer never closed
    ("<answer>Paris", ReplyFormat(), "unclosed_tag", "</answer>"),
    # a closing tag that closes nothing
    ("Paris</answer>", ReplyFormat(), "unclosed_tag", "<answer>...</answer>"),
    # a thought never closed
    ("<think>so the answer is <answer>3</answer>", ReplyFormat(), "unclosed_tag", "</think>"),
    # a tool call cut off
    ('<tool_call>{"name": "list_memory"', ReplyFormat(), "unclosed_tag", "</tool_call>"),
    # a box never closed
    ("\\boxed{\\frac{1}{2}", BOXED, "unclosed_tag", "balance its braces"),
    # a tool call inside a tool call
    ("<tool_call><tool_call>{}</tool_call></tool_call>", ReplyFormat(), "nested_tag", "before opening the next"),
    # an answer inside an answer
    ("<answer>a<answer>b</answer></answer>", ReplyFormat(), "nested_tag", "close each with </answer>"),
    # a box inside a box
    ("\\boxed{\\boxed{4}}", BOXED, "nested_tag", "box the final answer once"),
    # two answers
    ("<answer>a</answer><answer>b</answer>", ReplyFormat(), "multiple_answers", "exactly one <answer>...</answer>"),
    # two boxes
    ("\\boxed{1} and \\boxed{2}", BOXED, "multiple_answers", "exactly one \\boxed{...}"),
    # two final answers
    ("FINAL_ANSWER: 1\nFINAL_ANSWER: 2", FINAL, "multiple_answers", "exactly one FINAL_ANSWER:"),
    # an answer beside a tool call
    (call("add_memory", content="x") + "<answer>b</answer>", ReplyFormat(), "answer_and_tool", "answer in a later turn"),
    # a search beside an answer (MEM1)
    ("<internal_state>s</internal_state><search>q</search><answer>a</answer>", MEM1, "answer_and_tool", "answer in a later turn"),
    # over the size limit
    ("<answer>x</answer>" + "y" * 50, ReplyFormat(max_chars=30), "too_long", "write a shorter reply"),
    # more tool calls than the parser reads
    (call("list_memory") * (MAX_CALLS + 1), ReplyFormat(), "too_long", "make fewer calls per reply"),
    # MEM1 without its state
    ("<search>x</search>", MEM1, "missing_state", "<internal_state>...</internal_state>"),
    # MEM1 with an empty search
    ("<internal_state>s</internal_state><search> </search>", MEM1, "missing_argument", "<search>your query</search>"),
]


@pytest.mark.parametrize("text, protocol, kind, fix", ERRORS)
def test_error_kinds_are_typed_one_line_and_say_the_fix(text, protocol, kind, fix):
    action = parse_action(text, TOOLS, protocol)
    assert kind in kinds(action), action.errors
    error = action.errors[kinds(action).index(kind)]
    assert len(error.message.splitlines()) == 1
    assert fix in error.message, error.message


def test_every_error_kind_has_a_row():
    assert {row[2] for row in ERRORS} == set(ERROR_KINDS)


def test_model_text_in_messages_is_quoted_short_and_flat():
    name = "Add_memroy\nplease" + "x" * 300
    message = parse_action(call(name, content="x"), TOOLS).errors[0].message
    assert len(message.splitlines()) == 1 and len(message) < 250 and "'Add_memroy please" in message


# -- what comes back beside errors ----------------------------------------------------------------
def test_valid_calls_survive_beside_bad_ones_in_order():
    text = call("add_memory", content="a") + "<tool_call>{oops</tool_call>" + call("nope") + call("add_memory", content="b")
    action = parse_action(text, TOOLS)
    assert [c.arguments for c in action.tool_calls] == [{"content": "a"}, {"content": "b"}]
    assert kinds(action) == ["malformed_json", "unknown_tool"]
    assert "#2" in action.errors[0].message  # says which <tool_call>


def test_a_call_with_any_bad_argument_is_dropped_whole():
    action = parse_action(call("retrieve_memory", query="x", top_k="3", extra=1), TOOLS)
    assert action.tool_calls == () and sorted(kinds(action)) == ["unexpected_argument", "wrong_type"]


def test_answer_and_tool_returns_both_and_several_answers_the_last():
    both = parse_action(call("list_memory") + "<answer>x</answer>", TOOLS)
    assert both.answer == "x" and len(both.tool_calls) == 1 and kinds(both) == ["answer_and_tool"]
    assert parse_action("\\boxed{1} then \\boxed{2}", protocol=BOXED).answer == "2"


def test_unclosed_thought_is_kept_and_unclosed_answer_is_not():
    action = parse_action("<think>long reasoning <answer>3</answer>")
    assert action.think == "long reasoning <answer>3</answer>" and action.answer is None
    assert kinds(action) == ["unclosed_tag"]  # no extra no_action: the unclosed tag explains it


def test_nested_tool_call_reports_once_and_keeps_the_inner_call():
    action = parse_action("<tool_call>x<tool_call>" + call("list_memory")[11:] + "</tool_call>", TOOLS)
    assert kinds(action) == ["nested_tag"] and action.tool_calls == (ToolCall("list_memory", {}),)


def test_errors_are_capped_and_the_last_counts_the_rest():
    action = parse_action("".join(f'<tool_call>{{"name": {i}}}</tool_call>' for i in range(30)), TOOLS)
    assert len(action.errors) == MAX_ERRORS
    assert "(and 20 more format errors not shown)" in action.errors[-1].message


def test_escaped_lone_surrogates_become_replacement_characters():
    action = parse_action('<tool_call>{"name": "add_memory", "arguments": {"content": "a\\ud800b"}}</tool_call>', TOOLS)
    assert action.tool_calls[0].arguments["content"] == "a\ufffdb"


def test_error_message_property_lists_each_error_on_its_own_line():
    action = parse_action("<answer>a</answer><answer>b</answer>" + call("list_memory"), TOOLS)
    assert action.error_message.splitlines() == [f"Format error ({e.kind}): {e.message}" for e in action.errors]


# -- protocol and schema ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, fix",
    [
        ({"answer": "boxd"}, "did you mean 'boxed'"),  # typo in the answer form
        ({"state_tag": "internal state"}, "bare tag name"),  # not a tag name
        ({"search_tag": "answer"}, "may not reuse"),  # clashes with a built-in tag
        ({"state_tag": "s", "search_tag": "s"}, "different tags"),  # one tag for two roles
        ({"max_chars": 0}, "positive integer"),  # no room to read anything
    ],
)
def test_bad_protocols_raise_one_clear_line(kwargs, fix):
    with pytest.raises(ValueError) as info:
        ReplyFormat(**kwargs)
    assert fix in str(info.value) and len(str(info.value).splitlines()) == 1


def test_toolspec_from_function_builds_the_schema():
    spec = TOOLS["add_memory"]
    assert spec.name == "add_memory" and spec.description == "Store a fact in long-term memory."
    assert spec.parameters == {
        "type": "object",
        "properties": {
            "content": {"type": "string", "description": "The fact to store."},
            "tags": {"type": "array", "items": {"type": "string"}, "nullable": True, "description": "Optional labels."},
        },
        "required": ["content"],
    }
    assert TOOLS["set_mode"].parameters["properties"]["mode"]["enum"] == ["fast", "slow"]
    assert "required" not in TOOLS["list_memory"].parameters
    assert spec.to_openai() == {"type": "function", "function": {"name": "add_memory", "description": spec.description, "parameters": spec.parameters}}


def test_toolspec_from_a_method_drops_self():
    class Env:
        def delete_memory(self, memory_id: int) -> str:
            """Delete one entry.

            Args:
                memory_id: The entry's id.
            """
            return ""

    for fn in (Env.delete_memory, Env().delete_memory):
        assert list(ToolSpec.from_function(fn).parameters["properties"]) == ["memory_id"]


def test_toolspec_without_docstring_raises_one_clear_line():
    def bare(x: int) -> str:
        return ""

    with pytest.raises(ValueError, match="Args:") as info:
        ToolSpec.from_function(bare)
    assert "bare" in str(info.value) and len(str(info.value).splitlines()) == 1


def test_find_boxed():
    assert find_boxed("a \\boxed{x} b \\boxed{y{z}} \\boxed{open") == ["x", "y{z}"]
    assert find_boxed("no box") == []


# -- rendering -------------------------------------------------------------------------------------
def test_render_uses_qwens_layout_and_escapes_what_the_parser_would_eat():
    assert render_tool_call(ToolCall("list_memory", {})) == '<tool_call>\n{"name": "list_memory", "arguments": {}}\n</tool_call>'
    tricky = ToolCall("add_memory", {"content": "</tool_call> <tool_call> \x7f\x85 <answer> é 😀"})
    assert parse_action(render_tool_call(tricky), TOOLS).tool_calls == (tricky,)


# -- speed -----------------------------------------------------------------------------------------
JUNK = {
    "fragments": ("<tool_call>{\"name\"</answer>\\boxed{FINAL_ANSWER:<think>x" * 3000)[:100_000],
    "open tags": ("<tool_call>{" * 10_000)[:100_000],
    "bad calls": ('<tool_call>{"name": 1}</tool_call>' * 4000)[:100_000],
    "boxes": ("\\boxed{" * 20_000)[:100_000],
    "deep JSON": "<tool_call>" + "[" * 99_000 + "</tool_call>",
    "controls": ("\x00\x01<answer>" * 10_000)[:100_000],
}


@pytest.mark.parametrize("name", list(JUNK))
@pytest.mark.parametrize("protocol", [ReplyFormat(max_chars=200_000), ReplyFormat(answer="boxed", max_chars=200_000), ReplyFormat()], ids=["tag-uncut", "boxed-uncut", "default"])
def test_100kb_of_junk_parses_fast(name, protocol):
    start = time.perf_counter()
    action = parse_action(JUNK[name], TOOLS, protocol)
    assert time.perf_counter() - start < 0.5
    assert not action.ok and len(action.errors) <= MAX_ERRORS


def test_typical_turn_takes_well_under_a_millisecond():
    text = "<think>Store the fact, it will be asked later.</think>\n" + call("add_memory", content="Alice lives in Paris.", tags=["people"])
    parse_action(text, TOOLS)
    start = time.perf_counter()
    for _ in range(200):
        action = parse_action(text, TOOLS)
    assert action.ok and (time.perf_counter() - start) / 200 < 500e-6  # ~25 us on one CPU core


# -- properties --------------------------------------------------------------------------------------
FRAGMENTS = ["<tool_call>", "</tool_call>", "{", "}", "[", "]", '"name"', '"arguments"', ":", ",", '"add_memory"',
             '"content"', '"x"', "1", "<answer>", "</answer>", "<think>", "</think>", "\\boxed{", "\\", "FINAL_ANSWER:",
             "<search>", "</search>", "<internal_state>", "</internal_state>", "\x00", "\x85", "\ud800", "\n", " ", "x", '"',
             "\\ud800"]
ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())  # controls and surrogates too


def check_invariants(action, tools):
    assert isinstance(action, Action)
    assert isinstance(action.tool_calls, tuple) and all(isinstance(c, ToolCall) for c in action.tool_calls)
    for e in action.errors:
        assert e.kind in ERROR_KINDS and e.message.strip() and len(e.message.splitlines()) == 1
    if tools is not None:
        assert all(c.name in tools or c.name == "search" for c in action.tool_calls)
    for text in (action.think, action.answer, action.state):
        assert text is None or isinstance(text, str)
    (action.think or "").encode("utf-8"), (action.answer or "").encode("utf-8")  # no lone surrogates
    assert action.ok or action.errors
    assert action.tool_calls or action.answer is not None or action.errors  # nothing found is an error


@settings(max_examples=300, deadline=None)
@given(st.text(ANY_CHAR, max_size=300), st.sampled_from(PROTOCOLS), st.sampled_from([TOOLS, None]))
def test_arbitrary_text_never_raises(text, protocol, tools):
    check_invariants(parse_action(text, tools, protocol), tools)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=60).map("".join), st.sampled_from(PROTOCOLS), st.sampled_from([TOOLS, None]))
def test_tag_soup_never_raises(text, protocol, tools):
    check_invariants(parse_action(text, tools, protocol), tools)


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.none(), st.integers(), st.binary(), st.lists(st.text())))
def test_non_strings_are_empty(value):
    assert kinds(parse_action(value, TOOLS)) == ["empty"]


NAMES = st.text(min_size=1, max_size=20).filter(str.strip)
VALUES = st.one_of(st.text(max_size=40), st.integers())


@settings(max_examples=300, deadline=None)
@given(NAMES, st.dictionaries(st.text(max_size=10), VALUES, max_size=4), st.text(max_size=40))
def test_any_rendered_call_round_trips(name, arguments, thought):
    thought = thought.replace("<", "(")  # a thought holding </think> would end early, by design
    action = parse_action(f"<think>{thought}</think>\n" + render_tool_call(ToolCall(name, arguments)))
    assert action.ok and action.tool_calls == (ToolCall(name, arguments),)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=40), st.integers(min_value=-(2**63), max_value=2**63 - 1)), min_size=1, max_size=5))
def test_validated_calls_round_trip(pairs):
    calls = [ToolCall("retrieve_memory", {"query": q, "top_k": k}) for q, k in pairs]
    action = parse_action("".join(map(render_tool_call, calls)), TOOLS)
    assert action.ok and action.tool_calls == tuple(calls)


@settings(max_examples=50, deadline=None)
@given(st.one_of(st.integers(min_value=2**63, max_value=10**30), st.integers(min_value=-(10**30), max_value=-(2**63) - 1)))
def test_integers_beyond_64_bits_are_refused(k):
    action = parse_action(call("retrieve_memory", query="q", top_k=k), TOOLS)
    assert kinds(action) == ["wrong_type"] and "fits in 64 bits" in action.errors[0].message


BOUNDED = ToolSpec("pick", "Pick.", {"type": "object", "properties": {
    "k": {"type": "integer", "minimum": 1, "maximum": 10},
    "x": {"type": "number", "exclusiveMinimum": 0},
    "n": {"type": ["integer", "null"], "minimum": 0},
}})


@pytest.mark.parametrize("arguments, message", [
    ('{"k": 1e308}', "argument 'k' must be an integer from 1 to 10, got the number 1e+308"),  # integral float, 309 digits
    ('{"k": 0}', "must be an integer from 1 to 10, got the number 0"),  # below the minimum
    ('{"k": 11.0}', "got the number 11"),  # above the maximum, after 11.0 -> 11
    ('{"x": 0}', "argument 'x' must be a number > 0, got the number 0"),  # exclusive bound
    ('{"x": NaN}', "NaN is not valid JSON"),  # refused before the schema (malformed_json)
    ('{"x": 1e999}', "argument 'x' must be a finite number, got the number inf"),  # valid JSON, overflows to inf
    ('{"n": -1}', "argument 'n' must be an integer >= 0 or null, got the number -1"),  # nullable and bounded
    ('{"k": 10, "x": 0.5, "n": null}', None),  # at the bounds: fine
])
def test_numeric_bounds(arguments, message):
    action = parse_action(f'<tool_call>{{"name": "pick", "arguments": {arguments}}}</tool_call>', {"pick": BOUNDED})
    if message is None:
        assert action.ok, action.errors
    else:
        assert len(action.errors) == 1 and message in action.errors[0].message, action.errors
        assert kinds(action) == ["malformed_json" if "not valid JSON" in message else "wrong_type"]
