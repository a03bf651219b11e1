"""What the two Memory-R1 envs share: their settings' checks and the per-question score rows."""

from __future__ import annotations

from typing import Any

from memrl.data.conversations import SOURCES
from memrl.errors import UserError
from memrl.scoring.locomo import ANSWERABLE, CATEGORIES, category_name

METRICS = ("f1", "em", "bleu1")


def question_row(category: int, scores: Any) -> dict[str, Any]:
    """One scored question as ``memrl eval`` pools it by category (``per_question`` rows);
    ``scores`` None is a question left unanswered (0 on every metric)."""
    return {"category": category, "category_name": category_name(category),
            **{m: getattr(scores, m) if scores is not None else 0.0 for m in METRICS}}


def check_settings(source: str, metric: str, categories: Any, path: str | None) -> tuple[int, ...] | None:
    """The categories to score (None: every question of a file of your own), or a one-line error."""
    if source not in SOURCES:
        raise UserError(f"source {source!r} must be one of {', '.join(SOURCES)}")
    if path is not None and source != "locomo":
        raise UserError(f"path ({path!r}) is a conversation file in the LoCoMo layout: use it with source 'locomo'")
    if metric not in METRICS:
        raise UserError(f"metric {metric!r} must be one of {', '.join(METRICS)}")
    if categories is None:
        return None if path is not None else (ANSWERABLE if source == "locomo" else tuple(CATEGORIES))
    cats = tuple(categories)
    # A file of your own may number its categories as it likes: outside 1-5 they are scored by plain F1.
    known = (lambda c: isinstance(c, int)) if path is not None else (lambda c: c in CATEGORIES)
    if not cats or not all(known(c) for c in cats):
        raise UserError(f"categories {categories!r} must be LoCoMo categories among {sorted(CATEGORIES)}"
                        + (" (or integers of your file's own)" if path is not None else ""))
    return cats


def asked(question: dict[str, Any], categories: tuple[int, ...] | None) -> bool:
    """Whether a question is scored under the env's ``categories`` (None: all)."""
    return categories is None or question["category"] in categories
