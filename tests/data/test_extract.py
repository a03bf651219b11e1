"""Facts for conversations without annotated ones: the rule-based extractor, the LLM one, the specs."""

from __future__ import annotations

import pytest

from memrl.data.extract import make_extractor, parse_fact_lines, rule_facts, with_facts
from memrl.errors import UserError


@pytest.mark.parametrize("speaker, text, facts", [
    ("Leo", "Great, thanks. I adopted a puppy named Biscuit last week.", ["Leo adopted a puppy named Biscuit last week"]),
    ("Maya", "So cute! My sister moved to Lisbon for a new job.", ["Maya's sister moved to Lisbon for a new job"]),
    ("Leo", "How was your trip? Did you see the lake?", []),  # questions state nothing
    ("Maya", "Hey! Wow, thanks!", []),  # small talk
    ("Leo", "We finally painted the kitchen blue!", ["Leo said: We finally painted the kitchen blue"]),
    ("Ann", "I\u2019m training for a marathon; I've run 30 km so far.", ["Ann is training for a marathon; Ann has run 30 km so far"]),
    ("Bob", "Look! [shares a photo of a red bowl]", ["Bob shared a photo of a red bowl"]),  # the loader's image turns
])
def test_one_fact_per_informative_sentence_in_the_third_person(speaker, text, facts):
    assert rule_facts(speaker, text) == facts


def test_facts_carry_the_session_day():
    conversation = {"id": "c", "speakers": ["Leo"], "qa": [], "sessions": [
        {"session": 1, "date": "9:00 am on 3 March, 2024", "turns": [
            {"dia_id": "D1:1", "speaker": "Leo", "text": "I adopted a puppy named Biscuit.", "facts": []}]}]}
    out = with_facts(conversation, rule_facts)
    assert out["sessions"][0]["turns"][0]["facts"] == ["Leo adopted a puppy named Biscuit (said on 3 March, 2024)."]
    assert conversation["sessions"][0]["turns"][0]["facts"] == []  # the input is left alone
    with pytest.raises(UserError, match="must return a list of strings"):
        with_facts(conversation, lambda speaker, text: "one string")


def test_llm_replies_become_facts():
    assert parse_fact_lines("- Leo has a puppy.\n2. Leo lives in Oslo\n\n* NONE\n") == ["Leo has a puppy.", "Leo lives in Oslo"]
    assert parse_fact_lines("NONE.") == []


def shout(speaker: str, text: str) -> list[str]:
    return [f"{speaker.upper()}: {text}"]


def test_extractor_specs():
    assert make_extractor("rules") is rule_facts and make_extractor(shout) is shout
    assert make_extractor("tests.data.test_extract:shout")("a", "b") == ["A: b"]
    with pytest.raises(UserError, match="extractor 'magic' must be"):
        make_extractor("magic")
    with pytest.raises(UserError, match="cannot load 'tests.data.test_extract:nothing'"):
        make_extractor("tests.data.test_extract:nothing")


@pytest.mark.slow  # building the tiny model takes ~10 s on 2 shared cores
def test_llm_extractor_runs_a_frozen_model_greedily():
    from memrl.data.extract import LLMExtractor
    from memrl.models import tiny_model

    extractor = LLMExtractor(*tiny_model(0), max_new_tokens=12)
    facts = extractor("Leo", "I adopted a puppy named Biscuit.")
    assert isinstance(facts, list) and all(isinstance(f, str) and f for f in facts) and len(facts) <= 5
    assert facts == extractor("Leo", "I adopted a puppy named Biscuit.")  # greedy: the same every time
