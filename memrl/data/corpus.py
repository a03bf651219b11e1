"""A local search tool: a corpus of documents ranked by BM25, for the multi-objective QA envs.

The index is memrl's in-process store (``make_store("inprocess")``: Lucene BM25, checked against
bm25s in its tests), built once per episode from the task's own documents or from a user's JSONL
file. A document is ``{"title": ..., "text": ...}``; the search result shows each hit as
``[title] text`` so the model can tell paragraphs apart.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from memrl.errors import UserError
from memrl.memory import make_store

MAX_TOP_K = 10  # a model asking for 1,000 hits would flood its own context


class Corpus:
    """Documents searchable by BM25; ``search`` returns the text the model sees."""

    def __init__(self, documents: Iterable[dict[str, str]]):
        self.store = make_store("inprocess")
        for doc in documents:
            self.store.add(doc["text"], {"title": doc.get("title", "")})

    def __len__(self) -> int:
        return len(self.store)

    def hits(self, query: str, top_k: int = 3) -> list[dict[str, str]]:
        """The best ``top_k`` documents for ``query`` as ``{"title", "text"}``, best first."""
        result = self.store.retrieve(query, top_k)
        return [{"title": e.metadata.get("title", ""), "text": e.content} for e, _ in result.hits]

    def search(self, query: str, top_k: int = 3) -> str:
        """What the model sees for a search: one ``[title] text`` line per hit, or why there is none."""
        if not isinstance(query, str) or not query.strip():
            return "search failed: the query is empty; write what to look for"
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            return f"search failed: top_k must be an integer from 1 to {MAX_TOP_K}, got {top_k!r}"
        found = self.hits(query, top_k)
        if not found:
            return f"no document matches {query.strip()!r}; try other words"
        return "\n".join(f"[{d['title']}] {d['text']}" if d["title"] else d["text"] for d in found)

    def close(self) -> None:
        self.store.close()


def load_jsonl_corpus(path: str | Path) -> list[dict[str, str]]:
    """Documents from a JSONL file, one ``{"text": ..., "title": ...}`` object a line (title optional)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"corpus file {str(path)!r} does not exist; pass a JSONL file with one {{\"text\": ...}} per line")
    docs: list[dict[str, str]] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row: Any = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{n}: not valid JSON ({e.msg}); write one JSON object per line") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str) or not row["text"].strip():
                raise UserError(f"{path}:{n}: each line needs a non-empty \"text\" string, e.g. {{\"title\": \"Paris\", \"text\": \"...\"}}")
            docs.append({"title": str(row.get("title", "")), "text": row["text"].strip()})
    if not docs:
        raise UserError(f"corpus file {path} has no documents")
    return docs
