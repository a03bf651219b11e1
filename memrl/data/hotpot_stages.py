"""HotpotQA items as AgeMem tasks: supporting sentences are the facts, other paragraphs the distractors.

Reads the HF ``hotpot_qa`` distractor layout (``question``, ``answer``, ``supporting_facts`` with
``title``/``sent_id``, ``context`` with ``title``/``sentences``), e.g. the 100 dev items in
``../shared/data/hotpotqa``. Loaded by path, never copied. Splits are by a hash of the question
(``memrl.env.splits``), so train, validation and test never share an item.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from memrl.env.splits import check_split, split_of
from memrl.errors import UserError

DEFAULT_FILE = "hotpotqa/hotpot_dev_distractor_first100_hf_format.json"


def data_dir() -> Path:
    """``$MEMRL_DATA``, else ``../shared/data`` beside the repository."""
    return Path(os.environ.get("MEMRL_DATA") or Path(__file__).resolve().parents[1].parent / "shared" / "data")


def load_items(path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The raw items of a HotpotQA distractor JSON file (a list of dicts)."""
    path = Path(path) if path else data_dir() / DEFAULT_FILE
    try:
        items = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"HotpotQA file {str(path)!r} not found; pass data_path=... or set MEMRL_DATA") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"HotpotQA file {str(path)!r} is not valid JSON ({e}); expected a list of items") from None
    if not isinstance(items, list) or not all(isinstance(x, dict) and {"question", "answer", "context"} <= set(x) for x in items):
        raise UserError(f"HotpotQA file {str(path)!r} must be a list of items with question, answer, context")
    return items


def to_task(item: dict[str, Any], distractors: int = 6) -> dict[str, Any]:
    """One AgeMem task: gold sentences -> stage-1 facts; first sentences of other paragraphs -> notes."""
    paragraphs = dict(zip(item["context"]["title"], item["context"]["sentences"]))
    gold = item.get("supporting_facts") or {"title": [], "sent_id": []}
    supporting = []
    for title, sid in zip(gold["title"], gold["sent_id"]):
        sentences = paragraphs.get(title, [])
        if 0 <= sid < len(sentences):
            supporting.append(sentences[sid].strip())
    gold_titles = set(gold["title"])
    notes = [s[0].strip() for t, s in paragraphs.items() if t not in gold_titles and s][:distractors]
    return {
        "id": f"hotpot-{item.get('id') or abs(hash(item['question'])) % 10**10}",
        "facts": supporting, "notes": notes, "question": item["question"], "answer": item["answer"],
        "supporting": supporting, "stale": [], "entities": sorted(gold_titles | {item["answer"]}),
        "hops": len(supporting),
    }


def hotpot_tasks(split: str, n: int, path: str | os.PathLike | None = None, distractors: int = 6) -> list[dict[str, Any]]:
    """Up to ``n`` tasks of one split, in file order."""
    check_split(split)
    chosen = [it for it in load_items(path) if split_of(it["question"]) == split][:n]
    return [{**to_task(it, distractors), "split": split} for it in chosen]
