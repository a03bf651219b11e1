"""Seeded multi-hop fact worlds for AgeMem: people, companies, facts that change, distractors.

A world is a handful of people (city, job, pet, employer) and companies (headquarters). A task
picks a question that needs ``hops`` facts (1: "Where does Alice live?"; 2: "In which city is
the company Alice works for based?"), shows those facts among other true facts, then sends
``updates`` corrections that supersede some of them (so the answer depends on the latest
version) among ``distractors`` that mention none of the question's entities.

Every knob is a difficulty setting; ``make_world(rng, **knobs)`` is deterministic in ``rng``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from memrl.data.words import CITIES, COMPANIES, JOBS, NAMES, PETS

PEOPLE = NAMES
VALUES = {"city": CITIES, "job": JOBS, "pet": PETS, "employer": COMPANIES}
FACT = {
    "city": "{name} lives in {value}.",
    "job": "{name} works as a {value}.",
    "pet": "{name} has a pet {value}.",
    "employer": "{name} works at {value}.",
    "hq": "{name} is based in {value}.",
}
UPDATE = {
    "city": "Update: {name} moved from {old} to {value}.",
    "job": "Update: {name} is no longer a {old}; {name} now works as a {value}.",
    "pet": "Update: {name} gave away the {old} and now has a pet {value}.",
    "employer": "Update: {name} left {old} and now works at {value}.",
    "hq": "Update: {name} moved its base from {old} to {value}.",
}
QUESTION = {
    "city": "Where does {name} live?",
    "job": "What is {name}'s job?",
    "pet": "What pet does {name} have?",
    "employer": "Which company does {name} work at?",
}
NOISE = [
    "The weather report says it will rain on Thursday.",
    "The library closes early on public holidays.",
    "A new bakery opened near the central station.",
    "The train to the coast was delayed by twenty minutes.",
    "The museum has a special exhibition about glass.",
    "Tickets for the concert sold out in an hour.",
    "The park will plant two hundred new trees.",
    "Road works will close the bridge over the weekend.",
    "The swimming pool reopens after its renovation.",
    "A marathon will pass through the old town on Sunday.",
    "The city council discussed the new bus lanes.",
    "The farmers market moves indoors for the winter.",
]


@dataclass(frozen=True)
class Knobs:
    """Difficulty of a generated task."""

    facts: int = 4  # facts shown in stage 1 (the supporting ones included)
    hops: int = 1  # facts the answer needs (1 or 2)
    distractors: int = 6  # unrelated notes in stage 2
    updates: int = 1  # corrections in stage 2 that supersede a stage-1 fact (0 or 1 touch the answer)

    def __post_init__(self) -> None:
        if self.hops not in (1, 2):
            raise ValueError(f"hops ({self.hops}) must be 1 or 2")
        if self.facts < self.hops:
            raise ValueError(f"facts ({self.facts}) must be at least hops ({self.hops})")
        if self.distractors < 0 or self.updates < 0:
            raise ValueError("distractors and updates must be >= 0")


def make_world(rng: random.Random, knobs: Knobs = Knobs()) -> dict[str, Any]:
    """One task: stage-1 facts, stage-2 notes (distractors + updates), a question and its answer."""
    people = rng.sample(PEOPLE, len(PEOPLE))
    person = people[0]
    if knobs.hops == 2:
        company = rng.choice(COMPANIES)
        chain = [("employer", person, company), ("hq", company, rng.choice(CITIES))]
        question = f"In which city is the company {person} works at based?"
    else:
        attr = rng.choice(sorted(QUESTION))
        chain = [(attr, person, rng.choice(VALUES[attr]))]
        question = QUESTION[attr].format(name=person)
    facts = [FACT[a].format(name=n, value=v) for a, n, v in chain]
    # Other true facts about other people: worth nothing for this question, but the agent
    # cannot know that in stage 1, when the question has not been asked yet.
    others = iter(people[1:])
    while len(facts) < knobs.facts:
        attr = rng.choice(sorted(QUESTION))
        facts.append(FACT[attr].format(name=next(others), value=rng.choice(VALUES[attr])))

    supporting = [FACT[a].format(name=n, value=v) for a, n, v in chain]
    stale: list[str] = []
    notes = rng.sample(NOISE, min(knobs.distractors, len(NOISE)))
    for k in range(knobs.updates):
        if k == 0:  # the first update changes the fact the answer is read from (the last hop)
            i = len(chain) - 1
            attr, name, old = chain[i]
            new = rng.choice([v for v in (CITIES if attr == "hq" else VALUES[attr]) if v != old])
            chain[i] = (attr, name, new)
            stale.append(supporting[i])
            supporting[i] = FACT[attr].format(name=name, value=new)
        else:  # later updates touch bystanders
            attr, name = rng.choice(sorted(QUESTION)), next(others, None)
            if name is None:
                break
            old, new = rng.sample(VALUES[attr], 2)
            facts.append(FACT[attr].format(name=name, value=old))
        notes.insert(rng.randrange(len(notes) + 1), UPDATE[attr].format(name=name, old=old, value=new))
    rng.shuffle(facts)
    answer = chain[-1][2]
    entities = sorted({n for _, n, _ in chain} | {answer})
    return {
        "facts": facts, "notes": notes, "question": question, "answer": answer,
        "supporting": supporting, "stale": stale, "entities": entities, "hops": knobs.hops,
    }


def _pattern(template: str) -> re.Pattern[str]:
    text, seen = re.escape(template), set()
    for field in ("name", "old", "value"):
        token = re.escape("{" + field + "}")
        while token in text:
            group = f"(?P={field})" if field in seen else f"(?P<{field}>[\\w' -]+?)"
            text = text.replace(token, group, 1)
            seen.add(field)
    return re.compile(f"^{text}$")


_PATTERNS = [(attr, _pattern(t), True) for attr, t in UPDATE.items()] + [(attr, _pattern(t), False) for attr, t in FACT.items()]


def canonical(sentence: str) -> tuple[str, str] | None:
    """(subject|attribute key, the fact as currently true) for a fact or update sentence, else None.

    "Update: Emeka moved from Paris to Oslo." -> ("Emeka|city", "Emeka lives in Oslo.").
    """
    text = sentence.strip()
    for attr, pattern, _ in _PATTERNS:
        m = pattern.match(text)
        if m:
            return f"{m['name']}|{attr}", FACT[attr].format(name=m["name"], value=m["value"])
    return None
