"""Multi-objective QA (MEM1's task family): the env base MEM1 and MemAct share.

N questions are answered in one episode with a search tool over the task's documents (tasks:
:mod:`memrl.data.multiobj`, synthetic people or HotpotQA). The answers of the N objectives are
written in one answer separated by ``;`` as in MEM1 and scored positionally by exact match: the
reward is their sum, the outcome's ``score`` the fraction.
"""

from __future__ import annotations

import random
import re
from typing import Any

from memrl.actions import parse_action
from memrl.data.corpus import Corpus, load_jsonl_corpus
from memrl.data.multiobj import SOURCES, check_objectives, hotpot_pool, make_hotpot_task, make_synthetic_task, generate_tasks
from memrl.data.sources import source_name
from memrl.env.base import MemoryEnv
from memrl.env.tools import tool
from memrl.errors import UserError
from memrl.scoring.text import exact_match, normalize, split_answers

ANSWER_SEP = ";"
NOT_FOUND = "unknown"  # the scripted expert's answer for a question its search did not answer
_NOTE = re.compile(r"\bQ(\d+): ([^\n;\"]+)")  # "Q2: Orinth" in a state, a memory note or a prune call


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
                 path: str | None = None, corpus_path: str | None = None, max_turns: int | None = None, **kwargs: Any):
        # Several sizes make one task list that mixes them (task k has sizes[k % len]), so one
        # `memrl eval` run reports score and peak context by N.
        self.sizes = [n_objectives] if isinstance(n_objectives, int) else list(n_objectives)
        if not self.sizes:
            raise UserError("n_objectives is an empty list; give one size or several, e.g. [1, 2, 4, 8, 16]")
        source = source_name(source, SOURCES)
        for n in self.sizes:
            check_objectives(n, source)
        self.source, self.data_dir, self.path, self.fixed_turns = source, data_dir, path, max_turns
        # A user's corpus is searched beside each task's own documents (e.g. a Wikipedia slice).
        self.extra_documents = load_jsonl_corpus(corpus_path) if corpus_path else []
        self.corpus: Corpus | None = None
        super().__init__(max_turns=max_turns or turn_budget(max(self.sizes)), **kwargs)

    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        per_size = [generate_tasks(split, -(-(n - k) // len(self.sizes)), seed, size, self.source, self.data_dir, self.path)
                    for k, size in enumerate(self.sizes)]
        return [per_size[k % len(self.sizes)][k // len(self.sizes)] for k in range(n)]

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        size = rng.choice(self.sizes)
        if self.source == "synthetic":
            task = make_synthetic_task(rng, size)
        else:
            task = make_hotpot_task(rng, hotpot_pool(self.data_dir, "train", self.path), size)
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
