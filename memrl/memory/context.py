"""The short-term context: the messages the model sees, with stable ids it can refer to.

Four operations rewrite it, one per method family (their results reuse :class:`OpResult`):

- ``summary(start_id, end_id, text)`` (AgeMem ``Summary_context``): the unpinned messages from
  message ``start_id`` to message ``end_id`` in reading order become one ``user`` message
  ``"[summary of messages a-b] text"`` at the place of the first of them. Pinned messages inside
  the span stay where they are.
- ``filter(criteria)`` (AgeMem ``Filter_context``): drops the unpinned messages that contain
  *every* keyword of ``criteria`` (case-insensitive substrings; keywords split on spaces and
  commas). All-of rather than any-of, because a model that writes "weather report" means that
  topic, not every message with "report" in it.
- ``prune(delete_ids, memory)`` (MemAct ``prune_context``): deletes messages by id and appends a
  ``user`` message ``"[memory] ..."`` holding what the model chose to keep.
- ``consolidate(state)`` (MEM1): every unpinned message gives way to one internal-state message.

Pinned messages (the system prompt, the task) are never removed. Like the long-term store,
no operation raises on what the model passed: bad input gives ``ok=False`` with one line saying
what to fix, and leaves the context as it was (each operation validates everything first, then
changes the context in one assignment).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from memrl.memory.base import OpResult

CONTEXT_OP_KINDS = ("summary", "filter", "prune", "consolidate")


@dataclass(frozen=True)
class Message:
    """One message of the context. ``id`` is stable and never reused within the context."""

    id: int
    role: str
    content: str
    pinned: bool = False


class Context:
    """An ordered list of messages with ids 1, 2, ... and the four context operations.

    ``ops`` counts successful operations by kind, plus ``error`` for rejected ones (the same
    scheme as :class:`~memrl.memory.base.MemoryStore`, so environments can merge the two).
    """

    def __init__(self) -> None:
        self._messages: list[Message] = []
        self._last = 0
        self.ops: Counter[str] = Counter()

    # -- building (called by environment code) ---------------------------------------------
    def append(self, role: str, content: str, pinned: bool = False) -> int:
        """Add a message at the end; returns its id."""
        if not isinstance(role, str) or not role:
            raise ValueError(f"role must be a non-empty string such as 'user', got {role!r}")
        if not isinstance(content, str):
            raise TypeError(f"content of a {role} message must be a str, got {type(content).__name__}")
        return self._push(role, content, pinned).id

    def remove(self, message_ids: Iterable[int]) -> int:
        """Drop messages by id (environment code, e.g. cutting what overflows a budget); returns
        how many were removed. Not a model operation: it is not counted in ``ops``."""
        gone = set(message_ids)
        before = len(self._messages)
        self._messages = [m for m in self._messages if m.id not in gone]
        return before - len(self._messages)

    # -- operations the model calls ----------------------------------------------------------
    def summary(self, start_id: int, end_id: int, text: str) -> OpResult:
        """Replace the unpinned messages from ``start_id`` to ``end_id`` (as shown) by one summary."""
        text = _text(text)
        problem = self._check_ids({"start_id": start_id, "end_id": end_id})
        # Positions, not id arithmetic: a summary takes a new, higher id but sits where its span
        # was, so ids are not sorted in reading order once the context has been rewritten.
        first, last = (0, -1) if problem else (self._position(start_id), self._position(end_id))
        if problem is None and first > last:
            problem = f"message {start_id} comes after message {end_id}; give the span in reading order"
        span = [m for m in self._messages[first : last + 1] if not m.pinned]
        if problem is None and not span:
            problem = f"messages {start_id}-{end_id} are all pinned; nothing to summarise"
        if problem is None and not text:
            problem = "text is empty; write the summary of the span"
        if problem:
            return self._fail("summary", problem)
        note = self._new("user", f"[summary of messages {start_id}-{end_id}] {text}")
        at = self._messages.index(span[0])
        replaced = {m.id for m in span}
        self._messages = self._messages[:at] + [note] + [m for m in self._messages[at:] if m.id not in replaced]
        return self._done("summary", f"summarised {_n(len(span))} into message {note.id}")

    def filter(self, criteria: str) -> OpResult:
        """Drop the unpinned messages that contain every keyword of ``criteria``."""
        keywords = [k for k in re.split(r"[\s,;]+", _text(criteria).lower()) if k]
        if not keywords:
            return self._fail("filter", "criteria is empty; give keywords of the messages to drop")
        dropped = [m for m in self._messages if not m.pinned and all(k in m.content.lower() for k in keywords)]
        if not dropped:
            return self._done("filter", f"no unpinned message contains all of: {' '.join(keywords)}; nothing removed")
        gone = {m.id for m in dropped}
        self._messages = [m for m in self._messages if m.id not in gone]
        return self._done("filter", f"removed {_n(len(dropped))} ({_ids(gone)})")

    def prune(self, delete_ids: list[int], memory: str) -> OpResult:
        """Delete messages by id and append ``memory`` as a note (MemAct's prune_context)."""
        memory = _text(memory)
        problem = self._prune_problem(delete_ids, memory)
        if problem:
            return self._fail("prune", problem)
        gone = set(delete_ids)
        self._messages = [m for m in self._messages if m.id not in gone]
        note = self._push("user", f"[memory] {memory}")
        return self._done("prune", f"pruned {_n(len(gone))} ({_ids(gone)}); memory kept as message {note.id}")

    def consolidate(self, state: str, role: str = "assistant") -> OpResult:
        """Replace every unpinned message by one internal-state message (MEM1)."""
        state = _text(state)
        if not state:
            return self._fail("consolidate", "state is empty; write the internal state to carry forward")
        dropped = sum(not m.pinned for m in self._messages)
        self._messages = [m for m in self._messages if m.pinned]
        note = self._push(role, state)
        return self._done("consolidate", f"consolidated {_n(dropped)} into message {note.id}")

    # -- reading -----------------------------------------------------------------------------
    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self._messages)

    def get(self, message_id: int) -> Message | None:
        return next((m for m in self._messages if m.id == message_id), None)

    def __len__(self) -> int:
        return len(self._messages)

    def to_messages(self, show_ids: bool = False) -> list[dict[str, str]]:
        """Chat messages (role/content); with ``show_ids`` each content starts with ``"[id] "``."""
        if show_ids:
            return [{"role": m.role, "content": f"[{m.id}] {m.content}"} for m in self._messages]
        return [{"role": m.role, "content": m.content} for m in self._messages]

    def token_count(self, count_fn: Callable[[str], int] | None = None) -> int:
        """Total tokens of the contents by ``count_fn`` (default: whitespace-separated words).

        Pass e.g. ``lambda s: len(tokenizer.encode(s, add_special_tokens=False))``; chat
        template tokens are not counted.
        """
        count = count_fn or (lambda s: len(s.split()))
        return sum(count(m.content) for m in self._messages)

    def snapshot(self) -> list[dict[str, Any]]:
        """JSON-ready copy (id, role, content, pinned of each message)."""
        return [{"id": m.id, "role": m.role, "content": m.content, "pinned": m.pinned} for m in self._messages]

    # -- helpers -------------------------------------------------------------------------------
    def _new(self, role: str, content: str, pinned: bool = False) -> Message:
        self._last += 1
        return Message(self._last, role, content, pinned)

    def _push(self, role: str, content: str, pinned: bool = False) -> Message:
        message = self._new(role, content, pinned)
        self._messages.append(message)
        return message

    def _position(self, message_id: int) -> int:
        return next(i for i, m in enumerate(self._messages) if m.id == message_id)

    def _check_ids(self, named: dict[str, Any]) -> str | None:
        live = {m.id for m in self._messages}
        for name, value in named.items():
            if not _all_ints([value]):
                return f"{name} must be an integer message id, got {value!r}"
            if value not in live:
                return f"{name}: no message with id {value}; live ids: {_ids(live)}"
        return None

    def _prune_problem(self, delete_ids: Any, memory: str) -> str | None:
        if not isinstance(delete_ids, (list, tuple)) or not _all_ints(delete_ids):
            return f"delete_ids must be a list of integer message ids, got {delete_ids!r}"
        if not delete_ids:
            return "delete_ids is empty; name the messages to prune"
        by_id = {m.id: m for m in self._messages}
        unknown = [i for i in delete_ids if i not in by_id]
        if unknown:
            return f"no message with id {_ids(set(unknown))}; live ids: {_ids(by_id)}"
        pinned = [i for i in delete_ids if by_id[i].pinned]
        if pinned:
            return f"message {_ids(set(pinned))} is pinned (system or task) and cannot be pruned"
        if not memory:
            return "memory is empty; write what to keep from the pruned messages"
        return None

    def _fail(self, op: str, message: str) -> OpResult:
        self.ops["error"] += 1
        return OpResult(op=op, ok=False, message=f"{op} failed: {message}")

    def _done(self, op: str, message: str) -> OpResult:
        self.ops[op] += 1
        return OpResult(op=op, ok=True, message=message)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _all_ints(values: Iterable[Any]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def _n(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"


def _ids(ids: Iterable[int]) -> str:
    return ", ".join(str(i) for i in sorted(ids)) or "none"
