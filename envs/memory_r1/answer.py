"""Memory-R1's Answer Agent (arXiv 2508.19828): select the relevant memories, then answer.

The policy sees up to 60 memories retrieved from a conversation's bank and a question, lists the
relevant memory ids, then answers; LoCoMo's per-category rules (:mod:`memrl.scoring.locomo`) score
it. Conversations: :mod:`memrl.data.conversations`.
"""

from __future__ import annotations

import random
import re
from typing import Any

from memrl.data.conversations import conversation_facts, heuristic_bank, manager_banks, memory_r1_conversations
from memrl.data.dialogues import make_conversation
from memrl.data.extract import make_extractor
from memrl.env.base import MemoryEnv
from memrl.errors import UserError
from memrl.memory import make_store
from memrl.scoring.answerers import NOT_MENTIONED, content_words
from memrl.scoring.locomo import score_answer

from memrl.envs.memory_r1.common import asked, check_settings, question_row

_RELEVANT = re.compile(r"Relevant\s*:\s*\[?([^\]\n<]*)", re.I)

ANSWER_INSTRUCTIONS = (
    "You answer a question about a long conversation from a memory bank. First think inside <think></think> "
    "and write there the ids of the relevant memories as `Relevant: [m1, m4]`; then give a short answer "
    f"inside <answer></answer>. If the memories do not say, answer '{NOT_MENTIONED}'"
)


class MemoryR1AnswerEnv(MemoryEnv):
    """Memory-R1's Answer Agent: select the relevant memories, then answer.

    Description:
        One question per episode with up to ``n_memories`` memories retrieved (BM25) from the
        conversation's bank: the Mem0-style heuristic bank (``bank="heuristic"``), every
        extracted fact (``bank="facts"``), or the banks a Memory Manager run left (``bank=`` a
        rollouts JSONL of manager episodes, see :func:`memrl.data.conversations.manager_banks`).
        The policy lists the relevant ids, then answers.
    Memory tools:
        none (the memories are in the prompt).
    Observation:
        system (instructions) and user (``[id] memory`` lines and the question).
    Rewards:
        ``metric`` ("f1" default, "em", "bleu1") of the answer under LoCoMo's rules for the
        question's category (1: partial F1 over comma-split parts; 3: gold text before ``;``;
        5: correct when the answer says it is not mentioned).
    Episode end:
        terminated on an ``<answer>``; truncated after one turn without one.
    Arguments:
        source ("synthetic" | "locomo"), data_dir, path, extractor, extractor_model, categories,
        metric (as the manager). sessions (int): sessions per generated conversation (LoCoMo
        conversations and files of your own are read whole).
        bank ("heuristic" | "facts" | path to manager rollouts). n_memories (int): memories shown (default 60).
        memory_mode: "agent", or "none" (no memories shown: the question alone).
    Version history:
        v0: first version.
    """

    max_turns = 1
    supported_modes = ("agent", "none")
    memory_tools = ()
    size_key = "memories"

    def __init__(self, *, source: str = "synthetic", data_dir: str | None = None, path: str | None = None,
                 sessions: int = 3, categories: list[int] | None = None, metric: str = "f1", bank: str = "heuristic",
                 n_memories: int = 60, extractor: str | Any = "rules", extractor_model: str | None = None, **kwargs: Any):
        self.categories = check_settings(source, metric, categories, path)
        self._stored = None if bank in ("heuristic", "facts") else manager_banks(bank)
        if n_memories < 1:
            raise UserError(f"n_memories ({n_memories}) must be at least 1")
        self.source, self.data_dir, self.path, self.sessions, self.metric = source, data_dir, path, sessions, metric
        self.bank, self.n_memories = bank, n_memories
        self.extractor = make_extractor(extractor, extractor_model)
        super().__init__(**kwargs)

    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        # A LoCoMo question is asked over the whole conversation's bank: no session windows here.
        window = self.sessions if self.source == "synthetic" else None
        for conversation in memory_r1_conversations(self.source, split, n, seed, window, self.data_dir, self.path, self.extractor):
            tasks += self._question_tasks(conversation)
            if len(tasks) >= n:
                break
        return tasks[:n]

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        if self._stored is not None:
            raise UserError("with bank=<manager rollouts> the answer env needs explicit tasks (make_tasks)")
        tasks = self._question_tasks({**make_conversation(rng, self.sessions), "id": f"seed-{rng.getrandbits(32):08x}"})
        return rng.choice(tasks)

    def _question_tasks(self, conversation: dict[str, Any]) -> list[dict[str, Any]]:
        store = make_store("inprocess")
        for content in self._bank(conversation):
            store.add(content)
        tasks = []
        for k, q in enumerate(q for q in conversation["qa"] if asked(q, self.categories)):
            hits = store.retrieve(q["question"], self.n_memories).hits
            tasks.append({"id": f"{conversation['id']}/q{k}", "conversation_id": conversation["id"], **q,
                          "memories": [{"id": e.id, "content": e.content} for e, _ in hits]})
        return tasks

    def _bank(self, conversation: dict[str, Any]) -> list[str]:
        if self._stored is None:
            return heuristic_bank(conversation) if self.bank == "heuristic" else conversation_facts(conversation)
        if conversation["id"] not in self._stored:
            raise UserError(f"no manager bank for conversation {conversation['id']!r} in {self.bank}; run the manager "
                            "on the same source, split, seed and sessions (sessions null for LoCoMo)")
        return self._stored[conversation["id"]]

    def begin(self, task: dict[str, Any]) -> None:
        self._ask(task, shown=task["memories"])

    def begin_baseline(self, task: dict[str, Any]) -> None:
        self._ask(task, shown=[])  # "none": the question alone

    def _ask(self, task: dict[str, Any], shown: list[dict[str, str]]) -> None:
        # An episode that ends without an answer still counts its question, as 0, in the
        # per-category tables (else they would pool only the questions a policy answered).
        self.outcome["per_question"] = [question_row(task["category"], None)]
        self.shown = shown
        self.context.append("system", ANSWER_INSTRUCTIONS, pinned=True)
        bank = "\n".join(f"[{m['id']}] {m['content']}" for m in shown) or "(no memories)"
        self.context.append("user", f"Memories:\n{bank}\n\nQuestion: {task['question']}", pinned=True)

    def expert_reply(self) -> str:
        """What a good answer agent writes, knowing the gold answer: the shown memories that hold
        an answer word as the relevant ones, then the answer (the not-mentioned phrase for an
        adversarial question). It teaches the format, not the reading."""
        category, gold = self.task["category"], str(self.task["answer"])
        answer = NOT_MENTIONED if category == 5 else gold.split(";")[0].strip()
        words = set(content_words(answer)) if category != 5 else set()
        relevant = [m["id"] for m in self.shown if words & set(content_words(m["content"]))]
        return f"<think>Relevant: [{', '.join(relevant[:5])}]</think>\n<answer>{answer}</answer>"

    def finish(self, answer: str) -> float:
        scores = score_answer(answer, self.task["answer"], self.task["category"])
        reply = self.context.messages[-1].content if len(self.context) else ""
        shown = {m["id"] for m in self.task["memories"]}
        listed = _RELEVANT.search(reply)
        selected = [i for i in re.findall(r"m\d+", listed.group(1)) if i in shown] if listed else []
        score = getattr(scores, self.metric)
        self.outcome.update(answer=answer, gold=self.task["answer"], category=self.task["category"], score=score,
                            success=scores.em == 1.0, f1=scores.f1, em=scores.em, bleu1=scores.bleu1, selected=selected,
                            per_question=[question_row(self.task["category"], scores)])
        return score
