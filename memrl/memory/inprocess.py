"""The default long-term store: a dict of entries in this process, ranked by BM25.

One store lives for one episode, so every operation must cost microseconds, and the store is
written to between reads (ADD, RETRIEVE, ADD, ...). bm25s is the maintained BM25 library we
build on, but its index is static: ``BM25.index`` precomputes every (term, doc) score with the
corpus-wide ``N`` and average length baked in, so each ADD would mean re-indexing the whole
corpus (about 0.2 s at 10k entries, see bench/memory_ops.py). We therefore keep an inverted index that is updated per
operation and score only the documents that contain a query term, with bm25s's default
variant, Lucene BM25 (k1=1.5, b=0.75):

    idf(t)    = ln(1 + (N - df + 0.5) / (df + 0.5))
    score(d)  = sum over query terms t in d of  idf(t) * tf / (tf + k1 * (1 - b + b * |d| / avgdl))

from bm25s we reuse the stop-word list, and the tests check our scores against
``bm25s.BM25(method="lucene")`` on the same corpus, so the two cannot drift apart.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

import numpy as np

from memrl.memory.base import MemoryEntry, MemoryStore, json_text


def _bm25s_stopwords() -> list[str]:
    """bm25s's English stop words, imported with JAX hidden from bm25s.

    Where JAX is installed (GPU images often carry it), ``import bm25s`` imports it and runs a
    top-k at import time, and JAX then preallocates 75% of the GPU's memory in every process that
    imports memrl.memory. Measured on an H200: PyTorch ran out of CUDA memory in the recipes'
    processes, and parallel pytest workers could not start JAX at all. memrl needs only this
    list; without JAX, bm25s uses numpy.
    """
    import sys

    if "jax" in sys.modules or "bm25s" in sys.modules:  # too late to hide it, or already hidden
        from bm25s.stopwords import STOPWORDS_EN

        return STOPWORDS_EN
    sys.modules["jax"] = None  # type: ignore[assignment]  # makes bm25s's `import jax.lax` raise ImportError
    try:
        from bm25s.stopwords import STOPWORDS_EN
    finally:
        del sys.modules["jax"]  # the user's own `import jax` works as before
    return STOPWORDS_EN


# Runs of letters and digits. Unlike bm25s's default (``\w\w+``) this keeps one-character
# tokens ("3 cats", "room B"), which facts are full of; it also splits on "_" as SQLite FTS5's
# unicode61 tokenizer does, so both backends see the same words.
TOKEN_PATTERN = r"[^\W_]+"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
STOPWORDS = frozenset(_bm25s_stopwords())


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens of ``text`` without English stop words (shared by all backends)."""
    return [t for t in _TOKEN_RE.findall(text.lower()) if t not in STOPWORDS]


def matches(metadata: dict[str, Any], where: dict[str, Any]) -> bool:
    """Exact match: every key of ``where`` is present in ``metadata`` with an equal value.

    Numbers compare as numbers (``2 == 2.0``, ``True == 1``, as in SQLite); a list or object
    compares as its JSON text (``[1] != [1.0]``), as SQLite compares them.
    """
    return all(key in metadata and _same(metadata[key], value) for key, value in where.items())


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(stored, (list, dict)) or isinstance(wanted, (list, dict)):
        return isinstance(stored, (list, dict)) and isinstance(wanted, (list, dict)) and json_text(stored) == json_text(wanted)
    return stored == wanted


