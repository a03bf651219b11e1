"""The long-term memory interface every backend implements.

Operations never raise on bad input from the model (an unknown id, empty content, a second
delete): they return an :class:`OpResult` with ``ok=False`` and a one-line message the
environment shows the model, and they leave the store unchanged.

Every backend gets its input already checked and normalised here, so they cannot disagree on
it: text has its lone surrogates replaced by U+FFFD (SQLite cannot encode them; a dict can);
metadata and ``where`` filters must be JSON objects with string keys whose values are JSON
values with finite numbers and integers that fit in 64 bits (SQLite would store NaN and then
fail every filtered retrieve on ``malformed JSON``); a tuple is a list, as it is in JSON.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

OP_KINDS = ("add", "update", "delete", "retrieve", "noop")
MAX_TOP_K = 10_000  # more entries than any prompt can show; a retrieve asks for at most this many
MAX_DEPTH = 32  # nesting of a metadata value (json.dumps would hit the recursion limit on junk)
_INT64 = 2**63  # SQLite's integers (and JSON's interoperable ones) are 64-bit
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD: they cannot be encoded as UTF-8."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def json_text(value: Any) -> str:
    """The one JSON text of a normalised value: sorted keys, no spaces, as SQLite's ``json_each``
    gives a stored list or object back, so both backends compare lists and objects as this text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def json_value(value: Any, path: str, depth: int = 0) -> tuple[Any, str | None]:
    """(``value`` normalised for storing, None) or (None, what is wrong with it at ``path``).

    JSON values only: None, bool, int (64-bit), finite float, str, list/tuple, dict with str keys.
    """
    if value is None or isinstance(value, bool):
        return value, None
    if isinstance(value, int):
        return (value, None) if -_INT64 <= value < _INT64 else (None, f"{path} is an integer beyond 64 bits")
    if isinstance(value, float):
        return (value, None) if math.isfinite(value) else (None, f"{path} is {value}; store finite numbers only")
    if isinstance(value, str):
        return clean_text(value), None
    if depth >= MAX_DEPTH:
        return None, f"{path} is nested deeper than {MAX_DEPTH} levels"
    if isinstance(value, (list, tuple)):
        items = []
        for i, item in enumerate(value):
            item, problem = json_value(item, f"{path}[{i}]", depth + 1)
            if problem:
                return None, problem
            items.append(item)
        return items, None
    if isinstance(value, dict):
        return json_object(value, path, depth + 1)
    return None, f"{path} is a {type(value).__name__}, not a JSON value (string, number, boolean, null, list, object)"


def json_object(value: Any, path: str, depth: int = 0) -> tuple[dict[str, Any] | None, str | None]:
    """Like :func:`json_value` for a mapping with string keys (metadata, a ``where`` filter)."""
    if not isinstance(value, dict):
        return None, f"{path} must be an object of key: value pairs, got a {type(value).__name__}"
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            return None, f"{path} keys must be strings, got {key!r} ({type(key).__name__})"
        key = clean_text(key)
        item, problem = json_value(item, f"{path}[{key!r}]", depth)
        if problem:
            return None, problem
        out[key] = item
    return out, None


@dataclass(frozen=True)
class MemoryEntry:
    """One stored fact. ``id`` is stable for the store's lifetime and never reused."""

    id: str
    content: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpResult:
    """The outcome of one memory operation, as data and as the text the model sees."""

    op: str
    ok: bool
    message: str
    entry: MemoryEntry | None = None
    hits: tuple[tuple[MemoryEntry, float], ...] = ()  # retrieve: (entry, score), best first


