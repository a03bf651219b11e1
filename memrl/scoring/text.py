"""SQuAD-style answer normalisation, exact match and token F1."""

from __future__ import annotations

import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)


def normalize(text: str) -> str:
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def _golds(gold: str | list[str]) -> list[str]:
    return [gold] if isinstance(gold, str) else list(gold)


def exact_match(pred: str, gold: str | list[str]) -> float:
    return max(float(normalize(pred) == normalize(g)) for g in _golds(gold))


def token_f1(pred: str, gold: str | list[str]) -> float:
    best = 0.0
    p = normalize(pred).split()
    for g in _golds(gold):
        t = normalize(g).split()
        common = sum((Counter(p) & Counter(t)).values())
        if common:
            precision, recall = common / len(p), common / len(t)
            best = max(best, 2 * precision * recall / (precision + recall))
        elif not p and not t:
            best = 1.0
    return best


def extract_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (balanced braces), or None."""
    from memrl.actions.parser import _boxed

    found = _boxed(text)
    return found[-1] if found else None


def split_answers(text: str, sep: str = ";") -> list[str]:
    """Several answers in one string, split on ``sep`` and stripped (empty parts dropped)."""
    return [part.strip() for part in text.split(sep) if part.strip()]