class BM25Index:
    """An inverted index over integer document slots, updated in place, scored with Lucene BM25.

    Slots are the entry numbers (``m7`` lives in slot 7), so slot order is insertion order and
    ties can be broken by slot.
    """

    def __init__(self, k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._postings: dict[str, dict[int, int]] = {}  # term -> {slot: term frequency}
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # term -> (slots, tfs) cache
        self._terms: dict[int, Counter[str]] = {}  # slot -> its term counts, to remove it later
        self._doc_len = np.zeros(64, dtype=np.float64)
        self._total_len = 0

    def __len__(self) -> int:
        return len(self._terms)

    def add(self, slot: int, tokens: list[str]) -> None:
        counts = Counter(tokens)
        self._terms[slot] = counts
        for term, tf in counts.items():
            self._postings.setdefault(term, {})[slot] = tf
            self._arrays.pop(term, None)
        if slot >= len(self._doc_len):  # grow by doubling: amortised O(1) per add
            grown = np.zeros(max(2 * len(self._doc_len), slot + 1), dtype=np.float64)
            grown[: len(self._doc_len)] = self._doc_len
            self._doc_len = grown
        self._doc_len[slot] = len(tokens)
        self._total_len += len(tokens)

    def remove(self, slot: int) -> None:
        counts = self._terms.pop(slot)
        for term in counts:
            docs = self._postings[term]
            del docs[slot]
            if not docs:
                del self._postings[term]
            self._arrays.pop(term, None)
        self._total_len -= int(self._doc_len[slot])
        self._doc_len[slot] = 0.0

    def scores(self, query_terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(slots, scores) of every document that contains at least one of the query terms.

        Each distinct query term counts once (a repeated word does not weigh more).
        """
        n_docs = len(self._terms)
        terms = [t for t in dict.fromkeys(query_terms) if t in self._postings]
        if not terms:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        avgdl = max(self._total_len / n_docs, 1e-9)  # all-stop-word documents have length 0
        acc = np.zeros(len(self._doc_len), dtype=np.float64)
        for term in terms:
            slots, tf = self._posting_arrays(term)
            idf = math.log(1.0 + (n_docs - len(slots) + 0.5) / (len(slots) + 0.5))
            norm = self.k1 * (1.0 - self.b + self.b * self._doc_len[slots] / avgdl)
            acc[slots] += idf * tf / (tf + norm)  # slots are unique within a term
        hit = np.flatnonzero(acc)  # idf > 0 and tf > 0, so every matching document scores > 0
        return hit, acc[hit]

    def _posting_arrays(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        # Cached as arrays so a frequent term (in thousands of documents) costs one vector op
        # per query instead of a Python loop; a write to the term drops its cache entry.
        cached = self._arrays.get(term)
        if cached is None:
            docs = self._postings[term]
            slots = np.fromiter(docs.keys(), dtype=np.int64, count=len(docs))
            tfs = np.fromiter(docs.values(), dtype=np.float64, count=len(docs))
            cached = self._arrays[term] = (slots, tfs)
        return cached


def rank(slots: np.ndarray, scores: np.ndarray, top_k: int | None) -> np.ndarray:
    """Positions into ``slots``/``scores``, best first: score descending, ties by slot ascending
    (insertion order).

    With ``top_k`` only the best ``top_k`` are sorted; every score tied at the cut is kept for
    the sort, so the result does not depend on the partition's arbitrary order.
    """
    positions = np.arange(len(scores))
    if top_k is not None and len(scores) > top_k:
        kth = np.partition(scores, len(scores) - top_k)[len(scores) - top_k]
        positions = np.flatnonzero(scores >= kth)
    order = positions[np.lexsort((slots[positions], -scores[positions]))]
    return order if top_k is None else order[:top_k]


class InProcessStore(MemoryStore):
    """Entries in a dict with ids ``m1``, ``m2``, ... (never reused), ranked by Lucene BM25.

    Args:
        k1, b: BM25 parameters (bm25s's defaults).

    ``retrieve(query, top_k, where)`` returns entries that share at least one word with the
    query (stop words aside), best first; ties go to the older entry. ``where`` keeps entries
    whose metadata has each of its keys with an equal value.
    """

    def __init__(self, *, k1: float = 1.5, b: float = 0.75) -> None:
        super().__init__()
        self._entries: dict[str, MemoryEntry] = {}
        self._index = BM25Index(k1=k1, b=b)
        self._last = 0  # number of the last id handed out

    # -- reading -----------------------------------------------------------------------------
    def get(self, entry_id: str) -> MemoryEntry | None:
        return self._entries.get(entry_id) if isinstance(entry_id, str) else None

    def entries(self) -> list[MemoryEntry]:
        return list(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    # -- primitives --------------------------------------------------------------------------
    def _add(self, content: str, metadata: dict[str, Any]) -> MemoryEntry:
        self._last += 1
        entry = MemoryEntry(f"m{self._last}", content, metadata)
        self._entries[entry.id] = entry
        self._index.add(self._last, tokenize(content))
        return entry

    def _update(self, entry_id: str, content: str, metadata: dict[str, Any] | None) -> MemoryEntry:
        old = self._entries[entry_id]
        entry = MemoryEntry(entry_id, content, old.metadata if metadata is None else metadata)
        self._entries[entry_id] = entry  # same key: keeps its insertion position
        slot = slot_of(entry_id)
        self._index.remove(slot)
        self._index.add(slot, tokenize(content))
        return entry

    def _delete(self, entry_id: str) -> None:
        del self._entries[entry_id]
        self._index.remove(slot_of(entry_id))

    def _retrieve(self, query: str, top_k: int, where: dict[str, Any]) -> list[tuple[MemoryEntry, float]]:
        slots, scores = self._score(query)
        hits: list[tuple[MemoryEntry, float]] = []
        # With a filter we cannot know how deep the top_k survivors lie, so rank everything.
        for i in rank(slots, scores, None if where else top_k).tolist():
            entry = self._entries[f"m{slots[i]}"]
            if not where or matches(entry.metadata, where):
                hits.append((entry, float(scores[i])))
                if len(hits) == top_k:
                    break
        return hits

    def _score(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        """(slots, scores) of the entries that match ``query`` at all; subclasses rank otherwise."""
        return self._index.scores(tokenize(query))


def slot_of(entry_id: str) -> int:
    """The index slot of an id this store handed out (``m7`` -> 7)."""
    return int(entry_id[1:])