class MemoryStore(ABC):
    """ADD / UPDATE / DELETE / RETRIEVE / NOOP over entries with stable ids.

    Subclasses implement the ``_add``/``_update``/... primitives on valid input; this class does
    the validation and the operation counts (``ops``: successes by kind, plus ``error``), so every
    backend rejects the same bad input with the same message.
    """

    def __init__(self) -> None:
        self.ops: Counter[str] = Counter()

    # -- public operations (validated, counted, never raise on model input) ----------------
    def add(self, content: str, metadata: dict[str, Any] | None = None) -> OpResult:
        content = clean_text(content).strip() if isinstance(content, str) else ""
        if not content:
            return self._fail("add", "content is empty; write the fact to store")
        meta, problem = json_object({} if metadata is None else metadata, "metadata")
        if problem:
            return self._fail("add", problem)
        entry = self._add(content, meta)
        return self._done("add", f"stored {entry.id}", entry)

    def update(self, entry_id: str, content: str, metadata: dict[str, Any] | None = None) -> OpResult:
        content = clean_text(content).strip() if isinstance(content, str) else ""
        if not content:
            return self._fail("update", "content is empty; write the new text of the entry")
        meta, problem = (None, None) if metadata is None else json_object(metadata, "metadata")
        if problem:
            return self._fail("update", problem)
        if self.get(entry_id) is None:
            return self._fail("update", self._unknown(entry_id))
        entry = self._update(str(entry_id), content, meta)
        return self._done("update", f"updated {entry.id}", entry)

    def delete(self, entry_id: str) -> OpResult:
        entry = self.get(entry_id)
        if entry is None:
            return self._fail("delete", self._unknown(entry_id))
        self._delete(entry.id)
        return self._done("delete", f"deleted {entry.id}", entry)

    def retrieve(self, query: str, top_k: int = 5, where: dict[str, Any] | None = None) -> OpResult:
        if not isinstance(query, str) or not query.strip():
            return self._fail("retrieve", "query is empty; say what to look for")
        if not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1:
            return self._fail("retrieve", f"top_k must be a positive integer, got {_short(top_k)}")
        if top_k > MAX_TOP_K:
            return self._fail("retrieve", f"top_k must be at most {MAX_TOP_K}, got {_short(top_k)}")
        where, problem = json_object({} if where is None else where, "where")
        if problem:
            return self._fail("retrieve", problem)
        hits = tuple(self._retrieve(clean_text(query), top_k, where))
        if not hits:
            return self._done("retrieve", "no matching memory", None, ())
        lines = "\n".join(f"[{e.id}] {e.content}" for e, _ in hits)
        return self._done("retrieve", lines, None, hits)

    def noop(self) -> OpResult:
        return self._done("noop", "no change", None)

    # -- reading -----------------------------------------------------------------------------
    @abstractmethod
    def get(self, entry_id: str) -> MemoryEntry | None:
        """The entry with this id, or None (also for ids of the wrong type)."""

    @abstractmethod
    def entries(self) -> list[MemoryEntry]:
        """All live entries in insertion order."""

    def __len__(self) -> int:
        return len(self.entries())

    def __iter__(self) -> Iterator[MemoryEntry]:
        return iter(self.entries())

    def snapshot(self) -> list[dict[str, Any]]:
        """JSON-ready copy of the store (for trajectories and `memrl inspect`)."""
        return [{"id": e.id, "content": e.content, "metadata": e.metadata} for e in self.entries()]

    def close(self) -> None:
        """Release resources (files, connections). Safe to call twice."""

    # -- backend primitives (called with valid input only) ----------------------------------
    @abstractmethod
    def _add(self, content: str, metadata: dict[str, Any]) -> MemoryEntry: ...

    @abstractmethod
    def _update(self, entry_id: str, content: str, metadata: dict[str, Any] | None) -> MemoryEntry: ...

    @abstractmethod
    def _delete(self, entry_id: str) -> None: ...

    @abstractmethod
    def _retrieve(self, query: str, top_k: int, where: dict[str, Any]) -> list[tuple[MemoryEntry, float]]:
        """Best-first (entry, score) pairs; ``where`` keeps entries whose metadata has those values."""

    # -- helpers -------------------------------------------------------------------------------
    def _unknown(self, entry_id: Any) -> str:
        live = ", ".join(e.id for e in self.entries()[:20]) or "none"
        return f"no memory with id {_short(entry_id)}; live ids: {live}"

    def _fail(self, op: str, message: str) -> OpResult:
        self.ops["error"] += 1
        return OpResult(op=op, ok=False, message=f"{op} failed: {message}")

    def _done(self, op: str, message: str, entry: MemoryEntry | None, hits=()) -> OpResult:
        self.ops[op] += 1
        return OpResult(op=op, ok=True, message=message, entry=entry, hits=tuple(hits))


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters (a model can send a 10,000-digit number)."""
    if isinstance(value, int) and value.bit_length() > 128:  # repr of a huge int is slow, or refused
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
