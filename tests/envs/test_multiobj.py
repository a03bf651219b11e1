"""Multi-objective QA tasks: seeded generators, question-disjoint HotpotQA splits, BM25 search, scoring."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from memrl.data.corpus import Corpus, load_jsonl_corpus
from memrl.data.hotpotqa import LOCAL_FILES, hotpotqa_file
from memrl.data.multiobj import hotpot_pool, make_synthetic_task, generate_tasks
from memrl.envs.multiobj import per_objective_em
from memrl.errors import UserError
from memrl.rewards.match import multi_answer_em



def _local_hotpot() -> bool:
    try:
        return hotpotqa_file() is not None
    except UserError:
        return False


def hotpot_fixture(root: Path, n: int = 60) -> Path:
    """A small file in the HF ``hotpot_qa`` layout: 3 paragraphs per question, one holding the answer."""
    rows = []
    for i in range(n):
        titles = [f"Place{i}", f"Other{i}x", f"Other{i}y"]
        sentences = [[f"{t} was founded by person{i}.", f" {t} is a made-up town."] for t in titles]
        rows.append({"question": f"Who founded Place{i}?", "answer": f"person{i}", "context": {"title": titles, "sentences": sentences}})
    path = root / LOCAL_FILES[-1]
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(rows))
    return root


@pytest.mark.parametrize("n", [1, 4, 16])
def test_synthetic_task_has_n_questions_each_answered_by_one_of_its_documents(n):
    task = make_synthetic_task(random.Random(n), n)
    assert task["n_objectives"] == len(task["questions"]) == len(task["answers"]) == n
    assert len(task["documents"]) == n + 4  # the asked-about people plus 4 distractors
    corpus = Corpus(task["documents"])
    for question, answer in zip(task["questions"], task["answers"]):
        top = corpus.hits(question, 1)[0]
        assert answer in top["text"] and top["title"] in question  # the name finds its own document


def test_synthetic_tasks_are_seeded_and_splits_share_no_task():
    train = generate_tasks("train", 40, seed=3, n_objectives=2)
    assert train == generate_tasks("train", 40, seed=3, n_objectives=2)
    test = generate_tasks("test", 10, seed=3, n_objectives=2)
    assert not {json.dumps(t["questions"]) for t in train} & {json.dumps(t["questions"]) for t in test}


def test_hotpot_splits_never_share_a_question(tmp_path):
    data = hotpot_fixture(tmp_path)
    train = generate_tasks("train", 20, seed=0, n_objectives=3, source="hotpotqa", data_dir=data)
    test = generate_tasks("test", 3, seed=0, n_objectives=2, source="hotpotqa", data_dir=data)
    q = lambda tasks: {x for t in tasks for x in t["questions"]}  # noqa: E731
    assert q(train) and q(test) and not q(train) & q(test)
    task = train[0]
    assert len(task["documents"]) == 3 * 3 and task["source"] == "hotpotqa"
    for question, answer in zip(task["questions"], task["answers"]):  # each answer is in its paragraphs
        assert any(answer in d["text"] for d in Corpus(task["documents"]).hits(question, 3))


def test_hotpot_errors_are_one_line(tmp_path):
    with pytest.raises(UserError, match="HotpotQA data not found in .*memrl data download hotpotqa"):
        hotpot_pool(tmp_path, "train")
    data = hotpot_fixture(tmp_path)
    too_many = len(hotpot_pool(data, "test")) + 1
    with pytest.raises(UserError, match=f"n_objectives \\({too_many}\\) exceeds"):
        generate_tasks("test", 1, n_objectives=too_many, source="hotpotqa", data_dir=data)
    with pytest.raises(UserError, match="from 1 to 16"):
        generate_tasks("train", 1, n_objectives=17)


@pytest.mark.skipif(not _local_hotpot(), reason="no local HotpotQA file (../shared/data is absent)")
def test_real_hotpot_file_gives_the_paragraphs_of_each_question():
    task = generate_tasks("train", 1, seed=0, n_objectives=16, source="hotpotqa")[0]
    # Up to 10 paragraphs per item (a few dev-distractor items carry fewer).
    assert 16 * 5 <= len(task["documents"]) <= 160 and len(set(task["questions"])) == 16


@pytest.mark.parametrize(
    "answer, golds, expected",
    [
        ("Paris; Lima", ["Paris", "Lima"], [1.0, 1.0]),  # both right, in order
        ("Lima; Paris", ["Paris", "Lima"], [0.0, 0.0]),  # positional, as MEM1 asks in order
        ("the Paris;", ["Paris", "Lima"], [1.0, 0.0]),  # SQuAD normalisation; a missing answer is 0
        ("Paris; Lima; Oslo", ["Paris", "Lima"], [1.0, 1.0]),  # extra answers are ignored
        ("Paris; Lima", ["Paris; Lima"], [1.0]),  # one objective: no splitting
    ],
)
def test_per_objective_em_matches_the_multi_answer_em_plugin(answer, golds, expected):
    assert per_objective_em(answer, golds) == expected
    if len(golds) > 1:  # the env's reward and the reward plugin must not drift apart
        assert multi_answer_em([f"<answer>{answer}</answer>"], answers=[golds]) == [sum(expected)]


@pytest.mark.parametrize("query, top_k, expect", [
    ("", 3, "query is empty"),
    ("lima", 0, "top_k must be an integer from 1 to 10"),
    ("lima", 11, "top_k must be an integer from 1 to 10"),
    ("zebra", 3, "no document matches"),
    ("lima", 1, "[Peru] Lima is the capital of Peru."),
])
def test_search_text(query, top_k, expect):
    corpus = Corpus([{"title": "Peru", "text": "Lima is the capital of Peru."}, {"title": "", "text": "Oslo is cold."}])
    assert expect in corpus.search(query, top_k)


def test_jsonl_corpus_loads_and_bad_lines_are_one_line_errors(tmp_path):
    good = tmp_path / "c.jsonl"
    good.write_text('{"title": "Peru", "text": "Lima is the capital."}\n\n{"text": "Oslo is cold."}\n')
    assert load_jsonl_corpus(good) == [{"title": "Peru", "text": "Lima is the capital."}, {"title": "", "text": "Oslo is cold."}]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "x"}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:1: each line needs a non-empty \"text\""):
        load_jsonl_corpus(bad)
    with pytest.raises(UserError, match="does not exist"):
        load_jsonl_corpus(tmp_path / "none.jsonl")


def test_a_list_of_sizes_mixes_them_and_sets_each_task_turn_budget():
    from memrl.env.registry import make

    env = make("memrl/MEM1-v0", n_objectives=[1, 4])
    tasks = env.make_tasks("test", 5, seed=0)
    assert [env.task_size(t) for t in tasks] == [1.0, 4.0, 1.0, 4.0, 1.0]
    assert len({t["id"] for t in tasks}) == 5
    env.reset(seed=0, options={"task": tasks[1]})
    assert env.max_turns == 10  # 2N + 2 for this task's N = 4
    env.reset(seed=0, options={"task": tasks[0]})
    assert env.max_turns == 4
    fixed = make("memrl/MEM1-v0", n_objectives=[1, 4], max_turns=3)
    fixed.reset(seed=0, options={"task": tasks[1]})
    assert fixed.max_turns == 3  # an explicit max_turns wins
    with pytest.raises(UserError, match="n_objectives \\(17\\)"):
        make("memrl/MemAct-v0", n_objectives=[2, 17])
