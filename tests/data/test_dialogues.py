"""The synthetic Memory-R1 dialogues (memrl.data.dialogues): seeded, in LoCoMo's layout, facts that change."""

from __future__ import annotations

import random

from memrl.data.dialogues import fact_subject, is_drop, make_conversation, make_dialogue
from memrl.data.locomo import normalize_conversation


def test_generator_is_seeded_and_in_the_locomo_schema():
    a, b = make_dialogue(random.Random(7)), make_dialogue(random.Random(7))
    assert a == b and set(a) == {"sample_id", "conversation", "observation", "qa"}
    conv = normalize_conversation(a)
    assert conv == make_conversation(random.Random(7))
    ids = {t["dia_id"] for s in conv["sessions"] for t in s["turns"]}
    assert all(set(q["evidence"]) <= ids for q in conv["qa"])  # evidence points at real turns


def test_generated_facts_change_over_time_and_questions_track_the_last_state():
    convs = [make_conversation(random.Random(seed), n_sessions=4) for seed in range(40)]
    facts = [f for c in convs for s in c["sessions"] for t in s["turns"] for f in t["facts"]]
    assert any(is_drop(f) for f in facts)  # some facts retract older ones (DELETE matters)
    assert all(fact_subject(f) for f in facts)
    for conv in convs:
        last: dict[str, str] = {}
        for fact in (f for s in conv["sessions"] for t in s["turns"] for f in t["facts"]):
            last[fact_subject(fact)] = fact
        for q in conv["qa"]:
            if q["category"] == 4:  # the current value is in the subject's last fact
                name = next(n for n in conv["speakers"] if n in q["question"])
                assert any(q["answer"] in f and f.startswith(name) for f in last.values())
    categories = {q["category"] for c in convs for q in c["qa"]}
    assert categories == {1, 2, 4, 5}
