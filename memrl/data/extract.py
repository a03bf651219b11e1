"""Candidate facts for conversations that have no annotated ones (no LoCoMo ``observation``).

Mem0 and Memory-R1 extract facts from each message before the memory manager decides on them;
LoCoMo's annotators wrote such facts (``observation``), a user's own chat log has none. An
extractor is a function ``(speaker, text) -> [fact, ...]``; :func:`with_facts` runs it on every
turn of a conversation and dates each fact with its session's day, as LoCoMo's facts are (Mem0
keeps timestamps, and "When did ...?" questions need them). Extractors (:func:`make_extractor`):

- ``"rules"`` (default): one fact per informative sentence (not a question, at least two content
  words that are not small talk), in the third person ("I adopted a puppy", said by Ann, gives
  "Ann adopted a puppy"); a sentence that does not name the speaker after that reads
  "Ann said: ...". Cheap, deterministic, and no better than the sentences themselves.
- ``"llm"``: a frozen chat model (greedy) asked for the facts worth remembering, one per line.
- a ``"module:function"`` path or a callable of your own.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from memrl.data.locomo import dated, session_day
from memrl.errors import UserError
from memrl.memory.inprocess import STOPWORDS
from memrl.scoring.answerers import frozen_model, greedy_reply, load_callable

Extractor = Callable[[str, str], list[str]]
MAX_LLM_FACTS = 5  # per turn: a looping model must not flood the manager
_LLM_EXTRACTORS: dict[str | None, "LLMExtractor"] = {}

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[^\W_]+")
_PHOTO = re.compile(r"\[shares a photo of ([^\]]*)\]")  # how the LoCoMo loader writes an image turn
_SMALL_TALK = frozenset("hi hey hello thanks thank wow yeah yes ok okay great cool nice awesome lol haha bye "
                        "good morning night evening see soon sure glad really oh ah hmm congrats congratulations "
                        "love amazing so cute fun sweet wonderful fantastic true totally exactly definitely".split())
_APOS = "['\u2019]"
# First person -> the speaker: contractions first, then the bare pronouns.
_PERSON = [
    (re.compile(rf"\bI{_APOS}m\b"), "{s} is"), (re.compile(rf"\bI{_APOS}ve\b"), "{s} has"),
    (re.compile(rf"\bI{_APOS}ll\b"), "{s} will"), (re.compile(rf"\bI{_APOS}d\b"), "{s} would"),
    (re.compile(r"\bI\b"), "{s}"), (re.compile(r"\b[Mm]y\b"), "{s}'s"), (re.compile(r"\b[Mm]ine\b"), "{s}'s"),
    (re.compile(r"\b[Mm]yself\b"), "{s}"), (re.compile(r"\bme\b"), "{s}"),
]


def informative(sentence: str) -> bool:
    """Not a question, and at least two content words that are not small talk."""
    if sentence.rstrip().endswith("?"):
        return False
    words = [w for w in _WORD.findall(sentence.lower()) if w not in STOPWORDS and w not in _SMALL_TALK]
    return len(words) >= 2


def third_person(sentence: str, speaker: str) -> str:
    """``sentence`` with the first person replaced by ``speaker`` ("I moved" -> "Ann moved")."""
    for pattern, replacement in _PERSON:
        sentence = pattern.sub(replacement.format(s=speaker).replace("\\", "\\\\"), sentence)
    return sentence


def rule_facts(speaker: str, text: str) -> list[str]:
    """The rule-based extractor: one fact per informative sentence of ``text`` (see the module docstring)."""
    text = _PHOTO.sub(lambda m: f". {speaker} shared a photo of {m.group(1)}.", text)
    facts = []
    for sentence in _SENTENCE.split(text):
        sentence = sentence.strip().lstrip(". ").rstrip(".! ")
        if not sentence or not informative(sentence):
            continue
        fact = third_person(sentence, speaker) if speaker else sentence
        if speaker and speaker.lower() not in fact.lower():
            fact = f"{speaker} said: {fact}"
        facts.append(fact)
    return facts


class LLMExtractor:
    """Facts a frozen chat model writes for one message, one per line (greedy decoding)."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 96):
        self.model, self.tokenizer, self.max_new_tokens = model, tokenizer, max_new_tokens

    def __call__(self, speaker: str, text: str) -> list[str]:
        prompt = (f"List the facts worth remembering about the speakers from this chat message, one short "
                  f"sentence per line, naming {speaker or 'the speaker'} instead of 'I'. Write NONE if there are none.\n\n"
                  f"{speaker or 'Speaker'}: {text}")
        reply = greedy_reply(self.model, self.tokenizer, prompt, self.max_new_tokens)
        return parse_fact_lines(reply)[:MAX_LLM_FACTS]


def parse_fact_lines(reply: str) -> list[str]:
    """Facts from a model's reply: one per line, list markers dropped, NONE and blank lines skipped."""
    facts = []
    for line in reply.splitlines():
        fact = re.sub(r"^\s*(?:[-*\u2022]|\d+[.)])\s*", "", line).strip()
        if fact and fact.strip(".").upper() != "NONE":
            facts.append(fact)
    return facts


def make_extractor(spec: str | Extractor = "rules", model: str | None = None) -> Extractor:
    """``"rules"``, ``"llm"`` (``model``: a path or hub id; None = the embedded model, loaded once
    per process), a ``"module:function"`` path, or a callable ``(speaker, text) -> [fact]``."""
    if callable(spec):
        return spec
    if spec == "rules":
        return rule_facts
    if spec == "llm":  # one per model, so the conversations it extracted are reused (memrl.data.conversations)
        if model not in _LLM_EXTRACTORS:
            _LLM_EXTRACTORS[model] = LLMExtractor(*frozen_model(model))
        return _LLM_EXTRACTORS[model]
    if isinstance(spec, str) and ":" in spec:
        return load_callable(spec)
    raise UserError(f"extractor {spec!r} must be 'rules', 'llm', a 'module:function' path or a callable")


def with_facts(conversation: dict[str, Any], extractor: Extractor) -> dict[str, Any]:
    """A copy of a normalized conversation whose every turn carries the extractor's facts, dated."""
    sessions = []
    for session in conversation["sessions"]:
        day = session_day(session["date"])
        turns = [{**t, "facts": [dated(f, day) for f in _facts(extractor, t)]} for t in session["turns"]]
        sessions.append({**session, "turns": turns})
    return {**conversation, "sessions": sessions}


def _facts(extractor: Extractor, turn: dict[str, Any]) -> list[str]:
    facts = extractor(turn["speaker"], turn["text"])
    if not isinstance(facts, (list, tuple)) or not all(isinstance(f, str) for f in facts):
        raise UserError(f"the fact extractor must return a list of strings, got {facts!r} for turn {turn['dia_id']}")
    return [f.strip() for f in facts if f.strip()]
