"""Multi-objective QA (MEM1's task family): N questions answered in one episode with a search tool.

Two sources of questions, each with the documents that answer them:

- ``"synthetic"``: a seeded generator of fictional people and their attributes. Every person has
  one document; the task asks about N of them and its corpus also holds distractor people, so a
  search has to be specific. Fictional names keep a pretrained model from answering from memory.
- ``"hotpotqa"``: N questions of the HotpotQA dev-distractor items (``<data_dir>/hotpotqa``), the
  corpus being their gold and distractor paragraphs (10 per question). Splits are made per
  *question* (a question of the test split never appears in a training task), so with the 100
  items shipped here a split holds about 80 / 10 / 10 questions, which bounds N.

A task is a JSON-ready dict: ``questions``, ``answers`` (one gold per objective, in order),
``n_objectives`` (the env's ``size_key``), ``documents`` (``{"title", "text"}``) and ``source``.
The answers of the N objectives are written in one answer separated by ``;`` as in MEM1 and scored
positionally by exact match: the reward is their sum, the outcome's ``score`` the fraction.
"""

from __future__ import annotations

import functools
import json
import random
import re
from pathlib import Path
from typing import Any

from memrl.actions import parse_action
from memrl.env.base import MemoryEnv
from memrl.env.splits import check_split, generate_split, split_of
from memrl.env.tools import tool
from memrl.errors import UserError
from memrl.scoring.text import exact_match, normalize, split_answers

from memrl.envs.search import Corpus, load_jsonl_corpus

SOURCES = ("synthetic", "hotpotqa")
MAX_OBJECTIVES = 16
ANSWER_SEP = ";"
HOTPOT_FILE = "hotpotqa/hotpot_dev_distractor_first100_hf_format.json"
DISTRACTOR_PEOPLE = 4  # per task, besides the N people asked about
NOT_FOUND = "unknown"  # the scripted expert's answer for a question its search did not answer
_NOTE = re.compile(r"\bQ(\d+): ([^\n;\"]+)")  # "Q2: Orinth" in a state, a memory note or a prune call


def default_data_dir() -> Path:
    """``<repo>/../shared/data``, where this checkout's shared data lives."""
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
def _hotpot_items(path: str) -> tuple[dict[str, Any], ...]:
    """The dev-distractor items as ``{"question", "answer", "documents"}`` (read once per path)."""
    with open(path, encoding="utf-8") as f:
        raw = json.load(f)
    items = []
    for row in raw:
        ctx = row["context"]
        docs = [{"title": t, "text": "".join(s).strip()} for t, s in zip(ctx["title"], ctx["sentences"])]
        items.append({"question": row["question"], "answer": row["answer"], "documents": docs})
    return tuple(items)


def hotpot_pool(data_dir: str | Path | None, split: str) -> list[dict[str, Any]]:
    """The HotpotQA items whose question falls in ``split`` (by a hash of the question)."""
    path = Path(data_dir or default_data_dir()) / HOTPOT_FILE
    if not path.is_file():
        raise UserError(f"HotpotQA file not found at {path}; pass data_dir=<folder holding hotpotqa/> "
                        "or use source='synthetic'")
    check_split(split)
    return [item for item in _hotpot_items(str(path)) if split_of(item["question"]) == split]


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


