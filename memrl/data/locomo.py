"""LoCoMo: the loader, the paper's question split, and LoCoMo's per-category scoring rules.

LoCoMo (Maharana et al., 2024; CC BY-NC 4.0) is read by path and never copied into this project:
``../shared/data/locomo/locomo10.json`` by default, or ``data_dir=``. One sample holds a
``conversation`` (``speaker_a``, ``speaker_b``, ``session_N`` lists of turns with ``speaker``,
``dia_id``, ``text`` and sometimes an image's ``blip_caption``, ``session_N_date_time``), a ``qa``
list (``question``, ``answer``, ``evidence`` dia_ids, ``category``; category 5 is adversarial and
has an ``adversarial_answer`` instead of an answer) and, optionally, ``observation`` (facts per
speaker per session, each with its dia_id), ``event_summary`` and ``session_summary``.

:func:`normalize_conversation` turns a sample into the form the Memory-R1 environments read::

    {"id", "speakers": [a, b], "sessions": [{"session": n, "date", "turns": [
        {"dia_id", "speaker", "text", "facts": [str, ...]}]}], "qa": [{"question", "answer",
        "adversarial_answer", "evidence", "category"}]}

where each fact ends with the day it was said: "Ann adopted a dog (said on 8 May, 2023)."

Scoring follows LoCoMo's ``evaluation.py`` rule by rule (our own code): category 1 (multi-hop) is
the mean over the comma-split gold parts of the best F1 against the comma-split prediction parts;
category 3 scores against the gold text before ``;``; category 5 is correct when the answer says
the information is not mentioned / not available. One difference: LoCoMo stems tokens with
NLTK's Porter stemmer before F1, we do not (no NLTK dependency), so an answer that differs from
the gold only by inflection ("runs" / "running") scores lower here than there.
"""

from __future__ import annotations

import json
import math
import re
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memrl.errors import UserError

CATEGORIES = {
    # LoCoMo's numbering; the names follow the convention of later work (Mem0, Memory-R1).
    1: "multi-hop",
    2: "temporal",
    3: "open-domain",
    4: "single-hop",
    5: "adversarial",
}
ANSWERABLE = (1, 2, 3, 4)
# Memory-R1 trains on the 152 category 1-4 questions of the first conversation, validates on
# the 81 of the second and tests on the 1,307 of the other eight (checked against locomo10.json).
PAPER_SPLIT = {"train": (0,), "validation": (1,), "test": (2, 3, 4, 5, 6, 7, 8, 9)}
NOT_AVAILABLE = ("not mentioned", "no information available")  # LoCoMo's category 5 test
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"  # <repo>/../shared/data

_DIA = re.compile(r"D:?(\d+):(\d+)")
_SESSION = re.compile(r"session_(\d+)")
_PUNCT = str.maketrans("", "", string.punctuation)
_FILLERS = re.compile(r"\b(a|an|the|and)\b")


# -- loading ----------------------------------------------------------------------------------
def locomo_path(data_dir: str | Path | None = None) -> Path:
    """The LoCoMo file under ``data_dir`` (default ``<repo>/../shared/data``); a one-line error if absent."""
    path = Path(data_dir or DEFAULT_DATA_DIR) / "locomo" / "locomo10.json"
    if not path.is_file():
        raise UserError(f"LoCoMo file not found at {path}; pass data_dir=<folder holding locomo/locomo10.json> "
                        "(env_kwargs {\"data_dir\": ...}) or use source='synthetic'")
    return path


