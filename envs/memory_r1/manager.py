"""Memory-R1's Memory Manager (arXiv 2508.19828): ADD / UPDATE / DELETE / NOOP per extracted fact.

The policy sees, turn by turn, the facts extracted from a dialogue turn and the related memories,
and emits one operation per fact. At the end a frozen answer agent (:mod:`memrl.scoring.answerers`)
answers the conversation's questions from the bank; its mean score is the reward, so the manager
is rewarded only for banks that answer well. Conversations: :mod:`memrl.data.conversations`.
"""

from __future__ import annotations

import random
from typing import Any

from memrl.actions import Action, ToolCall, render_tool_call
from memrl.data.conversations import DEFAULT_SESSIONS, conversation_facts, memory_key, memory_r1_conversations
from memrl.data.dialogues import is_drop, make_conversation
from memrl.data.extract import make_extractor
from memrl.data.locomo import session_day
from memrl.env.base import MemoryEnv
from memrl.env.tools import tool
from memrl.errors import UserError
from memrl.scoring.answerers import Answerer, make_answerer
from memrl.scoring.locomo import category_table, score_answer

from memrl.envs.memory_r1.common import METRICS, asked, check_settings, question_row

MANAGER_INSTRUCTIONS = (
    "You are the memory manager of a chat assistant. For each new fact from the conversation, decide how "
    "the memory bank changes: ADD a new fact, UPDATE a related memory whose information changed (write the "
    "new content, keeping what still holds), DELETE a memory that is no longer true, or NOOP when the bank "
    "already holds it or it does not matter. Call exactly one tool per fact."
)


