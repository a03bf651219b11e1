"""Answer-matching rewards: exact match, token F1, multi-answer EM, boxed EM."""

from __future__ import annotations

import re

from memrl.scoring.registry import completion_text, reward
from memrl.scoring.text import exact_match as _em
from memrl.scoring.text import extract_boxed, split_answers, token_f1 as _f1

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.S)


def _answer_text(completion) -> str:
    """The answer part of a completion: its last <answer> block, or the whole text."""
    text = completion_text(completion)
    found = _ANSWER.findall(text)
    return found[-1].strip() if found else text.strip()


@reward(description="Exact match (SQuAD normalisation) of the answer against field `answer` (str or list of golds).")
def exact_match(completions, answer, **kwargs):
    return [_em(_answer_text(c), a) for c, a in zip(completions, answer)]


@reward(description="Token F1 (SQuAD) of the answer against field `answer` (str or list of golds).")
def token_f1(completions, answer, **kwargs):
    return [_f1(_answer_text(c), a) for c, a in zip(completions, answer)]


def _per_objective(completion, golds) -> list[float]:
    text = completion_text(completion)
    preds = [p.strip() for p in _ANSWER.findall(text)] or split_answers(text)
    return [_em(preds[i], g) if i < len(preds) else 0.0 for i, g in enumerate(golds)]


@reward(description="MEM1-style multi-objective EM: the SUM over objectives of EM of the i-th answer vs `answers[i]`.")
def multi_answer_em(completions, answers, **kwargs):
    return [float(sum(_per_objective(c, golds))) for c, golds in zip(completions, answers)]


@reward(description="Multi-objective EM as a fraction of the objectives (0..1).")
def multi_answer_em_fraction(completions, answers, **kwargs):
    return [sum(_per_objective(c, g)) / len(g) if g else None for c, g in zip(completions, answers)]


@reward(description="MemAgent-style EM of the last \\boxed{} content against field `answer`.")
def boxed_em(completions, answer, **kwargs):
    out = []
    for c, a in zip(completions, answer):
        box = extract_boxed(completion_text(c))
        out.append(0.0 if box is None else _em(box, a))
    return out
