"""Built-in rewards and the text helpers under them: SQuAD normalisation, EM and F1, boxed and
<answer> extraction, multi-answer EM, format compliance; property tests on arbitrary model text;
and a call made by TRL's own GRPOTrainer code."""

from __future__ import annotations

import time
import types

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memrl.rewards.format import format_compliance
from memrl.rewards.match import boxed_em, exact_match, multi_answer_em, multi_answer_em_fraction, token_f1
from memrl.scoring import call_reward, completion_text
from memrl.scoring.text import answer_blocks, answer_text, extract_boxed, normalize, split_answers
from memrl.scoring.text import exact_match as em
from memrl.scoring.text import token_f1 as f1

BUILTINS = [exact_match, token_f1, multi_answer_em, multi_answer_em_fraction, boxed_em, format_compliance]


# -- text helpers --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, norm",
    [
        ("The  Eiffel Tower!", "eiffel tower"),  # article, punctuation, double space
        ("an Apple, a day", "apple day"),  # a / an
        ("THEORY of theatre", "theory of theatre"),  # 'the' only as a whole word
        ("Denver Broncos", "denver broncos"),  # SQuAD dev: plain lowercase
        ("the Denver Broncos.", "denver broncos"),  # SQuAD dev: article and full stop
        ("Saint-Denis's", "saintdeniss"),  # SQuAD drops hyphens and apostrophes without a space
        ("\tone\n two ", "one two"),  # any whitespace
        ("“quoted”", "“quoted”"),  # non-ASCII punctuation stays, as in SQuAD
        ("", ""),  # empty
    ],
)
def test_normalize(text, norm):
    assert normalize(text) == norm


@pytest.mark.parametrize(
    "pred, gold, e, f",
    [
        ("Denver Broncos", "Denver Broncos", 1.0, 1.0),  # SQuAD: identical
        ("the Denver Broncos", "Denver Broncos", 1.0, 1.0),  # SQuAD: article ignored
        ("Broncos", "Denver Broncos", 0.0, 2 / 3),  # SQuAD: P=1, R=1/2
        ("Denver Broncos won", "Denver Broncos", 0.0, 0.8),  # P=2/3, R=1
        ("in Paris", "Paris", 0.0, 2 / 3),  # P=1/2, R=1
        ("paris paris", "paris", 0.0, 2 / 3),  # repeated tokens count once per gold token: P=1/2
        ("Lyon", ["Paris", "Lyon"], 1.0, 1.0),  # best of several golds
        ("Paris France", ["France", "Paris"], 0.0, 2 / 3),  # best F1 over golds
        ("", "Paris", 0.0, 0.0),  # empty prediction
        ("the", "a", 1.0, 1.0),  # both normalise to nothing: SQuAD v2 counts a match
        ("Paris", [], 0.0, 0.0),  # no gold at all
    ],
)
def test_em_and_f1(pred, gold, e, f):
    assert em(pred, gold) == e and f1(pred, gold) == pytest.approx(f)


@pytest.mark.parametrize(
    "text, box",
    [
        ("x \\boxed{42}", "42"),  # simple
        ("\\boxed{\\frac{a}{b}}", "\\frac{a}{b}"),  # nested braces
        ("\\boxed{1} then \\boxed{2}", "2"),  # several: the last one
        ("\\boxed{1} then \\boxed{2", "1"),  # the last is unclosed: the last closed one
        ("\\boxed{unclosed", None),  # unbalanced
        ("no box", None),  # none
        ("\\boxed{ Paris }", "Paris"),  # stripped
        ("\\boxed{\\text{Paris}}", "Paris"),  # one \text{} wrapper is unwrapped
        ("\\boxed{\\text{a} + \\text{b}}", "\\text{a} + \\text{b}"),  # two wrappers: kept as written
        ("\\boxed{a\\}b}", "a\\}b"),  # an escaped brace does not close
        ("\\boxed{}", ""),  # empty box: found, empty
    ],
)
def test_extract_boxed(text, box):
    assert extract_boxed(text) == box


@pytest.mark.parametrize(
    "text, blocks, answer",
    [
        ("<answer>a</answer>", ["a"], "a"),  # one block
        ("<answer> a </answer> and <answer>b</answer>", ["a", "b"], "b"),  # several: the last is the answer
        ("<answer>a<answer>b</answer>", ["b"], "b"),  # reopened: the inner block wins
        ("</answer><answer>a</answer></answer>", ["a"], "a"),  # stray closing tags ignored
        ("<answer>cut off", [], "<answer>cut off"),  # unclosed: no block, the whole text
        ("  just text ", [], "just text"),  # no tags: the whole text
    ],
)
def test_answer_blocks_and_answer_text(text, blocks, answer):
    assert answer_blocks(text) == blocks and answer_text(text) == answer


