"""Answer-matching rewards: exact match, token F1, multi-answer EM (MEM1), boxed EM (MemAgent).

Each compares the model's answer with a gold field of the same batch. A sample whose gold is None
(a dataset mixing tasks) gets None, "not applicable", never a 0.0 that would count as wrong.
"""

from __future__ import annotations

from typing import Any

from memrl.scoring.registry import completion_text, reward
from memrl.scoring.text import answer_blocks, answer_text, extract_boxed, split_answers
from memrl.scoring.text import exact_match as _em
from memrl.scoring.text import token_f1 as _f1

ANSWER_SEP = ";"  # between several answers written in one block, or without tags


@reward()
def exact_match(completions: list[Any], answer: list[Any], **kwargs: Any) -> list[float | None]:
    """Exact match (SQuAD-normalised) of the answer against field `answer` (a gold or a list of golds).

    The answer is the last ``<answer>`` block, or the whole reply without one. ``answer[i]`` is one
    gold string or a list of acceptable golds (the best one counts).
    """
    return [None if a is None else _em(answer_text(completion_text(c)), a) for c, a in zip(completions, answer)]


@reward()
def token_f1(completions: list[Any], answer: list[Any], **kwargs: Any) -> list[float | None]:
    """Token F1 (SQuAD) of the answer against field `answer` (a gold or a list of golds); see exact_match."""
    return [None if a is None else _f1(answer_text(completion_text(c)), a) for c, a in zip(completions, answer)]


def _objectives(golds: Any) -> list[Any] | None:
    """The per-objective golds of one sample: a list (each a str or a list of aliases), or None."""
    if golds is None:
        return None
    golds = [golds] if isinstance(golds, str) else list(golds)
    return golds or None


def _predictions(text: str, n: int) -> list[str]:
    """The answers a reply gives, in order: one per ``<answer>`` block; a single block (or a reply
    without tags) holding ``n > 1`` answers is split on ``;``."""
    blocks = answer_blocks(text)
    if len(blocks) == 1 and n > 1:
        return split_answers(blocks[0], ANSWER_SEP)
    if blocks:
        return blocks
    return split_answers(text, ANSWER_SEP) if n > 1 else [text.strip()]


def _per_objective(completion: Any, golds: list[Any]) -> list[float]:
    # Positional, as MEM1 asks its objectives in order: the i-th answer is scored against the i-th
    # gold; a missing answer scores 0 and extra answers are ignored.
    preds = _predictions(completion_text(completion), len(golds))
    return [_em(preds[i], g) if i < len(preds) else 0.0 for i, g in enumerate(golds)]


@reward()
def multi_answer_em(completions: list[Any], answers: list[Any], **kwargs: Any) -> list[float | None]:
    """MEM1 multi-objective EM: the SUM over objectives of EM(i-th answer, `answers[i]`), from 0 to N.

    Answers come as repeated ``<answer>`` blocks, or ``;``-separated in one block or in the reply.
    """
    out: list[float | None] = []
    for c, golds in zip(completions, answers):
        objectives = _objectives(golds)
        out.append(None if objectives is None else float(sum(_per_objective(c, objectives))))
    return out


@reward()
def multi_answer_em_fraction(completions: list[Any], answers: list[Any], **kwargs: Any) -> list[float | None]:
    """Multi-objective EM as a fraction of the objectives answered right (0..1); see multi_answer_em."""
    out: list[float | None] = []
    for c, golds in zip(completions, answers):
        objectives = _objectives(golds)
        out.append(None if objectives is None else sum(_per_objective(c, objectives)) / len(objectives))
    return out


@reward()
def boxed_em(completions: list[Any], answer: list[Any], **kwargs: Any) -> list[float | None]:
    """MemAgent EM of the last \\boxed{} content against field `answer`; 0.0 when there is no box."""
    out: list[float | None] = []
    for c, a in zip(completions, answer):
        box = extract_boxed(completion_text(c))
        out.append(None if a is None else 0.0 if box is None else _em(box, a))
    return out
