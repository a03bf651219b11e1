"""The LoCoMo loader (memrl.data.locomo): its quirks, the paper split, session windows, files of your own."""

from __future__ import annotations

import json

import pytest

from memrl.data.locomo import LOCOMO_FILE, load_locomo, normalize_conversation, paper_split, parse_evidence, session_windows
from memrl.data.paths import data_folder
from memrl.errors import UserError

# A tiny hand-written sample in LoCoMo's schema, with its quirks: an image turn, an int answer,
# a category 5 question with adversarial_answer only, a malformed evidence string, an
# observation fact citing two turns, and a date key for a session that has no turns.
FIXTURE = {
    "sample_id": "conv-x",
    "conversation": {
        "speaker_a": "Ann", "speaker_b": "Bob",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [
            {"speaker": "Ann", "dia_id": "D1:1", "text": "I went to a pottery class yesterday."},
            {"speaker": "Bob", "dia_id": "D1:2", "text": "Look!", "blip_caption": "a photo of a red bowl", "img_url": ["x"]},
        ],
        "session_2_date_time": "2:00 pm on 20 May, 2023",
        "session_2": [{"speaker": "Ann", "dia_id": "D2:1", "text": "I adopted a dog named Rex."}],
        "session_3_date_time": "3:00 pm on 1 June, 2023",
    },
    "qa": [
        {"question": "When did Ann go to pottery?", "answer": "7 May 2023", "evidence": ["D1:1"], "category": 2},
        {"question": "What year?", "answer": 2023, "evidence": ["D1:1; D2:1"], "category": 1},
        {"question": "What is Bob's dog called?", "adversarial_answer": "Rex", "evidence": ["D:2:1"], "category": 5},
    ],
    "observation": {
        "session_1_observation": {"Ann": [["Ann took a pottery class on 7 May 2023.", "D1:1"]], "Bob": []},
        "session_2_observation": {"Ann": [["Ann adopted a dog named Rex.", ["D1:1", "D2:1"]]]},
    },
}


def write_fixture(tmp_path, samples):
    (tmp_path / "locomo").mkdir()
    (tmp_path / "locomo" / "locomo10.json").write_text(json.dumps(samples))
    return tmp_path


def test_fixture_loads_with_its_quirks(tmp_path):
    (conv,) = load_locomo(write_fixture(tmp_path, [FIXTURE]))
    assert conv["id"] == "conv-x" and conv["speakers"] == ["Ann", "Bob"]
    assert [s["session"] for s in conv["sessions"]] == [1, 2]  # session 3 has a date but no turns
    assert conv["sessions"][0]["date"] == "1:56 pm on 8 May, 2023"
    first, image = conv["sessions"][0]["turns"]
    assert first["facts"] == ["Ann took a pottery class on 7 May 2023 (said on 8 May, 2023)."]  # dated
    assert "red bowl" in image["text"] and image["facts"] == []
    # A fact citing two turns belongs to the later one.
    assert conv["sessions"][1]["turns"][0]["facts"] == ["Ann adopted a dog named Rex (said on 20 May, 2023)."]
    q2, q1, q5 = conv["qa"]
    assert q1["answer"] == "2023" and q1["evidence"] == ["D1:1", "D2:1"]
    assert q5["answer"] is None and q5["adversarial_answer"] == "Rex" and q5["evidence"] == ["D2:1"]


def test_missing_file_is_a_one_line_user_error(tmp_path):
    with pytest.raises(UserError, match="LoCoMo file not found in .*memrl data download locomo"):
        load_locomo(tmp_path)


def test_wrong_schema_is_a_user_error():
    with pytest.raises(UserError, match="speaker_a"):
        normalize_conversation({"qa": []})


@pytest.mark.parametrize("raw, parsed", [
    (["D1:3"], ["D1:3"]),
    (["D8:6; D9:17"], ["D8:6", "D9:17"]),  # two ids in one string
    (["D:11:26"], ["D11:26"]),  # a stray colon
    (["D"], []),  # nothing usable
])
def test_parse_evidence(raw, parsed):
    assert parse_evidence(raw) == parsed


def test_paper_split_keeps_categories_1_to_4_by_conversation(tmp_path):
    samples = [dict(FIXTURE, sample_id=f"conv-{i}") for i in range(10)]
    convs = load_locomo(write_fixture(tmp_path, samples))
    train, = paper_split(convs, "train")
    assert train["id"] == "conv-0" and [q["category"] for q in train["qa"]] == [2, 1]
    assert [c["id"] for c in paper_split(convs, "test")] == [f"conv-{i}" for i in range(2, 10)]
    with pytest.raises(UserError, match="10 conversations"):
        paper_split(convs[:3], "train")


def test_session_windows_keep_questions_whose_evidence_is_inside(tmp_path):
    (conv,) = load_locomo(write_fixture(tmp_path, [FIXTURE]))
    first, second = session_windows(conv, 1)
    assert [q["question"] for q in first["qa"]] == ["When did Ann go to pottery?"]
    assert [q["question"] for q in second["qa"]] == ["What is Bob's dog called?"]  # the 2-session one is dropped
    assert session_windows(conv, None)[0]["qa"] == conv["qa"]


