"""LoCoMo and conversations in its layout: the loader, the paper's question split, session windows.

LoCoMo (Maharana et al., 2024; CC BY-NC 4.0) is read from the data folder
(:mod:`memrl.data.paths`; ``memrl data download locomo`` puts ``locomo/locomo10.json`` there) and
never copied into this project. A file of your own in the same layout is read from any ``path``.
One sample holds a ``conversation`` (``speaker_a``, ``speaker_b``, ``session_N`` lists of turns with
``speaker``, ``dia_id``, ``text`` and sometimes an image's ``blip_caption``,
``session_N_date_time``), a ``qa`` list (``question``, ``answer``, ``evidence`` dia_ids,
``category``; category 5 is adversarial and has an ``adversarial_answer`` instead of an answer)
and, optionally, ``observation`` (facts per speaker per session, each with its dia_id),
``event_summary`` and ``session_summary``. In a file of your own the speakers, dia_ids, evidence,
category and observation may be left out (see :func:`normalize_conversation`).

:func:`normalize_conversation` turns a sample into the form the Memory-R1 environments read::

    {"id", "speakers": [a, b], "sessions": [{"session": n, "date", "turns": [
        {"dia_id", "speaker", "text", "facts": [str, ...]}]}], "qa": [{"question", "answer",
        "adversarial_answer", "evidence", "category"}]}

where each fact ends with the day it was said: "Ann adopted a dog (said on 8 May, 2023)". A
conversation without ``observation`` has no facts: :mod:`memrl.data.extract` makes them.
The scoring rules are in :mod:`memrl.scoring.locomo`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from memrl.data.paths import data_folder, where
from memrl.errors import UserError
from memrl.scoring.locomo import ANSWERABLE

LOCOMO_FILE = "locomo/locomo10.json"
LICENSE = "CC BY-NC 4.0"
# Memory-R1 trains on the 152 category 1-4 questions of the first conversation, validates on
# the 81 of the second and tests on the 1,307 of the other eight (checked against locomo10.json).
PAPER_SPLIT = {"train": (0,), "validation": (1,), "test": (2, 3, 4, 5, 6, 7, 8, 9)}
LOCOMO_IDS = ("conv-26", "conv-30", "conv-41", "conv-42", "conv-43", "conv-44", "conv-47", "conv-48", "conv-49", "conv-50")
LOCOMO_QUESTIONS = 1986

_DIA = re.compile(r"D:?(\d+):(\d+)")
_SESSION = re.compile(r"session_(\d+)")


# -- loading ----------------------------------------------------------------------------------
def locomo_path(data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``locomo/locomo10.json`` in the data folder; a one-line error if absent."""
    if path:
        file = Path(path).expanduser()
        if not file.is_file():
            raise UserError(f"conversation file {str(file)!r} does not exist; pass path=<a JSON file in the LoCoMo layout>")
        return file
    file = data_folder(data_dir) / LOCOMO_FILE
    if not file.is_file():
        raise UserError(f"LoCoMo file not found in {where(data_dir)}: no {LOCOMO_FILE}; run `memrl data download locomo` "
                        "(online), pass data_dir=<folder holding locomo/> or path=<your conversations>, or use source='synthetic'")
    return file


