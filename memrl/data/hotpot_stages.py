"""HotpotQA items as AgeMem tasks: supporting sentences are the facts, other paragraphs the distractors.

The rows come from :mod:`memrl.data.hotpotqa` (the data folder, a file given as ``path``, or the
Hub). Splits are by a hash of the question (``memrl.env.splits``), so train, validation and test
never share an item.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from memrl.data.hotpotqa import load_hotpotqa
from memrl.env.splits import check_split, split_of

PathLike = str | os.PathLike | None


def load_items(data_dir: PathLike = None, path: PathLike = None) -> tuple[dict[str, Any], ...]:
    """The HotpotQA rows (hotpot_qa distractor layout)."""
    return load_hotpotqa(data_dir, path)


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
        "id": f"hotpot-{item.get('id') or _digest(item['question'])}",
        "facts": supporting, "notes": notes, "question": item["question"], "answer": item["answer"],
        "supporting": supporting, "stale": [], "entities": sorted(gold_titles | {item["answer"]}),
        "hops": len(supporting),
    }


def _digest(question: str) -> str:
    # A stable id for a row without one (Python's hash() of a string changes with every process).
    return str(int.from_bytes(hashlib.blake2b(question.encode(), digest_size=8).digest(), "big") % 10**10)


def hotpot_tasks(split: str, n: int, data_dir: PathLike = None, path: PathLike = None, distractors: int = 6) -> list[dict[str, Any]]:
    """Up to ``n`` tasks of one split, in file order."""
    check_split(split)
    chosen = [it for it in load_items(data_dir, path) if split_of(it["question"]) == split][:n]
    return [{**to_task(it, distractors), "split": split} for it in chosen]