@pytest.mark.parametrize(
    "text, sep, parts",
    [
        ("a; b ;c", ";", ["a", "b", "c"]),  # stripped
        ("a;;b;", ";", ["a", "b"]),  # empty parts dropped
        ("a, b", ",", ["a", "b"]),  # another separator
        ("", ";", []),  # nothing
    ],
)
def test_split_answers(text, sep, parts):
    assert split_answers(text, sep) == parts


@pytest.mark.parametrize(
    "completion, text",
    [
        ("plain", "plain"),  # a string
        ([{"role": "assistant", "content": "a"}], "a"),  # a conversation
        ([{"role": "assistant", "content": "a"}, {"role": "tool", "content": "t"}], "a"),  # the last *assistant* message
        ([{"role": "assistant", "content": [{"type": "text", "text": "x"}, {"type": "text", "text": "y"}]}], "xy"),  # content parts
        ([{"role": "user", "content": "u"}], "u"),  # no assistant message: the last message
        ([], ""),  # nothing
        (None, ""),  # nothing at all
    ],
)
def test_completion_text(completion, text):
    assert completion_text(completion) == text


# -- built-ins -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fn, completions, fields, expected",
    [
        (exact_match, ["<answer>Paris</answer>", "I say <answer>paris, france</answer>"], {"answer": ["Paris", "Paris"]}, [1.0, 0.0]),  # tag; normalisation; wrong
        (exact_match, ["Paris.", "<answer>x</answer><answer>Lyon</answer>"], {"answer": ["paris", ["Paris", "Lyon"]]}, [1.0, 1.0]),  # no tag: whole text; last block vs gold list
        (exact_match, ["Paris"], {"answer": [None]}, [None]),  # no gold for this sample: not applicable
        (token_f1, ["<answer>Paris</answer>", "<answer>paris, france</answer>"], {"answer": ["Paris", "Paris"]}, [1.0, 2 / 3]),  # F1
        (token_f1, ["x"], {"answer": [None]}, [None]),  # no gold
        (multi_answer_em, ["<answer>Lima</answer><answer>Oslo</answer>"], {"answers": [["Lima", "Oslo"]]}, [2.0]),  # repeated tags: all right
        (multi_answer_em, ["<answer>Lima; Rome</answer>"], {"answers": [["Lima", "Oslo"]]}, [1.0]),  # one block split on ';'
        (multi_answer_em, ["Lima; Oslo; Rome"], {"answers": [["Lima", "Oslo"]]}, [2.0]),  # no tags: split; the extra answer ignored
        (multi_answer_em, ["<answer>Oslo</answer><answer>Lima</answer>"], {"answers": [["Lima", "Oslo"]]}, [0.0]),  # positional: swapped is wrong
        (multi_answer_em, ["<answer>Lima</answer>"], {"answers": [["Lima", "Oslo", "Rome"]]}, [1.0]),  # missing answers score 0
        (multi_answer_em, ["<answer>Peru</answer><answer>Norway</answer>"], {"answers": [[["Lima", "Peru"], "Norway"]]}, [2.0]),  # aliases per objective
        (multi_answer_em, ["<answer>Lima; Oslo</answer>"], {"answers": ["Lima; Oslo"]}, [1.0]),  # a str gold is one objective
        (multi_answer_em, ["x", "x"], {"answers": [[], None]}, [None, None]),  # no objectives: not applicable
        (multi_answer_em_fraction, ["<answer>Lima</answer><answer>Rome</answer>", "Lima; Oslo"], {"answers": [["Lima", "Oslo"]] * 2}, [0.5, 1.0]),  # fraction
        (multi_answer_em_fraction, ["x"], {"answers": [[]]}, [None]),  # no objectives
        (boxed_em, ["so \\boxed{Lima}", "Lima", "\\boxed{\\text{The Lima}}"], {"answer": ["lima", "Lima", "Lima"]}, [1.0, 0.0, 1.0]),  # box; no box; \text wrapper
        (boxed_em, ["\\boxed{Lima}"], {"answer": [None]}, [None]),  # no gold
        (format_compliance, ["<answer>x</answer>", '<tool_call>{"name": "search", "arguments": {"q": "x"}}</tool_call>'], {}, [1.0, 1.0]),  # answer; tool call
        (format_compliance, ["no tags", "", "<answer>x", "<tool_call>{bad json}</tool_call>"], {}, [0.0, 0.0, 0.0, 0.0]),  # no action; empty; unclosed; bad JSON
    ],
)
def test_builtins_table(fn, completions, fields, expected):
    assert fn(completions, **fields) == pytest.approx(expected)


