"""Conversations for the Memory-R1 envs: where they come from, their facts, the Mem0-style bank.

Three sources, one normalized form (:mod:`memrl.data.locomo`):

- ``"synthetic"``: the seeded generator (:mod:`memrl.data.dialogues`), split by content;
- ``"locomo"``: LoCoMo's ten conversations from the data folder, in the paper's split
  (152 / 81 / 1,307 questions);
- ``"locomo"`` with ``path``: a file of your own in the LoCoMo layout. It is not split (every split
  reads the whole file: keep training and evaluation conversations in separate files), unless it
  is LoCoMo's own file, which keeps the paper's split. Conversations without annotated facts get
  the facts an extractor finds in their turns (:mod:`memrl.data.extract`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from memrl.data.dialogues import fact_subject, make_conversation
from memrl.data.extract import Extractor, rule_facts, with_facts
from memrl.data.locomo import has_facts, is_locomo, load_locomo, locomo_path, paper_split, session_windows
from memrl.env.splits import check_split, generate_split
from memrl.errors import UserError

SOURCES = ("synthetic", "locomo")
DEFAULT_SESSIONS = 3  # sessions per window: the generator's conversations, LoCoMo's windows
_WORD = re.compile(r"[^\W_]+")
_EXTRACTED: dict[tuple[str, float, int], list[dict[str, Any]]] = {}


def load_conversations(data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None,
                       extractor: Extractor = rule_facts) -> list[dict[str, Any]]:
    """The conversations of a LoCoMo-layout file; one without annotated facts gets the extractor's.

    Extracted conversations are kept for the process (an LLM extractor is slow), per file version.
    """
    file = locomo_path(data_dir, path)
    key = (str(file.resolve()), file.stat().st_mtime, id(extractor))
    if key not in _EXTRACTED:
        conversations = load_locomo(path=file)
        if all(has_facts(c) for c in conversations):
            return conversations
        _EXTRACTED[key] = [c if has_facts(c) else with_facts(c, extractor) for c in conversations]
    return _EXTRACTED[key]


def memory_r1_conversations(source: str, split: str, n: int, seed: int, sessions: int | str | None,
                            data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None,
                            extractor: Extractor = rule_facts) -> list[dict[str, Any]]:
    """Up to ``n`` conversations (or session windows of them) of ``split`` with at least one question.

    ``sessions``: sessions per window; ``"auto"`` is :data:`DEFAULT_SESSIONS`, and whole
    conversations for a file of your own (its questions may have no evidence to place them in a
    window); None: whole conversations.
    """
    check_split(split)
    if source == "synthetic":
        size = DEFAULT_SESSIONS if sessions == "auto" else sessions
        return generate_split(lambda rng: make_conversation(rng, size), lambda c: c["sessions"],
                              split=split, n=n, seed=seed, prefix=f"memoryr1-s{size}")
    conversations = load_conversations(data_dir, path, extractor)
    own = path is not None and not is_locomo(conversations)
    if sessions == "auto":
        sessions = None if own else DEFAULT_SESSIONS
    chosen = conversations if own else paper_split(conversations, split)
    windows = [w for c in chosen for w in session_windows(c, sessions)]
    return [w for w in windows if w["qa"]][:n]


def conversation_facts(conversation: dict[str, Any]) -> list[str]:
    """Every extracted fact of a conversation, in dialogue order."""
    return [f for s in conversation["sessions"] for t in s["turns"] for f in t["facts"]]


def memory_key(fact: str) -> str:
    """The Mem0-style heuristic's replace-on-conflict key: the generated fact's subject
    ("alice/pet"), else the first three words."""
    return fact_subject(fact) or " ".join(_WORD.findall(fact.lower())[:3])


def heuristic_bank(conversation: dict[str, Any]) -> list[str]:
    """The bank the Mem0-style rule builds: every fact stored, replacing the one with its key."""
    bank: dict[str, str] = {}
    for fact in conversation_facts(conversation):
        bank.pop(memory_key(fact), None)  # re-insert: the bank stays in order of last write
        bank[memory_key(fact)] = fact
    return list(bank.values())


def manager_banks(rollouts: str | Path) -> dict[str, list[str]]:
    """Task id -> the bank a Memory Manager episode left, from a rollouts JSONL (``memrl rollout``,
    a recipe's ``--save_rollouts``). The first episode of each task counts: picking the best one
    would let the answer agent's evaluation peek at the manager's rewards."""
    from memrl.rollout.jsonl import load_trajectories

    banks: dict[str, list[str]] = {}
    for t in load_trajectories(rollouts):
        if isinstance(t.outcome.get("bank"), list):
            banks.setdefault(t.task_id, [str(m) for m in t.outcome["bank"]])
    if not banks:
        raise UserError(f"{rollouts} holds no Memory Manager episode with a final bank (outcome['bank'])")
    return banks
