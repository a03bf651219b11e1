"""Seeded synthetic multi-session dialogues in the LoCoMo schema, whose facts change over time.

Two speakers chat over a few dated sessions. Each speaker has attributes (city, job, pet, sport)
that are introduced, changed (so a memory must be UPDATEd) and, for pets and sports, given up (so a
memory must be DELETEd). Every turn that states something carries the fact it states, written as a
LoCoMo ``observation`` fact with its dia_id, so the same loader reads these and the real file.
The questions use LoCoMo's categories, about the state at the end of the conversation:

- 4 (single-hop): the current value ("What pet does Alice have now?" -> "parrot");
- 1 (multi-hop): every value it had, comma-separated ("Which cities has Alice lived in?");
- 2 (temporal): the date of the latest change ("When did Alice move to Lima?" -> "8 May, 2023");
- 5 (adversarial): an attribute given up, or never mentioned: the right answer is that it is not
  mentioned; a memory that kept the stale fact answers with it and scores 0.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from typing import Any

from memrl.data.locomo import normalize_conversation
from memrl.data.words import CITIES_10, JOBS_8, PEOPLE_20, PETS_8, SPORTS

NAMES = PEOPLE_20
ATTRIBUTES: dict[str, dict[str, Any]] = {
    # fact: the stored sentence; first / change / drop: what the speaker says (drop: None = never
    # given up); question: current value; history: every value (category 1); when: latest change.
    "city": dict(values=CITIES_10,
                 fact="{name} lives in {value}", gone=None,
                 first="I live in {value}, by the way.", change="Big news: I moved to {value}!", drop=None,
                 question="Where does {name} live now?", history="Which cities has {name} lived in?",
                 when="When did {name} move to {value}?"),
    "job": dict(values=JOBS_8,
                fact="{name} works as a {value}", gone=None,
                first="I work as a {value}.", change="I started a new job as a {value}!", drop=None,
                question="What does {name} work as now?", history="Which jobs has {name} worked as?",
                when="When did {name} start working as a {value}?"),
    "pet": dict(values=PETS_8,
                fact="{name} has a pet {value}", gone="{name} no longer has a pet {value}",
                first="We have a {value} at home.", change="We adopted a {value}!",
                drop="Sadly we had to give our {value} away; no pets for now.",
                question="What pet does {name} have now?", history="Which pets has {name} had?",
                when="When did {name} get a pet {value}?"),
    "sport": dict(values=SPORTS,
                  fact="{name} plays {value}", gone="{name} no longer plays {value}",
                  first="I play {value} most weekends.", change="I took up {value}!",
                  drop="I stopped playing {value}, no time for sports now.",
                  question="Which sport does {name} play now?", history="Which sports has {name} played?",
                  when="When did {name} take up {value}?"),
}
SMALL_TALK = ["Hey! How have you been?", "Good to hear from you!", "That sounds great.", "Oh wow, tell me more.",
              "Nice! Anything else new?", "Talk soon!"]
_SUBJECT = re.compile(r"^(?P<name>\w+) (?:(?P<gone>no longer) )?(?P<verb>lives in|works as|has a pet|plays) ")
_VERB_ATTR = {"lives in": "city", "works as": "job", "has a pet": "pet", "plays": "sport"}


def fact_subject(fact: str) -> str | None:
    """What a generated fact is about, ``"alice/pet"``, or None for any other sentence (the
    heuristic baseline's replace-on-conflict key)."""
    m = _SUBJECT.match(fact)
    return f"{m.group('name').lower()}/{_VERB_ATTR[m.group('verb')]}" if m else None


def is_drop(fact: str) -> bool:
    """True for a fact saying an attribute was given up ("Alice no longer has a pet cat ...")."""
    m = _SUBJECT.match(fact)
    return bool(m and m.group("gone"))


def make_dialogue(rng: random.Random, n_sessions: int = 3, changes_per_session: int = 2) -> dict[str, Any]:
    """One conversation as a LoCoMo sample (``conversation``, ``qa``, ``observation``, ``sample_id``)."""
    speakers = rng.sample(NAMES, 2)
    date = dt.date(2023, 1, 1) + dt.timedelta(days=rng.randrange(365))
    state: dict[tuple[str, str], list[tuple[str, str, str]]] = {}  # (name, attr) -> [(value | "", dia_id, date)]
    conversation: dict[str, Any] = {"speaker_a": speakers[0], "speaker_b": speakers[1]}
    observation: dict[str, Any] = {}
    for s in range(1, n_sessions + 1):
        date_text = f"{date.day} {date:%B}, {date.year}"
        turns, facts = _session(rng, s, date_text, speakers, state, changes_per_session)
        conversation[f"session_{s}_date_time"] = f"{rng.randrange(1, 12)}:{rng.randrange(60):02d} pm on {date_text}"
        conversation[f"session_{s}"] = turns
        observation[f"session_{s}_observation"] = facts
        date += dt.timedelta(days=rng.randrange(5, 40))
    return {"sample_id": f"synthetic-{rng.getrandbits(32):08x}", "conversation": conversation,
            "observation": observation, "qa": _questions(rng, speakers, state)}


def make_conversation(rng: random.Random, n_sessions: int = 3, changes_per_session: int = 2) -> dict[str, Any]:
    """One synthetic conversation, normalized as :func:`memrl.data.locomo.normalize_conversation` does."""
    return normalize_conversation(make_dialogue(rng, n_sessions, changes_per_session))


def _session(rng: random.Random, s: int, date: str, speakers: list[str], state: dict, changes: int) -> tuple[list, dict]:
    turns = [{"speaker": speakers[0], "dia_id": f"D{s}:1", "text": rng.choice(SMALL_TALK[:2])}]  # an opener
    facts: dict[str, list] = {name: [] for name in speakers}
    for _ in range(changes):
        name = rng.choice(speakers)
        attr = rng.choice(sorted(ATTRIBUTES))
        spec, history = ATTRIBUTES[attr], state.setdefault((name, attr), [])
        current = history[-1][0] if history else ""
        dia_id = f"D{s}:{len(turns) + 1}"
        if current and spec["drop"] and rng.random() < 0.35:
            said, fact, value = spec["drop"].format(value=current), spec["gone"].format(name=name, value=current), ""
        else:
            value = rng.choice([v for v in spec["values"] if v != current])
            said = (spec["change"] if history else spec["first"]).format(value=value)
            fact = spec["fact"].format(name=name, value=value)
        history.append((value, dia_id, date))
        turns.append({"speaker": name, "dia_id": dia_id, "text": said})
        facts[name].append([f"{fact}.", dia_id])  # the loader appends the day, as for LoCoMo
        other = speakers[1] if name == speakers[0] else speakers[0]
        turns.append({"speaker": other, "dia_id": f"D{s}:{len(turns) + 1}", "text": rng.choice(SMALL_TALK)})
    return turns, facts


def _questions(rng: random.Random, speakers: list[str], state: dict) -> list[dict[str, Any]]:
    qa = []
    for (name, attr), history in sorted(state.items()):
        spec = ATTRIBUTES[attr]
        value, dia_id, date = history[-1]
        values = [v for v, _, _ in history if v]
        if not value:  # given up: the stale value is the adversarial answer
            qa.append(_qa(spec["question"].format(name=name), None, [dia_id], 5, adversarial=values[-1]))
            continue
        qa.append(_qa(spec["question"].format(name=name), value, [dia_id], 4))
        distinct = list(dict.fromkeys(values))
        if len(distinct) > 1:
            qa.append(_qa(spec["history"].format(name=name), ", ".join(distinct), [d for v, d, _ in history if v], 1))
            qa.append(_qa(spec["when"].format(name=name, value=value), date, [dia_id], 2))
    # One attribute per speaker that never came up: nothing to recall, the answer is "not mentioned".
    for name in speakers:
        unseen = [a for a in sorted(ATTRIBUTES) if (name, a) not in state]
        if unseen:
            attr = rng.choice(unseen)
            qa.append(_qa(ATTRIBUTES[attr]["question"].format(name=name), None, [], 5,
                          adversarial=rng.choice(ATTRIBUTES[attr]["values"])))
    return qa


def _qa(question: str, answer: str | None, evidence: list[str], category: int, adversarial: str | None = None) -> dict:
    qa = {"question": question, "evidence": evidence, "category": category}
    qa.update({"answer": answer} if adversarial is None else {"adversarial_answer": adversarial})
    return qa