@pytest.mark.parametrize("fn", BUILTINS, ids=lambda f: f.__name__)
def test_builtins_read_conversations_like_strings(fn):
    texts = ["<answer>Lima</answer>", "\\boxed{Oslo}", "Lima; Oslo", ""]
    convos = [[{"role": "user", "content": "q"}, {"role": "assistant", "content": t}] for t in texts]
    fields = {"answer": ["Lima", "Oslo", "Lima", "x"], "answers": [["Lima", "Oslo"]] * 4}
    assert fn(convos, **fields) == fn(texts, **fields)


# -- arbitrary model text ------------------------------------------------------------------------
# Text built from the pieces the extractors look for, so hypothesis reaches their edge cases.
PIECES = st.sampled_from(["<answer>", "</answer>", "\\boxed{", "{", "}", "\\}", ";", " ", "the", "Lima", "Oslo", ".", "<tool_call>", "</tool_call>", "\n"])
MODEL_TEXT = st.one_of(st.text(max_size=200), st.lists(PIECES, max_size=40).map("".join))


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(MODEL_TEXT, min_size=1, max_size=4))
def test_builtins_never_raise_and_stay_in_range_on_any_text(texts):
    n = len(texts)
    fields = {"answer": ["Lima"] * n, "answers": [["Lima", "Oslo"]] * n}
    for fn in BUILTINS:
        values = call_reward(fn, texts, **fields)  # validated: one finite float per text
        top = 2.0 if fn is multi_answer_em else 1.0
        assert all(0.0 <= v <= top for v in values), (fn.__name__, values)


@settings(max_examples=300, deadline=None)
@given(pred=MODEL_TEXT, gold=MODEL_TEXT)
def test_em_f1_properties(pred, gold):
    assert normalize(normalize(pred)) == normalize(pred)  # idempotent
    assert em(pred, pred) == 1.0 and f1(pred, pred) == 1.0  # a text matches itself
    assert f1(pred, gold) == pytest.approx(f1(gold, pred))  # F1 is symmetric
    assert em(pred, gold) <= f1(pred, gold)  # an exact match is a full F1


@pytest.mark.parametrize(
    "junk",
    [
        "<answer>" * 20_000,  # openers that never close
        "\\boxed{" * 20_000,  # boxes that never close
        "{" * 20_000 + "}" * 20_000,  # deep braces
        "a;" * 20_000,  # many separators
    ],
    ids=["answer-openers", "box-openers", "deep-braces", "separators"],
)
def test_adversarial_text_is_scored_in_linear_time(junk):
    start = time.perf_counter()
    for fn in BUILTINS:
        fn([junk], answer=["a"], answers=[["a", "b"]])
    assert time.perf_counter() - start < 2.0  # quadratic scans take minutes here


# -- TRL -----------------------------------------------------------------------------------------
def test_trl_grpo_trainer_calls_the_builtins_unchanged():
    """Run TRL's own ``GRPOTrainer._calculate_rewards`` on a stand-in trainer: it calls each
    function as ``fn(prompts=, completions=, completion_ids=, **columns, trainer_state=,
    log_extra=, log_metric=)`` and turns None into NaN."""
    torch = pytest.importorskip("torch")
    from trl import GRPOTrainer

    funcs = [exact_match, token_f1, multi_answer_em, boxed_em, format_compliance]
    trainer = types.SimpleNamespace(
        accelerator=types.SimpleNamespace(device="cpu", is_main_process=True),
        args=types.SimpleNamespace(report_to=[]),
        state=types.SimpleNamespace(global_step=0),
        reward_funcs=funcs,
        reward_processing_classes=[None] * len(funcs),
        reward_func_names=[f.__name__ for f in funcs],
        environments=None,
        _log_completion_extra=lambda *a, **k: None,
        _log_metric=lambda *a, **k: None,
    )
    inputs = [  # dataset rows: "prompt" is dropped by TRL, the rest become reward kwargs
        {"prompt": [{"role": "user", "content": "q1"}], "answer": "Paris", "answers": ["Paris", "Rome"]},
        {"prompt": [{"role": "user", "content": "q2"}], "answer": None, "answers": ["Lima"]},
    ]
    prompts = [row["prompt"] for row in inputs]
    completions = [
        [{"role": "assistant", "content": "<answer>Paris</answer><answer>Rome</answer>"}],
        [{"role": "assistant", "content": "\\boxed{Lima}"}],
    ]
    rewards = GRPOTrainer._calculate_rewards(trainer, inputs, prompts, completions, [[1, 2], [3]])
    nan = float("nan")
    expected = torch.tensor([[0.0, 0.0, 2.0, 0.0, 0.0], [nan, nan, 0.0, nan, 0.0]])
    # Row 1: EM reads the last block ("Rome" vs "Paris"), multi EM both; two answers in one reply are
    # a format error (multiple_answers). Row 2 has no `answer`: None -> NaN; "\boxed{Lima}" is not
    # an action under the default protocol (<answer> tags).
    assert torch.allclose(rewards, expected, equal_nan=True)
