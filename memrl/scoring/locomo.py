"""LoCoMo's answer scores, rule by rule as its ``task_eval/evaluation.py`` computes them (our own code).

- tokens: LoCoMo's normalization (no commas, lowercase, no punctuation, no a/an/the/and), each
  token stemmed with Porter's stemmer as NLTK runs it (:mod:`memrl.scoring.porter`), so F1 here
  equals LoCoMo's and is comparable with published numbers;
- category 1 (multi-hop): the mean over the comma-split gold parts of the best F1 against any
  comma-split prediction part; category 3: the gold text before ``;``; category 5 (adversarial):
  right when the answer says the information is not mentioned / not available;
- any other category (2, 4, or a number outside 1-5 in a conversation file of your own): plain F1.

EM is the normalized strings' equality (unstemmed), BLEU-1 the clipped unigram precision times
the brevity penalty over normalized tokens.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from dataclasses import dataclass
from typing import Any

from memrl.scoring.porter import stem

CATEGORIES = {
    # LoCoMo's numbering; the names follow the convention of later work (Mem0, Memory-R1).
    1: "multi-hop",
    2: "temporal",
    3: "open-domain",
    4: "single-hop",
    5: "adversarial",
}
ANSWERABLE = (1, 2, 3, 4)
NOT_AVAILABLE = ("not mentioned", "no information available")  # LoCoMo's category 5 test

_PUNCT = str.maketrans("", "", string.punctuation)
_FILLERS = re.compile(r"\b(a|an|the|and)\b")


@dataclass(frozen=True)
class Scores:
    """One answer's scores under LoCoMo's rules for its category."""

    f1: float
    em: float
    bleu1: float


def category_name(category: int) -> str:
    """LoCoMo's name for a category, or the number itself for one of a user's own."""
    return CATEGORIES.get(category, str(category))


def normalize_answer(text: str) -> str:
    """LoCoMo's answer normalization: no commas, lowercase, no punctuation, no a/an/the/and."""
    text = str(text).replace(",", "").lower().translate(_PUNCT)
    return " ".join(_FILLERS.sub(" ", text).split())


def stemmed_tokens(text: str) -> list[str]:
    return [stem(w) for w in normalize_answer(text).split()]


def f1(pred: str, gold: str) -> float:
    """LoCoMo's token F1: normalized, Porter-stemmed tokens; 0 when nothing is shared."""
    p, g = stemmed_tokens(pred), stemmed_tokens(gold)
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def multi_f1(pred: str, gold: str) -> float:
    """Category 1: mean over comma-split gold parts of the best F1 against any prediction part."""
    preds = [p for p in str(pred).split(",") if p.strip()] or [""]
    golds = [g for g in str(gold).split(",") if g.strip()]
    if not golds:
        return 0.0
    return sum(max(f1(p, g) for p in preds) for g in golds) / len(golds)


def bleu1(pred: str, gold: str) -> float:
    """Sentence BLEU-1: clipped unigram precision times the brevity penalty (no smoothing needed
    at order 1), over normalized tokens."""
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not p or not g:
        return 0.0
    clipped = sum((Counter(p) & Counter(g)).values())
    brevity = 1.0 if len(p) > len(g) else math.exp(1 - len(g) / len(p))
    return brevity * clipped / len(p)


def says_not_available(pred: str) -> bool:
    """LoCoMo's category 5 rule: the answer says the information is not mentioned / not available."""
    low = str(pred).lower()
    return any(phrase in low for phrase in NOT_AVAILABLE)


def score_answer(pred: str, gold: str | None, category: int) -> Scores:
    """F1, EM and BLEU-1 of ``pred`` under the rules of ``category`` (5: all three are 1 or 0;
    a category outside 1-5 is scored as 2 and 4 are: plain F1)."""
    if category == 5:
        ok = float(says_not_available(pred))
        return Scores(ok, ok, ok)
    if gold is None:
        raise ValueError(f"a category {category} question needs a gold answer")
    if category == 3:
        gold = gold.split(";")[0].strip()
    score = multi_f1(pred, gold) if category == 1 else f1(pred, gold)
    em = float(normalize_answer(pred) == normalize_answer(gold))
    return Scores(score, em, bleu1(pred, gold))


def category_table(rows: list[dict[str, Any]], metrics: tuple[str, ...] = ("f1", "em", "bleu1")) -> dict[str, dict[str, float]]:
    """Mean of each metric per category name and over all rows (``"all"``), per question: rows are
    ``{"category": int, "f1": ..., "em": ..., "bleu1": ...}`` (a manager episode's ``per_question``),
    so episodes of different sizes pool correctly."""
    groups: dict[str, list[dict[str, Any]]] = {"all": list(rows)}
    for row in rows:
        groups.setdefault(category_name(row["category"]), []).append(row)
    return {name: {m: sum(r[m] for r in group) / len(group) for m in metrics} | {"n": float(len(group))}
            for name, group in groups.items() if group}
