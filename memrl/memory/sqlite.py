"""A long-term store in one SQLite file: survives restarts, shared by namespaces, ranked by FTS5.

Every value reaches SQLite as a bound parameter; no SQL is built in Python. Query text from
the model is never handed to FTS5's query language: it is cut into the same word tokens the in-process store uses, and each is double-quoted (a
string, not syntax), so ``"; DROP TABLE x; --``, ``AND OR NOT "``, ``*`` or ``NEAR(`` are just
words to look for. Each operation is one transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``, or
``ROLLBACK`` on any error), so a failure leaves the file as it was.

Ranking is FTS5's ``bm25()`` (k1=1.2, b=0.75, fixed by SQLite), with document statistics over
the whole file, all namespaces together; scores are reported negated, so higher is better.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from memrl.memory.base import MemoryEntry, MemoryStore, clean_text, json_text
from memrl.memory.inprocess import matches, tokenize

_SCHEMA = (
    # The id counter per namespace: ids stay unique across deletes and restarts.
    "CREATE TABLE IF NOT EXISTS memrl_counters (namespace TEXT PRIMARY KEY, last INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS memrl_entries (
        pk INTEGER PRIMARY KEY,
        namespace TEXT NOT NULL,
        seq INTEGER NOT NULL,
        id TEXT NOT NULL,
        content TEXT NOT NULL,
        metadata TEXT NOT NULL,
        UNIQUE (namespace, id)
    )""",
    "CREATE INDEX IF NOT EXISTS memrl_entries_order ON memrl_entries (namespace, seq)",
    # rowid = memrl_entries.pk; the default unicode61 tokenizer (no stemming), like tokenize().
    "CREATE VIRTUAL TABLE IF NOT EXISTS memrl_fts USING fts5(content)",
)

_RETRIEVE = """
    SELECT e.id, e.content, e.metadata, bm25(memrl_fts) AS rank
    FROM memrl_fts JOIN memrl_entries AS e ON e.pk = memrl_fts.rowid
    WHERE memrl_fts MATCH ? AND e.namespace = ?"""


def fts_query(text: str) -> str:
    """An FTS5 query that matches any word of ``text``: ``"w1" OR "w2" ...`` ('' if no words)."""
    words = dict.fromkeys(tokenize(text))
    return " OR ".join('"' + w.replace('"', '""') + '"' for w in words)