class MemoryR1ManagerEnv(MemoryEnv):
    """Memory-R1's Memory Manager: one ADD / UPDATE / DELETE / NOOP per extracted fact.

    Description:
        One episode is one conversation (synthetic) or a window of ``sessions`` sessions
        (LoCoMo). Each turn shows the facts extracted from the next dialogue turn that states
        any (the generator's facts, LoCoMo's ``observation`` facts, or for conversations without
        them the ``extractor``'s) and the related memories with their ids; the policy calls one
        tool per fact. Each turn is its own segment (rewrite), as the paper's manager decisions
        are single-step.
    Memory tools:
        ``ADD(content)``, ``UPDATE(memory_id, content)``, ``DELETE(memory_id)``, ``NOOP()``.
    Observation:
        system (instructions + tool schemas) and user (session date, the turn, its facts, the
        top-``top_k`` related memories).
    Rewards:
        At the end, a frozen answer agent (``answerer``) answers the conversation's questions
        from the bank (its top-60 BM25 hits per question); the reward is the mean ``metric``
        under LoCoMo's per-category rules. 0 on every other turn. The outcome keeps f1 / em /
        bleu1, ``<metric>/<category>`` means, ``per_question`` rows (pool them across episodes
        with :func:`memrl.scoring.locomo.category_table`) and the final ``bank``; success is a
        score of at least 0.5.
    Episode end:
        terminated after the last fact turn, or early on an ``<answer>`` (the bank is scored as
        it is). Baseline modes build the bank without the policy and end after one turn:
        ``heuristic`` (Mem0-style: every fact stored, replacing the one on the same subject),
        ``retrieval`` (every raw turn indexed), ``none`` (empty bank).
    Arguments:
        source ("synthetic" | "locomo"). data_dir (str): the data folder holding ``locomo/``
        (default ``$MEMRL_DATA``, else ``~/.cache/memrl/data``; see ``memrl data download``).
        path (str): a conversation file of your own in LoCoMo's layout (source "locomo"; not
        split: every split reads the whole file). extractor ("rules" | "llm" | "module:function"
        | callable): finds the facts of conversations without ``observation`` (default "rules");
        extractor_model (str): the "llm" extractor's model (default: the embedded one).
        sessions (int | None | "auto"): sessions per generated conversation / per LoCoMo window
        ("auto", the default: 3, and whole conversations for a file of your own; None: whole
        conversations, as the answer agent reads them).
        categories (list[int]): questions scored (default 1-5 synthetic, 1-4 LoCoMo, all of a
        file of your own; a category outside 1-5 is scored by plain F1).
        metric ("f1" | "em" | "bleu1"). top_k (int): related memories shown (default 5).
        answerer ("extractive" | "llm" | "module:function" | callable), answerer_model (str).
        memory_mode: "agent", "heuristic", "retrieval" or "none".
    Version history:
        v0: first version.
    """

    supported_modes = ("agent", "none", "retrieval", "heuristic")
    memory_tools = ("ADD", "UPDATE", "DELETE", "NOOP")
    size_key = "n_facts"
    answer_top_k = 60  # memories the answer agent gets per question, as in the paper

    def __init__(self, *, source: str = "synthetic", data_dir: str | None = None, path: str | None = None,
                 sessions: int | str | None = "auto", categories: list[int] | None = None, metric: str = "f1",
                 top_k: int = 5, answerer: str | Answerer = "extractive", answerer_model: str | None = None,
                 extractor: str | Any = "rules", extractor_model: str | None = None, **kwargs: Any):
        self.categories = check_settings(source, metric, categories, path)
        if source == "synthetic" and sessions == "auto":
            sessions = DEFAULT_SESSIONS
        whole = sessions in ("auto", None) and source == "locomo"
        if not (whole or (isinstance(sessions, int) and sessions >= 1)) or top_k < 1:
            raise UserError(f"sessions ({sessions!r}) and top_k ({top_k}) must be at least 1 "
                            "(sessions may be null or \"auto\" with source 'locomo': whole conversations)")
        self.source, self.data_dir, self.path, self.sessions = source, data_dir, path, sessions
        self.metric, self.top_k = metric, top_k
        self.answerer = make_answerer(answerer, answerer_model)
        self.extractor = make_extractor(extractor, extractor_model)
        self._pool: list[dict[str, Any]] | None = None
        super().__init__(**kwargs)

    # -- tasks -------------------------------------------------------------------------------
    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        tasks = memory_r1_conversations(self.source, split, n, seed, self.sessions, self.data_dir, self.path, self.extractor)
        return [{**t, "n_facts": len(conversation_facts(t))} for t in tasks if any(asked(q, self.categories) for q in t["qa"])]

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        if self.source == "locomo":
            self._pool = self._pool or self.make_tasks("train", 1000)
            return dict(rng.choice(self._pool))
        task = make_conversation(rng, self.sessions)
        return {**task, "id": f"memoryr1-seed-{rng.getrandbits(32):08x}", "n_facts": len(conversation_facts(task))}

    # -- episode -----------------------------------------------------------------------------
    def begin(self, task: dict[str, Any]) -> None:
        self._start(task)
        if not self.steps:
            self._bank_turn("This conversation states no facts.")
            return
        self.max_turns = len(self.steps)
        self._show_step()

    def begin_baseline(self, task: dict[str, Any]) -> None:
        # The baseline builds the bank from the whole conversation without the policy (retrieval
        # indexes every raw turn, heuristic stores its facts, none keeps nothing); one turn scores it.
        self._start(task)
        for date, turn in [(s["date"], t) for s in task["sessions"] for t in s["turns"]]:
            self.observe(f"{turn['speaker']} ({session_day(date)}): {turn['text']}", facts=turn["facts"])
        self.position = len(self.steps)  # no fact turn is shown
        self._bank_turn(f"The {self.mode.name} baseline built the memory bank ({len(self.memory)} entries).")

    def _start(self, task: dict[str, Any]) -> None:
        self.questions = [q for q in task["qa"] if asked(q, self.categories)]
        if not self.questions:
            raise UserError(f"task {task.get('id')!r} has no questions in categories {list(self.categories or [])}")
        self.steps = [(s["date"], t) for s in task["sessions"] for t in s["turns"] if t["facts"]]
        self.position = 0

    def _bank_turn(self, built: str) -> None:
        """One turn with nothing to manage: a reply scores the bank as it is."""
        self.max_turns = 1
        self.context.append("system", MANAGER_INSTRUCTIONS, pinned=True)
        self.context.append("user", f"{built} Reply OK to score the memory bank.", pinned=True)

    def fact_key(self, sentence: str) -> str:
        return memory_key(sentence)

    def _show_step(self) -> None:
        date, turn = self.steps[self.position]
        facts = "\n".join(f"{i}. {f}" for i, f in enumerate(turn["facts"], 1))
        seen: dict[str, str] = {}
        for fact in turn["facts"]:
            for entry, _ in self._lookup(fact, self.top_k):
                seen.setdefault(entry.id, entry.content)
        self.shown = dict(list(seen.items())[: 2 * self.top_k])
        related = "\n".join(f"[{i}] {c}" for i, c in self.shown.items()) or "(none)"
        self.start_stage(("system", self.system_prompt(MANAGER_INSTRUCTIONS)),
                         ("user", f"Dialogue turn ({session_day(date)}) {turn['speaker']}: {turn['text']}\n\n"
                                  f"New facts:\n{facts}\n\nRelated memories:\n{related}\n\n"
                                  f"Call one tool per fact ({len(turn['facts'])} in all)."))

    def expert_reply(self) -> str:
        """What a careful manager writes now, from what it can see: ADD a new subject, UPDATE the
        shown memory on the same subject when it changes, DELETE it when it is given up (NOOP when
        there is nothing to delete). It is the Mem0 rule: its bank is :func:`heuristic_bank`."""
        if self.position >= len(self.steps):
            return "OK"
        calls = []
        for fact in self.steps[self.position][1]["facts"]:
            same = next((i for i, c in self.shown.items() if memory_key(c) == memory_key(fact)), None)
            if is_drop(fact):
                calls.append(ToolCall("DELETE", {"memory_id": same}) if same else ToolCall("NOOP", {}))
            else:
                calls.append(ToolCall("UPDATE", {"memory_id": same, "content": fact}) if same
                             else ToolCall("ADD", {"content": fact}))
        return "".join(render_tool_call(c) for c in calls)

    def _lookup(self, query: str, top_k: int) -> tuple:
        """The store's top-k hits, not counted as a retrieve: memory/ops/* counts the policy's operations."""
        if not len(self.memory):
            return ()
        hits = self.memory.retrieve(query, top_k).hits
        self.memory.ops["retrieve"] -= 1
        if not self.memory.ops["retrieve"]:
            del self.memory.ops["retrieve"]  # no "retrieve=0" column in logs and eval tables
        return hits

    def after_turn(self, action: Action) -> bool:
        self.position += 1
        if self.position < len(self.steps):
            self._show_step()
            return False
        return True  # the last fact turn: conclude scores the bank

    def conclude(self) -> float:
        return self._score_bank()

    def finish(self, answer: str) -> float:
        self.outcome["ended_early"] = True
        return self._score_bank()

    def _score_bank(self) -> float:
        rows = []
        for q in self.questions:
            pred = self.answerer(q["question"], [e.content for e, _ in self._lookup(q["question"], self.answer_top_k)])
            scores = score_answer(pred, q["answer"], q["category"])
            rows.append({**question_row(q["category"], scores), "answer": pred})
        score = sum(r[self.metric] for r in rows) / len(rows)
        table = category_table(rows)
        self.outcome.update({m: table["all"][m] for m in METRICS}, score=score, success=score >= 0.5, n_questions=len(rows),
                            bank=[e.content for e in self.memory.entries()], per_question=rows,
                            **{f"{self.metric}/{name}": v[self.metric] for name, v in table.items() if name != "all"})
        return score

    # -- tools -------------------------------------------------------------------------------
    @tool
    def ADD(self, content: str) -> str:
        """Add a new fact to the memory bank.

        Args:
            content: The fact to store, as a full sentence.
        """
        return self.memory.add(content).message

    @tool
    def UPDATE(self, memory_id: str, content: str) -> str:
        """Rewrite a memory whose information changed (merge the new fact with what still holds).

        Args:
            memory_id: The id of the memory to rewrite, e.g. "m3".
            content: The new text of the memory.
        """
        return self.memory.update(memory_id, content).message

    @tool
    def DELETE(self, memory_id: str) -> str:
        """Remove a memory that is no longer true.

        Args:
            memory_id: The id of the memory to remove, e.g. "m3".
        """
        return self.memory.delete(memory_id).message

    @tool
    def NOOP(self) -> str:
        """Leave the memory bank unchanged for this fact."""
        return self.memory.noop().message
