"""Long-term memory stores (entries with stable ids) and the short-term context (messages)."""

from __future__ import annotations

import difflib
import inspect
from typing import Any, Mapping

from memrl.memory.base import OP_KINDS, MemoryEntry, MemoryStore, OpResult
from memrl.memory.context import CONTEXT_OP_KINDS, Context, Message
from memrl.memory.inprocess import InProcessStore
from memrl.memory.sqlite import SQLiteStore

STORE_KINDS = ("inprocess", "sqlite", "dense")


def store_class(kind: str) -> type:
    """The store class of ``kind``: ``"inprocess"`` (BM25 in a dict), ``"sqlite"`` (a file with FTS5;
    ``path=``, ``namespace=``) or ``"dense"`` (sentence embeddings; needs ``memrl[dense]``)."""
    if kind == "inprocess":
        return InProcessStore
    if kind == "sqlite":
        return SQLiteStore
    if kind == "dense":
        from memrl.memory.dense import DenseStore  # the module is light; sentence-transformers loads on first use

        return DenseStore
    close = difflib.get_close_matches(str(kind), STORE_KINDS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown memory store {kind!r}.{hint} Choose one of: {', '.join(STORE_KINDS)}")


def make_store(kind: str = "inprocess", **kwargs: Any) -> MemoryStore:
    """A new long-term store of ``kind`` (see :func:`store_class`)."""
    return store_class(kind)(**kwargs)


def __getattr__(name: str) -> Any:
    # DenseStore is importable from here without making every import pay for it.
    if name == "DenseStore":
        from memrl.memory.dense import DenseStore

        return DenseStore
    raise AttributeError(f"module 'memrl.memory' has no attribute {name!r}")


__all__ = [
    "OP_KINDS",
    "CONTEXT_OP_KINDS",
    "STORE_KINDS",
    "MemoryStore",
    "MemoryEntry",
    "OpResult",
    "InProcessStore",
    "SQLiteStore",
    "DenseStore",
    "Context",
    "Message",
    "make_store",
]


def unknown_store_settings(kind: str, kwargs: Mapping[str, Any]) -> list[str]:
    """The keys of ``kwargs`` that a ``kind`` store does not take (checked without building one)."""
    try:
        store = store_class(kind)
    except ValueError:
        return []  # make_store says what is wrong with the kind itself
    params = inspect.signature(store).parameters.values()
    names = {p.name for p in params if p.kind is not p.VAR_KEYWORD}
    if any(p.kind is p.VAR_KEYWORD for p in params):  # DenseStore passes the rest on to its BM25 fallback
        names |= set(inspect.signature(InProcessStore).parameters)
    return sorted(set(kwargs) - names)