class SQLiteStore(MemoryStore):
    """Entries in a SQLite file (WAL mode), ranked by FTS5 BM25, isolated by ``namespace``.

    Args:
        path: the database file (created if missing), or ``":memory:"`` (the default) for a
            store that lives as long as the object.
        namespace: the name under which this store's entries live; several episodes or agents
            can share one file with different namespaces. Ids (``m1``, ``m2``, ...) are counted
            per namespace and never reused, also after reopening the file.
        timeout: seconds to wait for another writer's lock before failing.
    """

    def __init__(self, path: str | Path = ":memory:", *, namespace: str = "default", timeout: float = 30.0) -> None:
        super().__init__()
        if not isinstance(namespace, str) or not namespace:
            raise ValueError(f"namespace must be a non-empty string, got {namespace!r}")
        self.path, self.namespace = str(path), namespace
        try:
            # isolation_level=None: we issue BEGIN/COMMIT ourselves, one transaction per op.
            self._conn: sqlite3.Connection | None = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            # Under WAL, NORMAL never corrupts the file; a power cut may lose the last commits.
            self._conn.execute("PRAGMA synchronous=NORMAL")
            with self._transaction():
                for statement in _SCHEMA:
                    self._conn.execute(statement)
        except sqlite3.Error as e:
            hint = "check the folder exists and is writable"
            raise ValueError(f"cannot open SQLite memory {self.path!r}: {e}; {hint}") from e

    # -- reading -----------------------------------------------------------------------------
    def get(self, entry_id: str) -> MemoryEntry | None:
        if not isinstance(entry_id, str) or clean_text(entry_id) != entry_id:
            return None  # ids are ASCII; a lone surrogate could not even be sent to SQLite
        row = self._db.execute(
            "SELECT id, content, metadata FROM memrl_entries WHERE namespace = ? AND id = ?",
            (self.namespace, entry_id),
        ).fetchone()
        return _entry(row) if row else None

    def entries(self) -> list[MemoryEntry]:
        rows = self._db.execute(
            "SELECT id, content, metadata FROM memrl_entries WHERE namespace = ? ORDER BY seq",
            (self.namespace,),
        ).fetchall()
        return [_entry(r) for r in rows]

    def __len__(self) -> int:
        sql = "SELECT COUNT(*) FROM memrl_entries WHERE namespace = ?"
        return self._db.execute(sql, (self.namespace,)).fetchone()[0]

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- primitives --------------------------------------------------------------------------
    def _add(self, content: str, metadata: dict[str, Any]) -> MemoryEntry:
        meta = json_text(metadata)
        with self._transaction():
            seq = self._db.execute(
                "INSERT INTO memrl_counters (namespace, last) VALUES (?, 1)"
                " ON CONFLICT (namespace) DO UPDATE SET last = last + 1 RETURNING last",
                (self.namespace,),
            ).fetchone()[0]
            entry_id = f"m{seq}"
            pk = self._db.execute(
                "INSERT INTO memrl_entries (namespace, seq, id, content, metadata) VALUES (?, ?, ?, ?, ?)",
                (self.namespace, seq, entry_id, content, meta),
            ).lastrowid
            self._db.execute("INSERT INTO memrl_fts (rowid, content) VALUES (?, ?)", (pk, content))
        return MemoryEntry(entry_id, content, json.loads(meta))

    def _update(self, entry_id: str, content: str, metadata: dict[str, Any] | None) -> MemoryEntry:
        meta = None if metadata is None else json_text(metadata)
        with self._transaction():
            pk, stored = _found(self._db.execute(
                "UPDATE memrl_entries SET content = ?, metadata = COALESCE(?, metadata)"
                " WHERE namespace = ? AND id = ? RETURNING pk, metadata",
                (content, meta, self.namespace, entry_id),
            ).fetchone(), entry_id)
            self._db.execute("UPDATE memrl_fts SET content = ? WHERE rowid = ?", (content, pk))
        return MemoryEntry(entry_id, content, json.loads(stored))

    def _delete(self, entry_id: str) -> None:
        with self._transaction():
            (pk,) = _found(self._db.execute(
                "DELETE FROM memrl_entries WHERE namespace = ? AND id = ? RETURNING pk",
                (self.namespace, entry_id),
            ).fetchone(), entry_id)
            self._db.execute("DELETE FROM memrl_fts WHERE rowid = ?", (pk,))

    def _retrieve(self, query: str, top_k: int, where: dict[str, Any]) -> list[tuple[MemoryEntry, float]]:
        match = fts_query(query)
        if not match:  # only stop words or punctuation: nothing to look for
            return []
        if not where:
            rows = self._db.execute(_RETRIEVE + " ORDER BY rank, e.seq LIMIT ?", (match, self.namespace, top_k)).fetchall()
            return [(_entry(r[:3]), -r[3]) for r in rows]
        # The filter runs in Python with the in-process store's rule, over the ranked rows, until
        # top_k survive: SQLite's JSON functions disagree with Python on keys holding NUL, on
        # 1 vs 1.0 inside lists and on how they print numbers, and both backends must agree.
        hits = []
        for row in self._db.execute(_RETRIEVE + " ORDER BY rank, e.seq", (match, self.namespace)):
            entry = _entry(row[:3])
            if matches(entry.metadata, where):
                hits.append((entry, -row[3]))
                if len(hits) == top_k:
                    break
        return hits

    # -- internals ---------------------------------------------------------------------------
    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError(f"SQLiteStore({self.path!r}) is closed; open a new one")
        return self._conn

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        # IMMEDIATE takes the write lock up front, so two writers wait (busy timeout) instead
        # of failing halfway when a read lock cannot be upgraded.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")


def _found(row: tuple | None, entry_id: str) -> tuple:
    # The base class checked that the id exists; only another connection to the same file
    # and namespace can have deleted it since. Raising rolls the transaction back.
    if row is None:
        raise LookupError(f"memory {entry_id!r} was deleted by another connection to this namespace")
    return row


def _entry(row: tuple[str, str, str]) -> MemoryEntry:
    return MemoryEntry(row[0], row[1], json.loads(row[2]))
