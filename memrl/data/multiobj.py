"""Multi-objective QA tasks (MEM1's task family): N questions and the documents that answer them.

Two sources of questions:

- ``"synthetic"``: a seeded generator of fictional people and their attributes. Every person has
  one document; the task asks about N of them and its corpus also holds distractor people, so a
  search has to be specific. Fictional names keep a pretrained model from answering from memory.
- ``"hotpotqa"``: N HotpotQA questions (:mod:`memrl.data.hotpotqa`), the corpus being their gold
  and distractor paragraphs (10 per question). Splits are made per *question* (a question of the
  test split never appears in a training task), so with the first 100 dev items a split holds
  about 80 / 10 / 10 questions, which bounds N.

A task is a JSON-ready dict: ``questions``, ``answers`` (one gold per objective, in order),
``n_objectives`` (the env's ``size_key``), ``documents`` (``{"title", "text"}``) and ``source``.
"""

from __future__ import annotations

import functools
import os
import random
from typing import Any

from memrl.data.hotpotqa import Source, hotpotqa_source, rows_from
from memrl.env.splits import check_split, generate_split, split_of
from memrl.errors import UserError

PathLike = str | os.PathLike | None
SOURCES = ("synthetic", "hotpotqa")
MAX_OBJECTIVES = 16
DISTRACTOR_PEOPLE = 4  # per task, besides the N people asked about


# -- synthetic worlds ------------------------------------------------------------------------------
_SYLLABLES = ["ka", "lo", "mi", "ren", "sa", "tor", "vel", "du", "an", "is", "bor", "qui", "zen", "ha", "op", "ly"]
ATTRIBUTES = {
    # attribute: (sentence, question, values)
    "town": ("{name} was born in the town of {value}.", "In which town was {name} born?",
             ["Orinth", "Marlow", "Quessa", "Tarvik", "Ulmen", "Brisca", "Dovran", "Felst", "Korrin", "Pellam"]),
    "trade": ("{name} worked as a {value} for most of their life.", "What did {name} work as?",
              ["glassblower", "cartographer", "beekeeper", "luthier", "ferryman", "bookbinder", "stonemason", "tanner"]),
    "instrument": ("{name} played the {value} in a local band.", "Which instrument did {name} play?",
                   ["oboe", "zither", "cello", "banjo", "harp", "tuba", "lute", "marimba"]),
    "river": ("{name} lived by the {value} river.", "By which river did {name} live?",
              ["Aldra", "Semmet", "Varn", "Oskel", "Tiber", "Lune", "Moro", "Chell"]),
}


def _fictional_name(rng: random.Random) -> str:
    word = lambda k: "".join(rng.choice(_SYLLABLES) for _ in range(k)).capitalize()  # noqa: E731
    return f"{word(2)} {word(3)}"


def _person(rng: random.Random, name: str) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """One document about ``name`` (every attribute) and its (question, answer) pairs."""
    sentences, qa = [], []
    for attr in sorted(ATTRIBUTES):
        sentence, question, values = ATTRIBUTES[attr]
        value = rng.choice(values)
        sentences.append(sentence.format(name=name, value=value))
        qa.append((question.format(name=name), value))
    return {"title": name, "text": " ".join(sentences)}, qa


def make_synthetic_task(rng: random.Random, n_objectives: int) -> dict[str, Any]:
    """N questions about N fictional people; the corpus adds ``DISTRACTOR_PEOPLE`` more."""
    names: list[str] = []
    while len(names) < n_objectives + DISTRACTOR_PEOPLE:
        name = _fictional_name(rng)
        if name not in names:
            names.append(name)
    documents, questions, answers = [], [], []
    for i, name in enumerate(names):
        doc, qa = _person(rng, name)
        documents.append(doc)
        if i < n_objectives:
            question, answer = rng.choice(qa)
            questions.append(question)
            answers.append(answer)
    rng.shuffle(documents)
    return _task(questions, answers, documents, "synthetic")


# -- HotpotQA ----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4)
def _hotpot_items(source: Source) -> tuple[dict[str, Any], ...]:
    """The HotpotQA items as ``{"question", "answer", "documents"}`` (built once per source)."""
    items = []
    for row in rows_from(source):
        ctx = row["context"]
        docs = [{"title": t, "text": "".join(s).strip()} for t, s in zip(ctx["title"], ctx["sentences"])]
        items.append({"question": row["question"], "answer": row["answer"], "documents": docs})
    return tuple(items)


def hotpot_pool(data_dir: PathLike, split: str, path: PathLike = None) -> list[dict[str, Any]]:
    """The HotpotQA items whose question falls in ``split`` (by a hash of the question)."""
    check_split(split)
    return [item for item in _hotpot_items(hotpotqa_source(data_dir, path)) if split_of(item["question"]) == split]


def make_hotpot_task(rng: random.Random, pool: list[dict[str, Any]], n_objectives: int) -> dict[str, Any]:
    """N distinct questions of ``pool``; the corpus is their paragraphs, shuffled."""
    if n_objectives > len(pool):
        raise UserError(f"n_objectives ({n_objectives}) exceeds the {len(pool)} HotpotQA questions of this split; "
                        "use fewer objectives, the train split, or source='synthetic'")
    items = rng.sample(pool, n_objectives)
    documents = [doc for item in items for doc in item["documents"]]
    rng.shuffle(documents)
    return _task([i["question"] for i in items], [i["answer"] for i in items], documents, "hotpotqa")


def _task(questions: list[str], answers: list[str], documents: list[dict[str, str]], source: str) -> dict[str, Any]:
    return {"questions": questions, "answers": answers, "n_objectives": len(questions),
            "documents": documents, "source": source}


def generate_tasks(split: str = "train", n: int = 100, seed: int = 0, n_objectives: int = 2,
               source: str = "synthetic", data_dir: PathLike = None, path: PathLike = None) -> list[dict[str, Any]]:
    """``n`` seeded tasks of ``split`` with ``n_objectives`` questions each (splits never share a task,
    and for HotpotQA never share a question)."""
    check_objectives(n_objectives, source)
    if source == "synthetic":
        make_one = lambda rng: make_synthetic_task(rng, n_objectives)  # noqa: E731
    else:
        pool = hotpot_pool(data_dir, split, path)
        make_one = lambda rng: make_hotpot_task(rng, pool, n_objectives)  # noqa: E731
    # HotpotQA tasks draw only from their split's questions, so no question is shared across
    # splits; both sources are then also split by content, as every generator is.
    return generate_split(make_one, lambda t: t["questions"], split=split, n=n, seed=seed,
                          prefix=f"multiobj-{source}{n_objectives}")


def check_objectives(n_objectives: Any, source: str) -> None:
    if source not in SOURCES:
        raise UserError(f"source {source!r} must be one of {', '.join(SOURCES)}")
    if isinstance(n_objectives, bool) or not isinstance(n_objectives, int) or not 1 <= n_objectives <= MAX_OBJECTIVES:
        raise UserError(f"n_objectives ({n_objectives!r}) must be an integer from 1 to {MAX_OBJECTIVES}")
