"""The long-term memory interface every backend implements.

Operations never raise on bad input from the model (an unknown id, empty content, a second
delete): they return an :class:`OpResult` with ``ok=False`` and a one-line message the
environment shows the model, and they leave the store unchanged.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterator

OP_KINDS = ("add", "update", "delete", "retrieve", "noop")


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
        content = (content or "").strip() if isinstance(content, str) else ""
        if not content:
            return self._fail("add", "content is empty; write the fact to store")
        entry = self._add(content, dict(metadata or {}))
        return self._done("add", f"stored {entry.id}", entry)

    def update(self, entry_id: str, content: str, metadata: dict[str, Any] | None = None) -> OpResult:
        content = (content or "").strip() if isinstance(content, str) else ""
        if not content:
            return self._fail("update", "content is empty; write the new text of the entry")
        if self.get(entry_id) is None:
            return self._fail("update", self._unknown(entry_id))
        entry = self._update(str(entry_id), content, None if metadata is None else dict(metadata))
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
            return self._fail("retrieve", f"top_k must be a positive integer, got {top_k!r}")
        hits = tuple(self._retrieve(query, top_k, dict(where or {})))
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
        return f"no memory with id {entry_id!r}; live ids: {live}"

    def _fail(self, op: str, message: str) -> OpResult:
        self.ops["error"] += 1
        return OpResult(op=op, ok=False, message=f"{op} failed: {message}")

    def _done(self, op: str, message: str, entry: MemoryEntry | None, hits=()) -> OpResult:
        self.ops[op] += 1
        return OpResult(op=op, ok=True, message=message, entry=entry, hits=tuple(hits))
