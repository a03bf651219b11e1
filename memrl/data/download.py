"""``memrl data download``: fetch a public data set into the data folder, check it, say where it went.

Each data set is fetched from its public release (:data:`DATASETS`), checked against its known
counts before it replaces anything in the data folder, and written where the loaders look
(``<data folder>/locomo/locomo10.json``, ``<data folder>/hotpotqa/hotpot_dev_distractor_v1.jsonl``).
HotpotQA's original release is converted to the Hub's column layout on the way, so every
``datasets`` version reads it. ``--from FILE`` checks and installs a copy fetched elsewhere, for
machines that are offline.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from memrl.data.hotpotqa import LICENSE as HOTPOTQA_LICENSE
from memrl.data.hotpotqa import LOCAL_FILES, hub_layout
from memrl.data.locomo import LICENSE as LOCOMO_LICENSE
from memrl.data.locomo import LOCOMO_FILE, LOCOMO_IDS, LOCOMO_QUESTIONS
from memrl.data.paths import data_folder
from memrl.errors import UserError

HOTPOTQA_DEV_QUESTIONS = 7405
TIMEOUT_S = 60


@dataclass(frozen=True)
class DataSet:
    """A public data set: where it comes from, where it goes, its license and how to check it."""

    name: str
    url: str
    target: str  # inside the data folder
    license: str
    homepage: str
    install: Callable[[Path, Path], str]  # (downloaded file, target) -> a summary line; raises UserError if wrong


def fetch(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` (the one place that touches the network; tests replace it)."""
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def install_locomo(raw: Path, target: Path) -> str:
    """Check the LoCoMo file (10 conversations, 1,986 questions) and move it into place."""
    samples = _json(raw, "LoCoMo")
    valid = isinstance(samples, list) and all(isinstance(s, dict) for s in samples)
    ids = tuple(s.get("sample_id") for s in samples) if valid else ()
    questions = sum(len(s.get("qa") or []) for s in samples) if ids else 0
    if ids != LOCOMO_IDS or questions != LOCOMO_QUESTIONS:
        raise UserError(f"{raw} is not LoCoMo's locomo10.json: expected {len(LOCOMO_IDS)} conversations and "
                        f"{LOCOMO_QUESTIONS:,} questions, found {len(ids)} and {questions:,}")
    digest = hashlib.sha256(raw.read_bytes()).hexdigest()
    _replace(raw, target)
    return f"{len(ids)} conversations, {questions:,} questions (sha256 {digest[:16]}...)"


def install_hotpotqa(raw: Path, target: Path) -> str:
    """Check HotpotQA's dev-distractor file (7,405 questions with their paragraphs) and write it
    as JSONL in the Hub's column layout."""
    rows = _json(raw, "HotpotQA")
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"question", "answer", "context"} <= set(r) for r in rows):
        raise UserError(f"{raw} is not a HotpotQA distractor file: expected a list of items with question, answer, context")
    if len(rows) != HOTPOTQA_DEV_QUESTIONS:
        raise UserError(f"{raw} holds {len(rows):,} questions; HotpotQA's dev distractor set has {HOTPOTQA_DEV_QUESTIONS:,}")
    converted = raw.with_suffix(".jsonl.part")
    with open(converted, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(hub_layout(row), ensure_ascii=False) + "\n")
    _replace(converted, target)
    return f"{len(rows):,} questions with their gold and distractor paragraphs"


DATASETS = {
    "locomo": DataSet("locomo", "https://raw.githubusercontent.com/snap-research/locomo/main/data/locomo10.json",
                      LOCOMO_FILE, f"{LOCOMO_LICENSE} (non-commercial use only)", "https://github.com/snap-research/locomo",
                      install_locomo),
    "hotpotqa": DataSet("hotpotqa", "http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_distractor_v1.json",
                        LOCAL_FILES[0], HOTPOTQA_LICENSE, "https://hotpotqa.github.io", install_hotpotqa),
}


def download(name: str, data_dir: str | os.PathLike | None = None,
             source_file: str | os.PathLike | None = None) -> tuple[Path, str]:
    """Fetch (or take ``source_file``), check and install data set ``name``; returns (where, summary)."""
    if name not in DATASETS:
        raise UserError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    spec = DATASETS[name]
    if source_file is not None and not Path(source_file).is_file():
        raise UserError(f"--from {str(source_file)!r} does not exist")
    target = data_folder(data_dir) / spec.target
    target.parent.mkdir(parents=True, exist_ok=True)
    # The download lands beside the target and replaces it only once checked: an interrupted or
    # wrong file never takes the place of a good one.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as tmp:
        raw = Path(tmp) / Path(spec.url).name
        if source_file is not None:
            shutil.copyfile(source_file, raw)
        else:
            try:
                fetch(spec.url, raw)
            except (OSError, http.client.HTTPException) as e:  # URLError, timeouts, refused connections
                raise UserError(f"cannot download {name} from {spec.url} ({_reason(e)}); offline? fetch that file on a "
                                f"machine that is online and run `memrl data download {name} --from FILE` here") from None
        summary = spec.install(raw, target)
    return target, summary


def _json(path: Path, what: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not a {what} JSON file ({e})") from None


def _replace(src: Path, target: Path) -> None:
    os.replace(src, target)  # atomic within one folder


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None) or error
    return (str(reason).strip().splitlines() or [type(error).__name__])[0]
