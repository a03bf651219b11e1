"""HotpotQA (Yang et al., 2018; CC BY-SA 4.0): the one loader every HotpotQA-backed env reads.

Rows come in the layout of the Hugging Face data set ``hotpotqa/hotpot_qa`` (config
``distractor``): ``question``, ``answer``, ``supporting_facts`` (``title``, ``sent_id``),
``context`` (``title``, ``sentences``), and ``id``, ``type``, ``level`` where the source has
them. Rows of the original release (``_id``, lists of ``[title, sentences]``) are turned into
that layout. Where they come from, the first that exists:

1. ``path``: a JSON or JSONL file of your own;
2. the data folder (:mod:`memrl.data.paths`), ``hotpotqa/`` in it: :data:`LOCAL_FILES` in
   order (what ``memrl data download hotpotqa`` writes: all 7,405 dev questions; then a copy of
   the first 100);
3. when no folder was named (neither ``data_dir`` nor ``$MEMRL_DATA``): the Hub,
   ``load_dataset("hotpotqa/hotpot_qa", "distractor", split="validation")``, cached by
   ``datasets`` as usual.

Local files go through ``load_dataset("json", data_files=...)``, so a file and the Hub give the
same rows by the same path. Offline with nothing local or cached, the error is one line that says
how to get the data.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from memrl.data.paths import data_folder, where
from memrl.errors import UserError

LOCAL_FILES = ("hotpotqa/hotpot_dev_distractor_v1.jsonl", "hotpotqa/hotpot_dev_distractor_first100_hf_format.json")
HUB_ID, HUB_CONFIG, HUB_SPLIT = "hotpotqa/hotpot_qa", "distractor", "validation"
LICENSE = "CC BY-SA 4.0"
_HOW = ("run `memrl data download hotpotqa` on a machine that is online, or put a HotpotQA distractor "
        "JSON/JSONL file in the data folder's hotpotqa/ (or pass path=<file>)")


def hotpotqa_file(data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None) -> Path | None:
    """The local file the rows come from, or None when only the Hub is left (see the module docstring)."""
    if path:
        file = Path(path).expanduser()
        if not file.is_file():
            raise UserError(f"HotpotQA file {str(file)!r} not found; pass path=<a JSON or JSONL file in the hotpot_qa layout>")
        return file
    folder = data_folder(data_dir)
    for name in LOCAL_FILES:
        if (folder / name).is_file():
            return folder / name
    if data_dir or os.environ.get("MEMRL_DATA"):  # a folder was named: it should hold the data
        raise UserError(f"HotpotQA data not found in {where(data_dir)}: no {' or '.join(LOCAL_FILES)}; {_HOW}")
    return None


@dataclass(frozen=True)
class Source:
    """Where the rows come from: a local file as it is now (path, modification time), or the Hub
    (``file`` None). Hashable, so views derived from the rows can be cached per source."""

    file: str | None
    mtime_ns: int = 0


def hotpotqa_source(data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None) -> Source:
    """The :class:`Source` :func:`load_hotpotqa` reads (see the module docstring)."""
    file = hotpotqa_file(data_dir, path)
    return Source(str(file), file.stat().st_mtime_ns) if file is not None else Source(None)


def rows_from(source: Source) -> tuple[dict[str, Any], ...]:
    """Every row of a source, in the Hub's layout (read once per process and file version)."""
    return _hub_rows() if source.file is None else _file_rows(source)


def load_hotpotqa(data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None) -> tuple[dict[str, Any], ...]:
    """Every row, in the Hub's layout (read once per process and file)."""
    return rows_from(hotpotqa_source(data_dir, path))


@lru_cache(maxsize=8)
def _file_rows(source: Source) -> tuple[dict[str, Any], ...]:
    from datasets import load_dataset

    file = source.file

    try:
        dataset = load_dataset("json", data_files=file, split="train")
    except Exception as e:  # datasets wraps JSON errors in several types; the user needs the file and the reason
        raise UserError(f"HotpotQA file {file!r} is not valid JSON or JSONL ({_first_line(e)})") from None
    return _checked(dataset.to_list(), file)


@lru_cache(maxsize=1)
def _hub_rows() -> tuple[dict[str, Any], ...]:
    from datasets import load_dataset

    try:
        dataset = load_dataset(HUB_ID, HUB_CONFIG, split=HUB_SPLIT)
    except (ConnectionError, OSError) as e:  # offline, and no copy in datasets' cache
        raise UserError(f"HotpotQA is not in {where(None)} and the Hub is unreachable ({_first_line(e)}); {_HOW}") from None
    return _checked(dataset.to_list(), f"{HUB_ID} ({HUB_CONFIG}, {HUB_SPLIT})")


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def _checked(rows: list[dict[str, Any]], source: str) -> tuple[dict[str, Any], ...]:
    out = tuple(hub_layout(r) for r in rows)
    if not out or not all(r.get("question") and r.get("answer") is not None and r.get("context") for r in out):
        raise UserError(f"HotpotQA source {source} must be a list of items with question, answer and context "
                        "(the hotpot_qa distractor layout)")
    return out


def hub_layout(row: dict[str, Any]) -> dict[str, Any]:
    """A row in the Hub's layout; a row of the original release (``_id``, ``context`` as
    ``[[title, sentences], ...]``, ``supporting_facts`` as ``[[title, sent_id], ...]``) is converted."""
    if not isinstance(row.get("context"), list):
        return row
    out = {k: v for k, v in row.items() if k not in ("_id", "context", "supporting_facts")}
    if "_id" in row:
        out = {"id": row["_id"], **out}
    context = [pair for pair in row["context"] if isinstance(pair, list) and len(pair) == 2]
    out["context"] = {"title": [str(t) for t, _ in context], "sentences": [list(s) for _, s in context]}
    facts = [pair for pair in row.get("supporting_facts") or [] if isinstance(pair, list) and len(pair) == 2]
    out["supporting_facts"] = {"title": [str(t) for t, _ in facts], "sent_id": [int(i) for _, i in facts]}
    return out
