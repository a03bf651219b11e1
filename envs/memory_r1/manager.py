"""Memory-R1 (arXiv 2508.19828): a Memory Manager and an Answer Agent over a memory bank.

- ``memrl/MemoryR1-Manager-v0``: the policy sees, turn by turn, the facts extracted from a dialogue
  turn and the related memories, and emits ADD / UPDATE / DELETE / NOOP per fact. At the end a
  frozen answer agent answers the conversation's questions from the bank; its mean score is the
  reward, so the manager is rewarded only for banks that answer well.
- ``memrl/MemoryR1-Answer-v0``: the policy sees up to 60 retrieved memories and a question, lists
  the relevant memory ids, then answers; LoCoMo's per-category rules score it.

Conversations come from the seeded generator (:mod:`memrl.envs.dialogues`, the CPU default) or
from LoCoMo (:mod:`memrl.envs.locomo`, ``source="locomo"``, the paper's 152/81/1,307 split).
"""

from __future__ import annotations

import importlib
import random
import re
from typing import Any, Callable

from memrl.actions import Action, ToolCall, render_tool_call
from memrl.env.base import MemoryEnv
from memrl.env.splits import check_split, generate_split
from memrl.env.tools import tool
from memrl.envs.dialogues import fact_subject, is_drop, make_conversation
from memrl.envs.locomo import (ANSWERABLE, CATEGORIES, category_table, load_locomo, paper_split, score_answer,
                               session_day, session_windows)
from memrl.errors import UserError
from memrl.memory import make_store
from memrl.memory.inprocess import STOPWORDS

Answerer = Callable[[str, list[str]], str]
NOT_MENTIONED = "Not mentioned in the conversation."
METRICS = ("f1", "em", "bleu1")
SOURCES = ("synthetic", "locomo")

_WORD = re.compile(r"[^\W_]+")
_DATE = re.compile(r"\b\d{1,2} [A-Z][a-z]+,? \d{4}\b")
_NOTE = re.compile(r"\s*\(said on [^)]*\)")
_QUESTION_WORDS = frozenset("what which who whom whose where when why how does do did has have had now would could "
                            "was were is are been".split())
_RELEVANT = re.compile(r"Relevant\s*:\s*\[?([^\]\n<]*)", re.I)


# -- the frozen answer agents --------------------------------------------------------------------
def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and w not in _QUESTION_WORDS]


def _same_word(a: str, b: str) -> bool:
    # A crude stem: "pets"/"pet" differ by a plural s; "lives"/"lived", "works"/"working" share
    # their first four letters.
    return a.rstrip("s") == b.rstrip("s") or (len(a) >= 4 and len(b) >= 4 and a[:4] == b[:4])


def extractive_answerer(question: str, memories: list[str]) -> str:
    """The default frozen answer agent: cheap, deterministic, and only as good as the bank.

    It takes the memory sharing the most content words with the question (ties: the earlier one,
    i.e. the better-ranked), says the information is not mentioned when none shares at least two
    (one for a one-word question), returns the date for a "When" question, and otherwise the
    memory's words that are not in the question ("Alice has a pet cat" -> "cat"). A stale or
    duplicate memory therefore costs points, and a deleted one makes "not mentioned" right.
    """
    asked = _content_words(question)
    best, best_overlap = None, 0
    for memory in memories:
        words = set(_content_words(memory))
        overlap = sum(any(_same_word(q, w) for w in words) for q in asked)
        if overlap > best_overlap:
            best, best_overlap = memory, overlap
    if best is None or best_overlap < min(2, len(asked)):
        return NOT_MENTIONED
    if question.strip().lower().startswith("when") and (date := _DATE.search(best)):
        return date.group(0)
    body = _NOTE.sub("", best)
    kept = [w for w in _WORD.findall(body) if w.lower() not in STOPWORDS and w.lower() not in _QUESTION_WORDS
            and not any(_same_word(w.lower(), q) for q in asked)]
    return " ".join(kept) or body