def make_tasks(split: str = "train", n: int = 100, seed: int = 0, n_objectives: int = 2,
               source: str = "synthetic", data_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """``n`` seeded tasks of ``split`` with ``n_objectives`` questions each (splits never share a task,
    and for HotpotQA never share a question)."""
    check_objectives(n_objectives, source)
    if source == "synthetic":
        make_one = lambda rng: make_synthetic_task(rng, n_objectives)  # noqa: E731
    else:
        pool = hotpot_pool(data_dir, split)
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


# -- scoring -----------------------------------------------------------------------------------------
def per_objective_em(answer: str, golds: list[Any]) -> list[float]:
    """EM of the i-th ``;``-separated answer against the i-th gold; a missing answer scores 0."""
    preds = split_answers(answer, ANSWER_SEP) if len(golds) > 1 else [answer.strip()]
    return [exact_match(preds[i], g) if i < len(preds) else 0.0 for i, g in enumerate(golds)]


def turn_budget(n_objectives: int) -> int:
    """Turns for N objectives: room to search each once or twice, then answer."""
    return 2 * n_objectives + 2


def questions_block(questions: list[str]) -> str:
    return "\n".join(f"Q{i}: {q}" for i, q in enumerate(questions, 1))


# -- the shared env base -------------------------------------------------------------------------------
class MultiObjectiveQAEnv(MemoryEnv):
    """What MEM1 and MemAct share: tasks, the per-episode search corpus and its ``search`` tool,
    per-objective scoring.

    Subclasses add the context rule (MEM1's constant state, MemAct's prune & write).
    """

    size_key = "n_objectives"

    def __init__(self, *, n_objectives: int | list[int] = 2, source: str = "synthetic", data_dir: str | None = None,
                 corpus_path: str | None = None, max_turns: int | None = None, **kwargs: Any):
        # Several sizes make one task list that mixes them (task k has sizes[k % len]), so one
        # `memrl eval` run reports score and peak context by N.
        self.sizes = [n_objectives] if isinstance(n_objectives, int) else list(n_objectives)
        if not self.sizes:
            raise UserError("n_objectives is an empty list; give one size or several, e.g. [1, 2, 4, 8, 16]")
        for n in self.sizes:
            check_objectives(n, source)
        self.source, self.data_dir, self.fixed_turns = source, data_dir, max_turns
        # A user's corpus is searched beside each task's own documents (e.g. a Wikipedia slice).
        self.extra_documents = load_jsonl_corpus(corpus_path) if corpus_path else []
        self.corpus: Corpus | None = None
        super().__init__(max_turns=max_turns or turn_budget(max(self.sizes)), **kwargs)

    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        per_size = [make_tasks(split, -(-(n - k) // len(self.sizes)), seed, size, self.source, self.data_dir)
                    for k, size in enumerate(self.sizes)]
        return [per_size[k % len(self.sizes)][k // len(self.sizes)] for k in range(n)]

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        size = rng.choice(self.sizes)
        if self.source == "synthetic":
            task = make_synthetic_task(rng, size)
        else:
            task = make_hotpot_task(rng, hotpot_pool(self.data_dir, "train"), size)
        task["id"] = f"multiobj-{self.source}{size}-seed-{rng.getrandbits(32):08x}"
        return task

    def begin_task(self, task: dict[str, Any]) -> None:
        """Open the task's search corpus and set its turn budget (subclasses' ``begin`` calls this)."""
        if self.corpus is not None:
            self.corpus.close()
        self.corpus = Corpus([*task.get("documents", []), *self.extra_documents])
        self.max_turns = self.fixed_turns or turn_budget(len(task["questions"]))

    def finish(self, answer: str) -> float:
        golds = list(self.task["answers"])
        ems = per_objective_em(answer, golds)
        total = float(sum(ems))
        # The reward is MEM1's sum over objectives; the score is the fraction, so eval tables of
        # tasks with different N stay on one 0..1 scale.
        self.outcome.update(answer=answer, gold=golds, per_objective=ems, em_sum=total,
                            score=total / len(golds), success=total == len(golds))
        return total

    def close(self) -> None:
        if self.corpus is not None:
            self.corpus.close()
        super().close()

    # -- a scripted expert (demonstrations for the SFT warm start) ------------------------------
    def expert_reading(self) -> dict[int, str]:
        """What the current context tells a careful reader, by question number: the answers it
        wrote down (``Qi: answer`` in a state, a memory note or a prune call) and, for each search
        of a question's own text, the gold answer when the result shows it, else ``NOT_FOUND``.

        Only what the context shows counts: in MEM1 mode an answer is kept only if the previous
        reply wrote it into its state, and a search whose results miss the answer finds nothing
        (a multi-hop HotpotQA question is often not answered by one search). The experts teach the
        format and the bookkeeping; they search each question's text once, in order.
        """
        asked, golds = [q.strip() for q in self.task["questions"]], self.task["answers"]
        known: dict[int, str] = {}
        pending: list[int | None] = []  # the question each result still to come answers (None: not a search)
        for message in self.context.messages:
            if message.pinned:
                continue
            if message.role == "assistant":
                known.update((int(i), a.strip()) for i, a in _NOTE.findall(message.content))
                calls = parse_action(message.content, self.tool_specs, self.protocol).tool_calls
                pending = [asked.index(query) + 1 if c.name == "search" and (query := str(c.arguments.get("query", "")).strip()) in asked
                           else None for c in calls]
                continue
            if message.content.startswith("[memory]"):  # MemAct's note, written before the prune's result
                known.update((int(i), a.strip()) for i, a in _NOTE.findall(message.content))
            elif pending:
                i = pending.pop(0)
                if i is not None:
                    gold = golds[i - 1]
                    known[i] = gold if f" {normalize(gold)} " in f" {normalize(message.content)} " else NOT_FOUND
        return known

    def expert_todo(self, known: dict[int, str]) -> list[int]:
        return [i for i in range(1, len(self.task["questions"]) + 1) if i not in known]

    @tool
    def search(self, query: str, top_k: int = 3) -> str:
        """Search the document collection.

        Args:
            query: What to look for.
            top_k: How many documents to return (1-10).
        """
        return self.corpus.search(query, top_k)