def load_locomo(data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """Every conversation of ``locomo10.json``, normalized (see the module docstring)."""
    path = locomo_path(data_dir)
    with open(path, encoding="utf-8") as f:
        samples = json.load(f)
    if not isinstance(samples, list):
        raise UserError(f"{path}: expected a JSON list of LoCoMo samples, got {type(samples).__name__}")
    return [normalize_conversation(s, index=i) for i, s in enumerate(samples)]


def parse_evidence(items: Any) -> list[str]:
    """Clean dia_ids from an evidence list; tolerates LoCoMo's few malformed entries
    ('D8:6; D9:17', 'D:11:26', 'D9:1 D4:4')."""
    found: list[str] = []
    for item in items if isinstance(items, list) else [items]:
        found += [f"D{s}:{t}" for s, t in _DIA.findall(str(item))]
    return found


def session_of(dia_id: str) -> int | None:
    """The session number of a dia_id ('D3:7' -> 3)."""
    m = _DIA.fullmatch(dia_id)
    return int(m.group(1)) if m else None


def normalize_conversation(sample: dict[str, Any], index: int = 0) -> dict[str, Any]:
    """One LoCoMo sample as the Memory-R1 envs read it; turn facts come from ``observation``."""
    conv = sample.get("conversation")
    if not isinstance(conv, dict) or "speaker_a" not in conv:
        raise UserError(f"LoCoMo sample {index} has no conversation with speaker_a/speaker_b; is this a LoCoMo file?")
    facts = _observation_facts(sample.get("observation") or {})
    sessions = []
    numbers = sorted(int(m.group(1)) for k in conv if (m := _SESSION.fullmatch(k)) and isinstance(conv[k], list))
    for n in numbers:
        date = str(conv.get(f"session_{n}_date_time", ""))
        turns = [_turn(t, facts, session_day(date)) for t in conv[f"session_{n}"] if isinstance(t, dict)]
        sessions.append({"session": n, "date": date, "turns": turns})
    qa = [_question(q) for q in sample.get("qa", [])]
    return {"id": str(sample.get("sample_id", f"locomo-{index}")), "speakers": [conv["speaker_a"], conv["speaker_b"]],
            "sessions": sessions, "qa": qa}


def _observation_facts(observation: dict[str, Any]) -> dict[str, list[str]]:
    # dia_id -> the observation facts LoCoMo's annotators wrote for that turn. A fact citing
    # several turns is attached to the last one: only then has everything it says been said.
    by_turn: dict[str, list[str]] = {}
    for per_speaker in observation.values():
        for items in (per_speaker or {}).values():
            for item in items or []:
                if isinstance(item, list) and len(item) == 2 and (ids := parse_evidence(item[1])):
                    by_turn.setdefault(ids[-1], []).append(str(item[0]))
    return by_turn


def session_day(date: str) -> str:
    """The day of a session's date_time ("1:56 pm on 8 May, 2023" -> "8 May, 2023")."""
    return date.split(" on ", 1)[-1].strip()


def _turn(turn: dict[str, Any], facts: dict[str, list[str]], day: str) -> dict[str, Any]:
    text = str(turn.get("text", ""))
    if turn.get("blip_caption"):
        text += f" [shares a photo of {turn['blip_caption']}]"
    dia_id = str(turn.get("dia_id", ""))
    # Facts carry the day they were said: temporal questions ("When did ...?", "last Saturday")
    # are answerable from a memory only if it keeps the date, as Mem0 keeps timestamps.
    dated = [f"{f.strip().rstrip('.')} (said on {day})." if day else f for f in facts.get(dia_id, [])]
    return {"dia_id": dia_id, "speaker": str(turn.get("speaker", "")), "text": text, "facts": dated}


def _question(q: dict[str, Any]) -> dict[str, Any]:
    answer = q.get("answer")
    adversarial = q.get("adversarial_answer")
    return {"question": str(q.get("question", "")), "answer": None if answer is None else str(answer),
            "adversarial_answer": None if adversarial is None else str(adversarial),
            "evidence": parse_evidence(q.get("evidence", [])), "category": int(q.get("category", 0))}


# -- splits ------------------------------------------------------------------------------------
def paper_split(conversations: list[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """Memory-R1's split: the conversations of ``split``, each keeping its category 1-4 questions.

    On locomo10.json that is 152 training, 81 validation and 1,307 test questions.
    """
    if split not in PAPER_SPLIT:
        raise UserError(f"unknown split {split!r}; use one of {', '.join(PAPER_SPLIT)}")
    if len(conversations) != 10:
        raise UserError(f"the paper split needs LoCoMo's 10 conversations, got {len(conversations)}")
    return [{**conversations[i], "qa": [q for q in conversations[i]["qa"] if q["category"] in ANSWERABLE]}
            for i in PAPER_SPLIT[split]]


def session_windows(conversation: dict[str, Any], size: int | None) -> list[dict[str, Any]]:
    """The conversation cut into windows of ``size`` sessions (None: one window), each keeping the
    questions whose evidence lies wholly inside it (a question without evidence goes to the last)."""
    sessions = conversation["sessions"]
    if size is None or size >= len(sessions):
        return [dict(conversation)]
    if size < 1:
        raise UserError(f"session window ({size}) must be at least 1")
    windows = []
    for start in range(0, len(sessions), size):
        part = sessions[start : start + size]
        numbers = {s["session"] for s in part}
        last = start + size >= len(sessions)
        qa = [q for q in conversation["qa"]
              if (q["evidence"] and {session_of(e) for e in q["evidence"]} <= numbers) or (not q["evidence"] and last)]
        windows.append({**conversation, "id": f"{conversation['id']}/s{part[0]['session']}-{part[-1]['session']}",
                        "sessions": part, "qa": qa})
    return windows


# -- scoring -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Scores:
    """One answer's scores under LoCoMo's rules for its category."""

    f1: float
    em: float
    bleu1: float


def normalize_answer(text: str) -> str:
    """LoCoMo's answer normalization: no commas, lowercase, no punctuation, no a/an/the/and."""
    text = str(text).replace(",", "").lower().translate(_PUNCT)
    return " ".join(_FILLERS.sub(" ", text).split())


def _f1(pred: str, gold: str) -> float:
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    common = sum((Counter(p) & Counter(g)).values())
    if not common:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def multi_f1(pred: str, gold: str) -> float:
    """Category 1: mean over comma-split gold parts of the best F1 against any prediction part."""
    preds = [p for p in str(pred).split(",") if p.strip()] or [""]
    golds = [g for g in str(gold).split(",") if g.strip()]
    if not golds:
        return 0.0
    return sum(max(_f1(p, g) for p in preds) for g in golds) / len(golds)


def bleu1(pred: str, gold: str) -> float:
    """Sentence BLEU-1: clipped unigram precision times the brevity penalty (no smoothing needed
    at order 1), over normalized tokens."""
    p, g = normalize_answer(pred).split(), normalize_answer(gold).split()
    if not p or not g:
        return 0.0
    clipped = sum((Counter(p) & Counter(g)).values())
    brevity = 1.0 if len(p) > len(g) else math.exp(1 - len(g) / len(p))
    return brevity * clipped / len(p)


def says_not_available(pred: str) -> bool:
    """LoCoMo's category 5 rule: the answer says the information is not mentioned / not available."""
    low = str(pred).lower()
    return any(phrase in low for phrase in NOT_AVAILABLE)


def score_answer(pred: str, gold: str | None, category: int) -> Scores:
    """F1, EM and BLEU-1 of ``pred`` under the rules of ``category`` (5: all three are 1 or 0)."""
    if category == 5:
        ok = float(says_not_available(pred))
        return Scores(ok, ok, ok)
    if gold is None:
        raise ValueError(f"a category {category} question needs a gold answer")
    if category == 3:
        gold = gold.split(";")[0].strip()
    f1 = multi_f1(pred, gold) if category == 1 else _f1(pred, gold)
    em = float(normalize_answer(pred) == normalize_answer(gold))
    return Scores(f1, em, bleu1(pred, gold))


def category_table(rows: list[dict[str, Any]], metrics: tuple[str, ...] = ("f1", "em", "bleu1")) -> dict[str, dict[str, float]]:
    """Mean of each metric per category name and over all rows (``"all"``), per question: rows are
    ``{"category": int, "f1": ..., "em": ..., "bleu1": ...}`` (a manager episode's ``per_question``),
    so episodes of different sizes pool correctly."""
    groups: dict[str, list[dict[str, Any]]] = {"all": list(rows)}
    for row in rows:
        groups.setdefault(CATEGORIES.get(row["category"], str(row["category"])), []).append(row)
    return {name: {m: sum(r[m] for r in group) / len(group) for m in metrics} | {"n": float(len(group))}
            for name, group in groups.items() if group}