class LLMAnswerer:
    """A frozen LLM answer agent (greedy decoding): ``LLMAnswerer(model, tokenizer)(question, memories)``."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 32):
        self.model, self.tokenizer, self.max_new_tokens = model, tokenizer, max_new_tokens

    def __call__(self, question: str, memories: list[str]) -> str:
        import torch

        bank = "\n".join(f"- {m}" for m in memories) or "(empty)"
        messages = [{"role": "user", "content": f"Memories:\n{bank}\n\nQuestion: {question}\nAnswer in a few words. "
                     f"If the memories do not say, answer '{NOT_MENTIONED}'"}]
        ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = ids if isinstance(ids, torch.Tensor) else ids["input_ids"]
        with torch.no_grad():
            out = self.model.generate(ids.to(self.model.device), max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        return self.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


_LLM_CACHE: dict[str | None, LLMAnswerer] = {}


def make_answerer(spec: str | Answerer, model: str | None = None) -> Answerer:
    """``"extractive"``, ``"llm"`` (``model``: a path or hub id; None = the embedded model, loaded
    once per process), a ``"module:function"`` path, or a callable ``(question, memories) -> str``."""
    if callable(spec):
        return spec
    if spec == "extractive":
        return extractive_answerer
    if spec == "llm":
        if model not in _LLM_CACHE:
            from memrl.models import load_model_and_tokenizer

            _LLM_CACHE[model] = LLMAnswerer(*load_model_and_tokenizer(model))
        return _LLM_CACHE[model]
    if isinstance(spec, str) and ":" in spec:
        module, _, attr = spec.partition(":")
        return getattr(importlib.import_module(module), attr)
    raise UserError(f"answerer {spec!r} must be 'extractive', 'llm', a 'module:function' path or a callable")


# -- conversations and banks ---------------------------------------------------------------------
def memory_key(fact: str) -> str:
    """The Mem0-style heuristic's replace-on-conflict key: the generated fact's subject
    ("alice/pet"), else the first three words."""
    return fact_subject(fact) or " ".join(_WORD.findall(fact.lower())[:3])


def heuristic_bank(conversation: dict[str, Any]) -> list[str]:
    """The bank the Mem0-style rule builds: every fact stored, replacing the one with its key."""
    bank: dict[str, str] = {}
    for fact in conversation_facts(conversation):
        bank.pop(memory_key(fact), None)  # re-insert: the bank stays in order of last write
        bank[memory_key(fact)] = fact
    return list(bank.values())


def conversation_facts(conversation: dict[str, Any]) -> list[str]:
    """Every extracted fact of a conversation, in dialogue order."""
    return [f for s in conversation["sessions"] for t in s["turns"] for f in t["facts"]]


def manager_banks(rollouts: str) -> dict[str, list[str]]:
    """Task id -> the bank a Memory Manager episode left, from a rollouts JSONL (``memrl rollout``,
    a recipe's ``--save_rollouts``). The first episode of each task counts: picking the best one
    would let the answer agent's evaluation peek at the manager's rewards."""
    from memrl.rollout.jsonl import load_trajectories

    banks: dict[str, list[str]] = {}
    for t in load_trajectories(rollouts):
        if isinstance(t.outcome.get("bank"), list):
            banks.setdefault(t.task_id, [str(m) for m in t.outcome["bank"]])
    if not banks:
        raise UserError(f"{rollouts} holds no Memory Manager episode with a final bank (outcome['bank'])")
    return banks


def _conversations(source: str, split: str, n: int, seed: int, sessions: int | None, data_dir: str | None) -> list[dict]:
    check_split(split)
    if source == "synthetic":
        return generate_split(lambda rng: make_conversation(rng, sessions), lambda c: c["sessions"],
                              split=split, n=n, seed=seed, prefix=f"memoryr1-s{sessions}")
    windows = [w for c in paper_split(load_locomo(data_dir), split) for w in session_windows(c, sessions)]
    return [w for w in windows if w["qa"]][:n]


def question_row(category: int, scores: Any) -> dict[str, Any]:
    """One scored question as ``memrl eval`` pools it by category (``per_question`` rows);
    ``scores`` None is a question left unanswered (0 on every metric)."""
    return {"category": category, "category_name": CATEGORIES.get(category, str(category)),
            **{m: getattr(scores, m) if scores is not None else 0.0 for m in METRICS}}


def _check(source: str, metric: str, categories: Any) -> tuple[int, ...]:
    if source not in SOURCES:
        raise UserError(f"source {source!r} must be one of {', '.join(SOURCES)}")
    if metric not in METRICS:
        raise UserError(f"metric {metric!r} must be one of {', '.join(METRICS)}")
    cats = tuple(categories) if categories is not None else (ANSWERABLE if source == "locomo" else tuple(CATEGORIES))
    if not cats or any(c not in CATEGORIES for c in cats):
        raise UserError(f"categories {categories!r} must be LoCoMo categories among {sorted(CATEGORIES)}")
    return cats


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
        any (the generator's facts, or LoCoMo's ``observation`` facts) and the related memories
        with their ids; the policy calls one tool per fact. Each turn is its own segment
        (rewrite), as the paper's manager decisions are single-step.
    Memory tools:
        ``ADD(content)``, ``UPDATE(memory_id, content)``, ``DELETE(memory_id)``, ``NOOP()``.
    Observation:
        system (instructions + tool schemas) and user (session date, the turn, its facts, the
        top-``top_k`` related memories).
    Reward:
        At the end, a frozen answer agent (``answerer``) answers the conversation's questions
        from the bank (its top-60 BM25 hits per question); the reward is the mean ``metric``
        under LoCoMo's per-category rules. 0 on every other turn. The outcome keeps f1 / em /
        bleu1, ``<metric>/<category>`` means, ``per_question`` rows (pool them across episodes
        with :func:`memrl.envs.locomo.category_table`) and the final ``bank``; success is a
        score of at least 0.5.
    Episode end:
        terminated after the last fact turn, or early on an ``<answer>`` (the bank is scored as
        it is). Baseline modes build the bank without the policy and end after one turn:
        ``heuristic`` (Mem0-style: every fact stored, replacing the one on the same subject),
        ``retrieval`` (every raw turn indexed), ``none`` (empty bank).
    Arguments:
        source ("synthetic" | "locomo"), data_dir (str): LoCoMo's folder, default ``../shared/data``.
        sessions (int | None): sessions per generated conversation / per LoCoMo window (default 3;
        None: whole LoCoMo conversations, as the answer agent reads them).
        categories (list[int]): questions scored (default 1-5 synthetic, 1-4 LoCoMo).
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

    def __init__(self, *, source: str = "synthetic", data_dir: str | None = None, sessions: int | None = 3,
                 categories: list[int] | None = None, metric: str = "f1", top_k: int = 5,
                 answerer: str | Answerer = "extractive", answerer_model: str | None = None, **kwargs: Any):
        self.categories = _check(source, metric, categories)
        if (sessions is None and source == "synthetic") or (sessions is not None and sessions < 1) or top_k < 1:
            raise UserError(f"sessions ({sessions}) and top_k ({top_k}) must be at least 1 "
                            "(sessions may be null with source 'locomo': whole conversations)")
        self.source, self.data_dir, self.sessions, self.metric, self.top_k = source, data_dir, sessions, metric, top_k
        self.answerer = make_answerer(answerer, answerer_model)
        self._pool: list[dict[str, Any]] | None = None
        super().__init__(**kwargs)

    # -- tasks -------------------------------------------------------------------------------
    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        tasks = _conversations(self.source, split, n, seed, self.sessions, self.data_dir)
        return [{**t, "n_facts": len(conversation_facts(t))} for t in tasks
                if any(q["category"] in self.categories for q in t["qa"])]

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        if self.source == "locomo":
            self._pool = self._pool or self.make_tasks("train", 1000)
            return dict(rng.choice(self._pool))
        task = make_conversation(rng, self.sessions)
        return {**task, "id": f"memoryr1-seed-{rng.getrandbits(32):08x}", "n_facts": len(conversation_facts(task))}

    # -- episode -----------------------------------------------------------------------------
    def begin(self, task: dict[str, Any]) -> None:
        self.questions = [q for q in task["qa"] if q["category"] in self.categories]
        if not self.questions:
            raise UserError(f"task {task.get('id')!r} has no questions in categories {list(self.categories)}")
        self.steps = [(s["date"], t) for s in task["sessions"] for t in s["turns"] if t["facts"]]
        self.position, self._final_reward = 0, None
        if self.memory_mode == "agent" and self.steps:
            self.max_turns = len(self.steps)
            self._show_step()
            return
        for date, turn in [(s["date"], t) for s in task["sessions"] for t in s["turns"]]:
            if self.memory_mode == "retrieval":
                self.observe(f"{turn['speaker']} ({session_day(date)}): {turn['text']}")
            else:
                for fact in turn["facts"]:
                    self.observe(fact)
        self.max_turns = 1
        built = (f"The {self.memory_mode} baseline built the memory bank ({len(self.memory)} entries)."
                 if self.memory_mode != "agent" else "This conversation states no facts.")
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
        if self.memory_mode != "agent" or self.position >= len(self.steps):
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
        if self.memory_mode == "agent" and self.position < len(self.steps):
            self._show_step()
            return False
        self._final_reward = self._score_bank()
        return True

    def step(self, text: str) -> tuple[list[dict[str, str]], float, bool, bool, dict]:
        messages, reward, terminated, truncated, info = super().step(text)
        if self._final_reward is not None:  # the bank was scored at the end of the last turn
            reward, self._final_reward = reward + self._final_reward, None
        return messages, reward, terminated, truncated, info

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
        rollouts JSONL of manager episodes, see :func:`manager_banks`). The policy lists the
        relevant ids, then answers.
    Memory tools:
        none (the memories are in the prompt).
    Observation:
        system (instructions) and user (``[id] memory`` lines and the question).
    Reward:
        ``metric`` ("f1" default, "em", "bleu1") of the answer under LoCoMo's rules for the
        question's category (1: partial F1 over comma-split parts; 3: gold text before ``;``;
        5: correct when the answer says it is not mentioned).
    Episode end:
        terminated on an ``<answer>``; truncated after one turn without one.
    Arguments:
        source ("synthetic" | "locomo"), data_dir, categories, metric (as the manager).
        sessions (int): sessions per generated conversation (LoCoMo conversations are whole).
        bank ("heuristic" | "facts" | path to manager rollouts). n_memories (int): memories shown (default 60).
        memory_mode: "agent", or "none" (no memories shown: the question alone).
    Version history:
        v0: first version.
    """

    max_turns = 1
    supported_modes = ("agent", "none")
    memory_tools = ()
    size_key = "memories"

    def __init__(self, *, source: str = "synthetic", data_dir: str | None = None, sessions: int = 3,
                 categories: list[int] | None = None, metric: str = "f1", bank: str = "heuristic",
                 n_memories: int = 60, **kwargs: Any):
        self.categories = _check(source, metric, categories)
        self._stored = None if bank in ("heuristic", "facts") else manager_banks(bank)
        if n_memories < 1:
            raise UserError(f"n_memories ({n_memories}) must be at least 1")
        self.source, self.data_dir, self.sessions, self.metric = source, data_dir, sessions, metric
        self.bank, self.n_memories = bank, n_memories
        super().__init__(**kwargs)

    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        # A LoCoMo question is asked over the whole conversation's bank: no session windows here.
        window = self.sessions if self.source == "synthetic" else None
        for conversation in _conversations(self.source, split, n, seed, window, self.data_dir):
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
        for k, q in enumerate(q for q in conversation["qa"] if q["category"] in self.categories):
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
        # An episode that ends without an answer still counts its question, as 0, in the
        # per-category tables (else they would pool only the questions a policy answered).
        self.outcome["per_question"] = [question_row(task["category"], None)]
        self.context.append("system", ANSWER_INSTRUCTIONS, pinned=True)
        shown = task["memories"] if self.memory_mode == "agent" else []
        bank = "\n".join(f"[{m['id']}] {m['content']}" for m in shown) or "(no memories)"
        self.context.append("user", f"Memories:\n{bank}\n\nQuestion: {task['question']}", pinned=True)

    def expert_reply(self) -> str:
        """What a good answer agent writes, knowing the gold answer: the shown memories that hold
        an answer word as the relevant ones, then the answer (the not-mentioned phrase for an
        adversarial question). It teaches the format, not the reading."""
        category, gold = self.task["category"], str(self.task["answer"])
        answer = NOT_MENTIONED if category == 5 else gold.split(";")[0].strip()
        words = set(_content_words(answer)) if category != 5 else set()
        shown = self.task["memories"] if self.memory_mode == "agent" else []
        relevant = [m["id"] for m in shown if words & set(_content_words(m["content"]))]
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
