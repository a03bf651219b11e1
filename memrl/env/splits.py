"""Deterministic train / validation / test splits that can never share a task.

A generated task lands in a split by a hash of its *content* (not of its seed), so two seeds
that happen to produce the same task always land in the same split: held-out scores are never
inflated by a training task that reappears under another id.
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any, Callable

SPLITS = {"train": (0, 80), "validation": (80, 90), "test": (90, 100)}


def split_of(content: Any) -> str:
    """The split a task's content belongs to (80 / 10 / 10 by a stable hash)."""
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False).encode()
    bucket = int.from_bytes(hashlib.blake2b(blob, digest_size=8).digest(), "big") % 100
    return next(name for name, (lo, hi) in SPLITS.items() if lo <= bucket < hi)


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    return split


def generate_split(
    make_one: Callable[[random.Random], dict[str, Any]],
    content_of: Callable[[dict[str, Any]], Any],
    *,
    split: str,
    n: int,
    seed: int = 0,
    prefix: str = "task",
    max_tries: int = 200,
) -> list[dict[str, Any]]:
    """``n`` distinct tasks of ``split``, drawn with ``make_one`` from a seeded stream.

    Candidates whose content hashes to another split are skipped; ids are
    ``{prefix}-{split}-{seed}-{k}`` so a task can be found again from its id.
    """
    check_split(split)
    rng = random.Random(f"{prefix}/{seed}")
    tasks: list[dict[str, Any]] = []
    seen: set[str] = set()
    tries = 0
    while len(tasks) < n:
        tries += 1
        if tries > max_tries * max(n, 1):
            raise ValueError(f"could only make {len(tasks)} of {n} distinct {split} tasks; loosen the generator")
        task = make_one(rng)
        content = content_of(task)
        key = json.dumps(content, sort_keys=True, ensure_ascii=False)
        if key in seen or split_of(content) != split:
            continue
        seen.add(key)
        task["id"] = f"{prefix}-{split}-{seed}-{len(tasks)}"
        task["split"] = split
        tasks.append(task)
    return tasks