def load_locomo(data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """Every conversation of the LoCoMo file (or of ``path``), normalized (see the module docstring)."""
    file = locomo_path(data_dir, path)
    try:
        samples = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{file}: not valid JSON ({e}); expected a list of conversations in the LoCoMo layout") from None
    if isinstance(samples, dict) and "conversation" in samples:
        samples = [samples]  # one conversation on its own
    if not isinstance(samples, list) or not samples:
        raise UserError(f"{file}: expected a JSON list of conversations in the LoCoMo layout, got {type(samples).__name__}")
    return [normalize_conversation(s, index=i) for i, s in enumerate(samples)]


def is_locomo(conversations: list[dict[str, Any]]) -> bool:
    """True for LoCoMo's own ten conversations (they take the paper's split)."""
    return tuple(c["id"] for c in conversations) == LOCOMO_IDS


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
    """One sample as the Memory-R1 envs read it; turn facts come from ``observation``.

    Beyond LoCoMo's own file this reads a user's conversations: without ``speaker_a``/``speaker_b``
    the speakers are those of the turns, a turn without ``dia_id`` gets ``D<session>:<k>``, a
    question without ``category`` is category 0 (scored by plain F1), and every question but an
    adversarial one (category 5) needs an ``answer``.
    """
    conv = sample.get("conversation") if isinstance(sample, dict) else None
    conv = conv if isinstance(conv, dict) else {}
    numbers = sorted(int(m.group(1)) for k in conv if (m := _SESSION.fullmatch(k)) and isinstance(conv[k], list))
    if not numbers:
        raise UserError(f"sample {index} has no conversation with session_N lists of turns (and speaker_a/speaker_b); "
                        "is this a file in the LoCoMo layout?")
    ident = str(sample.get("sample_id", f"locomo-{index}"))
    facts = _observation_facts(sample.get("observation") or {})
    sessions = []
    for n in numbers:
        date = str(conv.get(f"session_{n}_date_time", ""))
        raw = [t for t in conv[f"session_{n}"] if isinstance(t, dict)]
        turns = [_turn({"dia_id": f"D{n}:{k}", **t}, facts, session_day(date)) for k, t in enumerate(raw, 1)]
        sessions.append({"session": n, "date": date, "turns": turns})
    speakers = [conv[k] for k in ("speaker_a", "speaker_b") if conv.get(k)]
    if len(speakers) < 2:
        speakers = list(dict.fromkeys(t["speaker"] for s in sessions for t in s["turns"] if t["speaker"]))
    qa = [_question(q, ident, k) for k, q in enumerate(sample.get("qa") or [])]
    return {"id": ident, "speakers": speakers, "sessions": sessions, "qa": qa}


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
    return {"dia_id": dia_id, "speaker": str(turn.get("speaker", "")), "text": text,
            "facts": [dated(f, day) for f in facts.get(dia_id, [])]}


def dated(fact: str, day: str) -> str:
    """A fact with the day it was said: "Ann adopted a dog (said on 8 May, 2023)." (as is without a day)."""
    return f"{fact.strip().rstrip('.')} (said on {day})." if day else fact


def _question(q: dict[str, Any], ident: str, k: int) -> dict[str, Any]:
    answer, adversarial = q.get("answer"), q.get("adversarial_answer")
    category = int(q.get("category", 0))
    if answer is None and category != 5:
        raise UserError(f"conversation {ident!r}, question {k} ({str(q.get('question', ''))[:60]!r}) has no answer; "
                        "give one, or category 5 for a question the conversation cannot answer")
    return {"question": str(q.get("question", "")), "answer": None if answer is None else str(answer),
            "adversarial_answer": None if adversarial is None else str(adversarial),
            "evidence": parse_evidence(q.get("evidence", [])), "category": category}


def has_facts(conversation: dict[str, Any]) -> bool:
    """True when some turn carries annotated facts (LoCoMo's ``observation``)."""
    return any(t["facts"] for s in conversation["sessions"] for t in s["turns"])


# -- splits ------------------------------------------------------------------------------------
def paper_split(conversations: list[dict[str, Any]], split: str) -> list[dict[str, Any]]:
    """Memory-R1's split: the conversations of ``split``, each keeping its category 1-4 questions.

    On locomo10.json that is 152 training, 81 validation and 1,307 test questions.
    """
    if split not in PAPER_SPLIT:
        raise UserError(f"unknown split {split!r}; use one of {', '.join(PAPER_SPLIT)}")
    if len(conversations) != len(PAPER_SPLIT["train"] + PAPER_SPLIT["validation"] + PAPER_SPLIT["test"]):
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
