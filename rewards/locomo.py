"""LoCoMo's per-category answer scores as reward plugins (Memory-R1's answer agent).

Each reads the batch fields ``answer`` (the gold; None for category 5) and ``category`` (1-5),
as the ``memrl/MemoryR1-Answer-v0`` tasks carry them, and scores the reply's last ``<answer>``
block (or the whole reply) with :func:`memrl.scoring.locomo.score_answer`: category 1 partial F1 over
comma-split parts, category 3 the gold before ``;``, category 5 right when it says "not mentioned";
tokens are Porter-stemmed as LoCoMo's own scorer does.
A sample without a category, or with no gold outside category 5, gets None ("not applicable").
"""

from __future__ import annotations

from typing import Any

from memrl.scoring.locomo import Scores, score_answer
from memrl.scoring.registry import completion_text, reward
from memrl.scoring.text import answer_text


def _scores(completions: list[Any], answer: list[Any], category: list[Any]) -> list[Scores | None]:
    out: list[Scores | None] = []
    for c, gold, cat in zip(completions, answer, category):
        if cat is None or (gold is None and cat != 5):
            out.append(None)
        else:
            out.append(score_answer(answer_text(completion_text(c)), None if gold is None else str(gold), int(cat)))
    return out


@reward()
def locomo_f1(completions: list[Any], answer: list[Any], category: list[Any], **kwargs: Any) -> list[float | None]:
    """LoCoMo token F1 by category (1: comma-split partial F1; 3: gold before ';'; 5: says not mentioned)."""
    return [None if s is None else s.f1 for s in _scores(completions, answer, category)]


@reward()
def locomo_em(completions: list[Any], answer: list[Any], category: list[Any], **kwargs: Any) -> list[float | None]:
    """LoCoMo exact match by category (normalized: no commas, punctuation, a/an/the/and); see locomo_f1."""
    return [None if s is None else s.em for s in _scores(completions, answer, category)]


@reward()
def locomo_bleu1(completions: list[Any], answer: list[Any], category: list[Any], **kwargs: Any) -> list[float | None]:
    """LoCoMo BLEU-1 (clipped unigram precision x brevity penalty) by category; see locomo_f1."""
    return [None if s is None else s.bleu1 for s in _scores(completions, answer, category)]
