"""RULER-style documents: lengths, gold spread, chunking, split-disjoint HotpotQA and needle tasks."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from memrl.data.documents import (
    approx_tokens, build_document, chunk_document, cut_to_tokens, filler_stream, hotpot_items, hotpot_tasks, needle_tasks,
    spread_positions,
)
from memrl.data.hotpotqa import LOCAL_FILES, hotpotqa_file
from memrl.errors import UserError


def hotpot_fixture(root: Path, n: int = 40) -> Path:
    """A synthetic file in the HF ``hotpot_qa`` layout: 2 gold + 3 distractor paragraphs per question."""
    rows = []
    for i in range(n):
        titles = [f"Gold{i}a", f"Gold{i}b", f"Other{i}x", f"Other{i}y", f"Other{i}z"]
        sentences = [[f"{t} is a made-up place number {i}.", f" It holds fact {t.lower()}."] for t in titles]
        rows.append({"question": f"Which fact links Gold{i}a and Gold{i}b?", "answer": f"answer{i}",
                     "supporting_facts": {"title": titles[:2], "sent_id": [0, 1]},
                     "context": {"title": titles, "sentences": sentences}})
    path = root / LOCAL_FILES[-1]
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rows))
    return root


def test_cut_to_tokens_respects_the_limit_at_a_word_boundary():
    text = "alpha beta gamma delta epsilon " * 10
    cut, was_cut = cut_to_tokens(text, 10)
    assert was_cut and approx_tokens(cut) <= 10 and text.startswith(cut) and not cut.endswith(" ")
    assert text[len(cut)] == " "  # ends on a whole word
    assert cut_to_tokens("short", 10) == ("short", False)


def test_gold_positions_are_distinct_increasing_and_spread_over_the_depth():
    rng = random.Random(0)
    for n_gold in (1, 2, 3):
        for _ in range(50):
            pos = spread_positions(rng, n_gold, 20)
            assert pos == sorted(set(pos)) and 0 <= pos[0] and pos[-1] < 20
            # The i-th gold lies in the i-th depth band (up to rounding of the band edges).
            assert all(i * 20 // n_gold - 1 <= p <= (i + 1) * 20 // n_gold for i, p in enumerate(pos))
    depths = [spread_positions(rng, 1, 100)[0] for _ in range(400)]
    quartiles = [sum(q * 25 <= d < (q + 1) * 25 for d in depths) for q in range(4)]
    assert min(quartiles) > 60, quartiles  # a single gold is as likely early as late
    assert spread_positions(rng, 3, 3) == [0, 1, 2]


@pytest.mark.parametrize("target", [100, 1000, 8000])
def test_a_document_fills_its_target_length_and_holds_the_gold(target):
    rng = random.Random(target)
    gold = ["GOLD one is here.", "GOLD two is there."]
    paragraphs, positions = build_document(rng, gold, filler_stream(random.Random(1)), target)
    assert [paragraphs[p] for p in positions] == gold
    total = sum(approx_tokens(p) for p in paragraphs) + approx_tokens("\n\n") * (len(paragraphs) - 1)
    assert target - 3 <= total <= target  # filled up to a last paragraph cut at a word
    with pytest.raises(UserError, match="shorter than the gold"):
        build_document(rng, gold, filler_stream(rng), 5)


def test_chunks_respect_the_size_and_keep_every_word_in_order():
    rng = random.Random(3)
    paragraphs, _ = build_document(rng, ["x " * 900], filler_stream(rng), 3000)  # one paragraph > a chunk
    chunks = chunk_document(paragraphs, 256)
    assert all(approx_tokens(c) <= 256 for c in chunks)
    assert " ".join(chunks).split() == " ".join(paragraphs).split()
    with pytest.raises(UserError, match="chunk_tokens"):
        chunk_document(paragraphs, 2)


def test_needle_tasks_are_seeded_split_disjoint_and_answerable():
    train = needle_tasks("train", 12, seed=0, lengths=[256, 512], n_needles=3)
    assert train == needle_tasks("train", 12, seed=0, lengths=[256, 512], n_needles=3)
    test = needle_tasks("test", 12, seed=0, lengths=[256, 512], n_needles=3)
    asked = lambda tasks: {(t["question"], t["answer"][0]) for t in tasks}  # noqa: E731
    assert not asked(train) & asked(test)
    for k, task in enumerate(train):
        assert task["doc_tokens"] == [256, 512][k % 2]
        (pos,) = task["gold_positions"]
        key = task["question"].removeprefix("What is the special magic number for ").rstrip("?")
        assert task["paragraphs"][pos] == f"The special magic number for {key} is {task['answer'][0]}."
        assert sum("special magic number" in p for p in task["paragraphs"]) == 3


def test_hotpot_held_out_evidence_never_appears_in_training_documents(tmp_path):
    data = hotpot_fixture(tmp_path)
    train = hotpot_tasks("train", 30, seed=0, lengths=[300, 6000], data_dir=data)
    test = hotpot_tasks("test", 10, seed=0, lengths=[300], data_dir=data)
    assert train == hotpot_tasks("train", 30, seed=0, lengths=[300, 6000], data_dir=data)
    assert not {t["question"] for t in train} & {t["question"] for t in test}
    test_gold = {t["paragraphs"][p] for t in test for p in t["gold_positions"]}
    assert len(test_gold) >= 2 and not test_gold & {p for t in train for p in t["paragraphs"]}
    for task in train:
        i = task["answer"][0].removeprefix("answer")
        assert sorted(task["paragraphs"][p].split(":")[0] for p in task["gold_positions"]) == [f"Gold{i}a", f"Gold{i}b"]
    # 6,000 tokens is more than the fixture holds (~3,500): generated filler makes up the rest.
    long = [t for t in train if t["doc_tokens"] == 6000][0]
    assert sum(approx_tokens(p) + 1 for p in long["paragraphs"]) >= 5990
    assert any(p.startswith("The ") and "made-up" not in p for p in long["paragraphs"])


def test_missing_hotpot_data_is_a_one_line_error(tmp_path):
    with pytest.raises(UserError, match="HotpotQA data not found in .*memrl data download hotpotqa"):
        hotpot_items(tmp_path)


def test_hotpot_items_take_a_file_given_by_path(tmp_path):
    data = hotpot_fixture(tmp_path)
    mine = tmp_path / "mine.json"
    mine.write_text((data / LOCAL_FILES[-1]).read_text())
    assert hotpot_items(path=mine) == hotpot_items(data)
    assert hotpot_tasks("test", 2, seed=0, lengths=[400], path=mine) == hotpot_tasks("test", 2, seed=0, lengths=[400], data_dir=data)


def _local_hotpot() -> bool:
    try:
        return hotpotqa_file() is not None
    except UserError:
        return False


@pytest.mark.skipif(not _local_hotpot(), reason="no local HotpotQA file (../shared/data is absent)")
def test_real_hotpot_documents_reach_32k_tokens_with_spread_gold():
    tasks = hotpot_tasks("train", 20, seed=0, lengths=[32768])
    depths = [p / len(t["paragraphs"]) for t in tasks for p in t["gold_positions"]]
    assert min(depths) < 0.25 and max(depths) > 0.75
    assert all(len(t["paragraphs"]) > 200 for t in tasks)
