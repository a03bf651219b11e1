"""The short-term context: ids, pinning, and the four operations with their error cases."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memrl.memory import Context


def make_context() -> Context:
    """1 system (pinned), 2 task (pinned), 3-6 a conversation about weather and a flight."""
    ctx = Context()
    ctx.append("system", "You are a helpful agent.", pinned=True)
    ctx.append("user", "Task: book a flight to Rome.", pinned=True)
    ctx.append("assistant", "Let me check the weather report first.")
    ctx.append("tool", "Weather report: sunny in Rome, 25 C.")
    ctx.append("assistant", "Now searching flights.")
    ctx.append("tool", "Flight AZ123 leaves at 9:00.")
    return ctx


def ids(ctx: Context) -> list[int]:
    return [m.id for m in ctx.messages]


def test_append_gives_increasing_ids_and_renders_messages():
    ctx = make_context()
    assert ids(ctx) == [1, 2, 3, 4, 5, 6] and len(ctx) == 6
    assert ctx.to_messages()[0] == {"role": "system", "content": "You are a helpful agent."}
    assert ctx.to_messages(show_ids=True)[3] == {"role": "tool", "content": "[4] Weather report: sunny in Rome, 25 C."}
    assert ctx.get(2).pinned and not ctx.get(3).pinned and ctx.get(99) is None
    assert ctx.token_count() == 5 + 6 + 7 + 7 + 3 + 5  # whitespace words by default
    assert ctx.token_count(len) == sum(len(m["content"]) for m in ctx.to_messages())


@pytest.mark.parametrize(
    "role, content, error",
    [
        ("", "x", ValueError),  # a role is required
        (None, "x", ValueError),  # not a string
        ("user", None, TypeError),  # environment code must pass text
    ],
)
def test_append_rejects_programming_errors(role, content, error):
    with pytest.raises(error):
        Context().append(role, content)


# -- summary ------------------------------------------------------------------------------
def test_summary_replaces_the_span_in_place():
    ctx = make_context()
    result = ctx.summary(3, 4, "Weather in Rome is sunny.")
    assert result.ok and result.op == "summary" and result.message == "summarised 2 messages into message 7"
    assert ids(ctx) == [1, 2, 7, 5, 6]
    assert ctx.get(7).content == "[summary of messages 3-4] Weather in Rome is sunny."
    assert ctx.get(7).role == "user" and not ctx.get(7).pinned
    assert ctx.ops == {"summary": 1}


def test_summary_over_pinned_messages_keeps_them():
    ctx = make_context()
    assert ctx.summary(1, 6, "Checked weather and found flight AZ123.").ok
    assert ids(ctx) == [1, 2, 7]


SUMMARY_ERRORS = [
    ((9, 10, "x"), "start_id: no message with id 9; live ids: 1, 2, 3, 4, 5, 6"),  # unknown start
    ((3, 42, "x"), "end_id: no message with id 42"),  # unknown end
    ((5, 3, "x"), "message 5 comes after message 3; give the span in reading order"),  # reversed span
    ((1, 2, "x"), "messages 1-2 are all pinned"),  # nothing unpinned
    ((3, 4, "   "), "text is empty"),  # empty summary
    ((3, 4, None), "text is empty"),  # not a string
    (("3", 4, "x"), "start_id must be an integer message id, got '3'"),  # a string id
    ((3, True, "x"), "end_id must be an integer message id, got True"),  # a bool is not an id
    ((3.0, 4, "x"), "got 3.0"),  # a float is not an id
]


@pytest.mark.parametrize("args, fragment", SUMMARY_ERRORS)
def test_summary_errors_change_nothing(args, fragment):
    ctx = make_context()
    before = ctx.snapshot()
    result = ctx.summary(*args)
    assert not result.ok and result.message.startswith("summary failed: ") and fragment in result.message
    assert ctx.snapshot() == before and ctx.ops == {"error": 1}


def test_summary_span_follows_reading_order_not_id_order():
    ctx = make_context()
    ctx.summary(3, 4, "weather: sunny")  # message 7 now sits before 5 and 6
    assert ids(ctx) == [1, 2, 7, 5, 6]
    assert ctx.summary(7, 5, "sunny; searching flights").ok  # 7 is shown first
    assert ids(ctx) == [1, 2, 8, 6]
    assert not ctx.summary(6, 8, "x").ok  # 6 is shown after 8


def test_ids_are_never_reused_after_summary():
    ctx = make_context()
    ctx.summary(3, 6, "done")
    assert ctx.append("user", "next") == 8


# -- filter -------------------------------------------------------------------------------
FILTERS = [
    ("weather", [1, 2, 5, 6], "removed 2 messages (3, 4)"),  # one keyword, case-insensitive
    ("WEATHER report, sunny", [1, 2, 3, 5, 6], "removed 1 message (4)"),  # all keywords must match
    ("flight", [1, 2, 3, 4], "removed 2 messages (5, 6)"),  # "flights" too; the pinned task stays
    ("agent", [1, 2, 3, 4, 5, 6], "no unpinned message contains all of: agent"),  # only pinned match
    ("submarine", [1, 2, 3, 4, 5, 6], "nothing removed"),  # no match is not an error
    ("9:00", [1, 2, 3, 4, 5], "removed 1 message (6)"),  # substrings, punctuation included
]


@pytest.mark.parametrize("criteria, remaining, message", FILTERS)
def test_filter(criteria, remaining, message):
    ctx = make_context()
    result = ctx.filter(criteria)
    assert result.ok and result.op == "filter" and message in result.message
    assert ids(ctx) == remaining


@pytest.mark.parametrize("criteria", ["", "  ,, ;", None, 7])
def test_filter_without_keywords_fails(criteria):
    ctx = make_context()
    result = ctx.filter(criteria)
    assert not result.ok and "criteria is empty" in result.message and len(ctx) == 6


# -- prune (MemAct) -------------------------------------------------------------------------
def test_prune_deletes_and_appends_the_memory():
    ctx = make_context()
    result = ctx.prune([3, 4, 3], "Rome: sunny, 25 C.")
    assert result.ok and result.message == "pruned 2 messages (3, 4); memory kept as message 7"
    assert ids(ctx) == [1, 2, 5, 6, 7]
    assert ctx.get(7).content == "[memory] Rome: sunny, 25 C." and ctx.get(7).role == "user"


PRUNE_ERRORS = [
    (([3, 41, 40], "m"), "no message with id 40, 41; live ids: 1, 2, 3, 4, 5, 6"),  # unknown ids, named
    (([2, 3], "m"), "message 2 is pinned"),  # the task stays
    (([], "m"), "delete_ids is empty"),  # nothing to prune
    (([3], ""), "memory is empty"),  # the note is the point of pruning
    ((3, "m"), "delete_ids must be a list of integer message ids, got 3"),  # a bare id
    (("3,4", "m"), "got '3,4'"),  # a string
    ((["3"], "m"), "got ['3']"),  # string ids
    (([None], "m"), "got [None]"),  # junk in the list
]


@pytest.mark.parametrize("args, fragment", PRUNE_ERRORS)
def test_prune_errors_change_nothing(args, fragment):
    ctx = make_context()
    before = ctx.snapshot()
    result = ctx.prune(*args)
    assert not result.ok and result.message.startswith("prune failed: ") and fragment in result.message
    assert "\n" not in result.message
    assert ctx.snapshot() == before and ctx.ops == {"error": 1}


# -- consolidate (MEM1) ----------------------------------------------------------------------
def test_consolidate_keeps_pinned_and_the_state():
    ctx = make_context()
    result = ctx.consolidate("<IS>Rome sunny; flight AZ123 at 9:00.</IS>")
    assert result.ok and result.message == "consolidated 4 messages into message 7"
    assert ctx.to_messages()[2:] == [{"role": "assistant", "content": "<IS>Rome sunny; flight AZ123 at 9:00.</IS>"}]
    assert ids(ctx) == [1, 2, 7]
    assert ctx.consolidate("<IS>next</IS>").ok and ids(ctx) == [1, 2, 8]  # constant size over turns


@pytest.mark.parametrize("state", ["", "  ", None])
def test_consolidate_needs_a_state(state):
    ctx = make_context()
    result = ctx.consolidate(state)
    assert not result.ok and "state is empty" in result.message and len(ctx) == 6


# -- property: whatever the model passes, nothing raises and pinned messages survive ---------
junk = st.one_of(st.none(), st.booleans(), st.integers(-3, 12), st.floats(allow_nan=True), st.text(max_size=12))
id_list = st.one_of(junk, st.lists(st.one_of(st.integers(-2, 12), junk), max_size=4))
calls = st.one_of(
    st.tuples(st.just("summary"), st.tuples(st.one_of(st.integers(0, 12), junk), st.one_of(st.integers(0, 12), junk), junk)),
    st.tuples(st.just("filter"), st.tuples(junk)),
    st.tuples(st.just("prune"), st.tuples(id_list, junk)),
    st.tuples(st.just("consolidate"), st.tuples(junk)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(calls, max_size=8))
def test_model_input_never_raises_nor_corrupts(sequence):
    ctx = make_context()
    seen: set[int] = set(ids(ctx))
    for op, args in sequence:
        before = ctx.snapshot()
        result = getattr(ctx, op)(*args)
        assert result.op == op and isinstance(result.message, str) and "\n" not in result.message
        if not result.ok:
            assert ctx.snapshot() == before
        assert ids(ctx)[:2] == [1, 2] and ctx.get(1).pinned  # pinned messages survive, in front
        assert len(set(ids(ctx))) == len(ctx)
        new = set(ids(ctx)) - seen
        assert all(i > max(seen) for i in new)  # new messages get fresh ids
        seen |= new
    assert sum(ctx.ops.values()) == len(sequence)
