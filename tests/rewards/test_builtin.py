"""Built-in rewards: SQuAD-normalised EM/F1, multi-answer EM, boxed EM, format compliance,
and a call exactly as TRL's GRPOTrainer makes it."""

from __future__ import annotations

import pytest

from memrl.rewards.format import format_compliance
from memrl.rewards.match import boxed_em, exact_match, multi_answer_em, multi_answer_em_fraction, token_f1
from memrl.scoring.text import exact_match as em, extract_boxed, normalize, token_f1 as f1


@pytest.mark.parametrize(
    "text, norm",
    [
        ("The  Eiffel Tower!", "eiffel tower"),  # articles, punctuation, spaces
        ("an Apple, a day", "apple day"),  # a / an
        ("THEORY", "theory"),  # 'the' only as a word
    ],
)
def test_normalize(text, norm):
    assert normalize(text) == norm


@pytest.mark.parametrize(
    "pred, gold, e, f",
    [
        ("Paris", "paris.", 1.0, 1.0),  # normalisation
        ("in Paris", "Paris", 0.0, 2 / 3),  # partial overlap: P=1/2, R=1
        ("Lyon", ["Paris", "Lyon"], 1.0, 1.0),  # best of several golds
        ("", "Paris", 0.0, 0.0),  # nothing
    ],
)
def test_em_and_f1(pred, gold, e, f):
    assert em(pred, gold) == e and f1(pred, gold) == pytest.approx(f)


@pytest.mark.parametrize(
    "text, box",
    [
        ("x \\boxed{42}", "42"),  # simple
        ("\\boxed{\\frac{a}{b}}", "\\frac{a}{b}"),  # nested braces
        ("\\boxed{1} then \\boxed{2}", "2"),  # the last one
        ("\\boxed{unclosed", None),  # unbalanced
        ("no box", None),  # none
    ],
)
def test_extract_boxed(text, box):
    assert extract_boxed(text) == box


def test_builtins_table():
    comps = ["<answer>Paris</answer>", "I say <answer>paris, france</answer>"]
    assert exact_match(comps, answer=["Paris", "Paris"]) == [1.0, 0.0]
    assert token_f1(comps, answer=["Paris", "Paris"]) == pytest.approx([1.0, 2 / 3])
    multi = ["<answer>Lima</answer><answer>Oslo</answer>", "Lima; Rome"]
    assert multi_answer_em(multi, answers=[["Lima", "Oslo"], ["Lima", "Oslo"]]) == [2.0, 1.0]
    assert multi_answer_em_fraction(multi, answers=[["Lima", "Oslo"], ["Lima", "Oslo"]]) == [1.0, 0.5]
    assert boxed_em(["so \\boxed{Lima}", "Lima"], answer=["lima", "Lima"]) == [1.0, 0.0]
    assert format_compliance(["<answer>x</answer>", "no tags", ""]) == [1.0, 0.0, 0.0]


def test_trl_calls_a_builtin_unchanged():
    # GRPOTrainer._calculate_rewards: fn(prompts=, completions=, completion_ids=, **columns,
    # trainer_state=, log_extra=, log_metric=) with conversational completions.
    completions = [[{"role": "assistant", "content": "<answer>Paris</answer>"}], [{"role": "assistant", "content": "Rome"}]]
    out = exact_match(
        prompts=[[{"role": "user", "content": "q"}]] * 2, completions=completions, completion_ids=[[1], [2]],
        answer=["Paris", "Paris"], trainer_state=object(), log_extra=lambda *a: None, log_metric=lambda *a: None,
    )
    assert out == [1.0, 0.0]
