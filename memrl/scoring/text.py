"""Answer text helpers: SQuAD normalisation, exact match, token F1, ``\\boxed{}`` and ``<answer>``
extraction, multi-answer splitting.

Pure functions on strings (environments reuse them for their own rewards). They never raise on
model output, and every scan is linear in the text, so adversarial junk costs little.
"""

from __future__ import annotations

import re
import string
from collections import Counter

from memrl.actions.scan import find_boxed

# SQuAD's official evaluate-v2.0.py, step for step: lower, drop ASCII punctuation, drop articles,
# collapse whitespace. Non-ASCII punctuation (curly quotes, dashes) stays, as in SQuAD, so scores
# are comparable with published numbers.
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
_ANSWER_TAG = re.compile(r"<(/?)answer>")
# A box whose whole content is \text{...} (or \textbf, \mathrm) holds plain text: unwrap it.
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textrm|mathrm)\{(.*)\}", re.S)


def normalize(text: str) -> str:
    """SQuAD answer normalisation: lowercase, no punctuation, no articles (a/an/the), single spaces."""
    return " ".join(_ARTICLES.sub(" ", text.lower().translate(_PUNCT)).split())


def _golds(gold: str | list[str] | tuple[str, ...]) -> list[str]:
    return [gold] if isinstance(gold, str) else list(gold)


def exact_match(pred: str, gold: str | list[str]) -> float:
    """1.0 if ``pred`` equals ``gold`` (or any of several golds) after :func:`normalize`, else 0.0."""
    p = normalize(pred)
    return max((float(p == normalize(g)) for g in _golds(gold)), default=0.0)


def token_f1(pred: str, gold: str | list[str]) -> float:
    """SQuAD token F1 of ``pred`` against ``gold``; the best over several golds.

    As in SQuAD v2: when either side normalises to no tokens, the score is 1.0 if both do, else 0.0.
    """
    p = normalize(pred).split()
    return max((_f1(p, normalize(g).split()) for g in _golds(gold)), default=0.0)


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def extract_boxed(text: str) -> str | None:
    """The content of the last closed top-level ``\\boxed{...}`` (braces balanced), or None.

    An unclosed box is skipped (the reply was usually cut off); ``\\{`` and ``\\}`` do not count
    as braces. A content that is one ``\\text{...}`` wrapper is unwrapped: ``\\boxed{\\text{Paris}}``
    gives ``Paris``.
    """
    found = find_boxed(text)  # one linear pass, shared with the action parser
    if not found:
        return None
    content = found[-1].strip()
    wrapped = _TEXT_WRAPPER.fullmatch(content)
    # Unwrap only one wrapper spanning the whole content, not "\text{a} + \text{b}".
    if wrapped and find_boxed("\\boxed{" + wrapped.group(1) + "}") == [wrapped.group(1)]:
        return wrapped.group(1).strip()
    return content


def answer_blocks(text: str) -> list[str]:
    """The stripped contents of every closed ``<answer>...</answer>``, in order.

    One pass over the tags: an ``<answer>`` opened again before closing restarts the block (the
    inner one wins, as in the action parser), a ``</answer>`` that closes nothing is ignored.
    """
    blocks: list[str] = []
    start: int | None = None
    for m in _ANSWER_TAG.finditer(text):
        if not m.group(1):
            start = m.end()
        elif start is not None:
            blocks.append(text[start : m.start()].strip())
            start = None
    return blocks


def answer_text(text: str) -> str:
    """The answer a reply gives: its last ``<answer>`` block, or the whole text (stripped)."""
    blocks = answer_blocks(text)
    return blocks[-1] if blocks else text.strip()


def split_answers(text: str, sep: str = ";") -> list[str]:
    """Several answers in one string, split on ``sep`` and stripped; empty parts are dropped."""
    return [part.strip() for part in text.split(sep) if part.strip()]