@pytest.mark.skipif(not (data_folder() / LOCOMO_FILE).is_file(), reason="no LoCoMo file (../shared/data is absent)")
def test_real_locomo_file_counts_and_paper_split():
    convs = load_locomo()
    assert len(convs) == 10
    assert sum(len(c["qa"]) for c in convs) == 1986
    sizes = {split: sum(len(c["qa"]) for c in paper_split(convs, split)) for split in ("train", "validation", "test")}
    assert sizes == {"train": 152, "validation": 81, "test": 1307}
    assert sum(len(t["facts"]) for s in convs[0]["sessions"] for t in s["turns"]) == 184  # observation facts




# -- conversations of your own (LoCoMo's layout, observation optional) -------------------------------
def own_conversations() -> list[dict]:
    """A user's chat log in LoCoMo's layout without ``observation`` (made up here: no LoCoMo text)."""
    return [{
        "sample_id": "chat-1",
        "conversation": {
            "speaker_a": "Maya", "speaker_b": "Leo",
            "session_1_date_time": "9:00 am on 3 March, 2024",
            "session_1": [
                {"speaker": "Maya", "dia_id": "D1:1", "text": "Hi Leo! How are you?"},
                {"speaker": "Leo", "dia_id": "D1:2", "text": "Great, thanks. I adopted a puppy named Biscuit last week."},
                {"speaker": "Maya", "dia_id": "D1:3", "text": "So cute! My sister moved to Lisbon for a new job."},
            ],
            "session_2_date_time": "6:30 pm on 20 March, 2024",
            "session_2": [
                {"speaker": "Leo", "dia_id": "D2:1", "text": "I started learning the cello in a community class."},
                {"speaker": "Maya", "dia_id": "D2:2", "text": "Nice! I finished my marathon training plan."},
            ],
        },
        "qa": [
            {"question": "What is the name of Leo's puppy?", "answer": "Biscuit", "evidence": ["D1:2"], "category": 4},
            {"question": "Where did Maya's sister move?", "answer": "Lisbon", "evidence": ["D1:3"], "category": 4},
            {"question": "Which instrument is Leo learning?", "answer": "cello", "category": 7},  # a category of one's own
            {"question": "When did Leo start learning the cello?", "answer": "20 March, 2024"},  # no category, no evidence
        ],
    }]


def write_own(tmp_path, conversations=None):
    path = tmp_path / "my_chats.json"
    path.write_text(json.dumps(own_conversations() if conversations is None else conversations))
    return path


def test_a_file_of_your_own_is_read_from_any_path(tmp_path):
    (conv,) = load_locomo(path=write_own(tmp_path))
    assert conv["id"] == "chat-1" and conv["speakers"] == ["Maya", "Leo"]
    assert all(t["facts"] == [] for s in conv["sessions"] for t in s["turns"])  # no observation: no facts yet
    assert [q["category"] for q in conv["qa"]] == [4, 4, 7, 0] and conv["qa"][3]["evidence"] == []


def test_speakers_dia_ids_and_the_list_itself_may_be_left_out(tmp_path):
    sample = own_conversations()[0]
    conv = {k: v for k, v in sample["conversation"].items() if not k.startswith("speaker_")}
    conv["session_1"] = [{k: v for k, v in t.items() if k != "dia_id"} for t in conv["session_1"]]
    (loaded,) = load_locomo(path=write_own(tmp_path, {**sample, "conversation": conv}))  # one object, not a list
    assert loaded["speakers"] == ["Maya", "Leo"]
    assert [t["dia_id"] for t in loaded["sessions"][0]["turns"]] == ["D1:1", "D1:2", "D1:3"]


def test_a_question_without_an_answer_is_one_line(tmp_path):
    sample = own_conversations()[0]
    sample["qa"] = [{"question": "What is Leo's job?", "category": 4}]
    with pytest.raises(UserError, match="'chat-1', question 0 .* has no answer; give one, or category 5"):
        load_locomo(path=write_own(tmp_path, [sample]))
    with pytest.raises(UserError, match="conversation file .* does not exist"):
        load_locomo(path=tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(UserError, match="not valid JSON"):
        load_locomo(path=tmp_path / "bad.json")


def test_conversations_without_facts_get_the_extractors(tmp_path):
    from memrl.data.conversations import load_conversations

    annotated = dict(FIXTURE, sample_id="annotated")
    path = write_own(tmp_path, [annotated, *own_conversations()])
    first, mine = load_conversations(path=path)
    assert first["sessions"][0]["turns"][0]["facts"] == ["Ann took a pottery class on 7 May 2023 (said on 8 May, 2023)."]
    facts = [f for s in mine["sessions"] for t in s["turns"] for f in t["facts"]]
    assert facts[0] == "Leo adopted a puppy named Biscuit last week (said on 3 March, 2024)."
    assert "Maya's sister moved to Lisbon for a new job (said on 3 March, 2024)." in facts and len(facts) == 4
    calls = []
    load_conversations(path=path, extractor=lambda speaker, text: calls.append(text) or [])
    assert len(calls) == 5  # only the conversation without annotated facts is extracted
