"""AgeMem: one agent manages long-term memory and its own context through six tools.

AgeMem (arXiv 2601.01885) trains three-stage episodes: facts arrive and should be stored; the
context is reset (long-term memory persists) and distractors arrive under a context budget; the
question arrives and is answered. The reward adds task, context and memory terms with penalties;
training is step-wise GRPO (the terminal advantage on every step of every stage).
"""

from __future__ import annotations

import random
import re
from typing import Any

from memrl.actions import Action, ToolCall
from memrl.actions.parser import render_tool_call
from memrl.data.hotpot_stages import hotpot_tasks, load_items, to_task
from memrl.data.sources import source_name
from memrl.data.worlds import Knobs, canonical, make_world
from memrl.env.base import MemoryEnv
from memrl.env.splits import generate_split
from memrl.env.tools import tool
from memrl.errors import UserError
from memrl.scoring.text import exact_match, normalize, token_f1

INSTRUCTIONS = (
    "You are an agent with a long-term memory and a limited context. Your context is cleared "
    "between stages; your memory is kept. Think inside <think></think>, then call tools or give "
    "the final answer inside <answer></answer>."
)
STAGE_HINTS = {
    1: "Store the facts you may need later with Add_memory.",
    2: "Your context holds at most {budget} words. Drop or summarise notes you do not need "
       "(Filter_context, Summary_context) and record corrections (Add_memory, or Update_memory "
       "with an id you can see).",
    3: "Answer the question. Use Retrieve_memory to look up what you stored.",
}
DEFAULT_WEIGHTS = {"task": 1 / 3, "context": 1 / 3, "memory": 1 / 3}
_SPAN = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def words(text: str) -> int:
    """Context size in words: the env does not know the policy's tokenizer (about 1.3 tokens a word)."""
    return len(text.split())


def generate_tasks(split: str = "train", n: int = 100, seed: int = 0, knobs: Knobs = Knobs()) -> list[dict[str, Any]]:
    """``n`` seeded AgeMem tasks of one split (splits never share a task)."""
    return generate_split(
        lambda rng: make_world(rng, knobs),
        lambda t: [t["facts"], t["notes"], t["question"]],
        split=split, n=n, seed=seed, prefix=f"agemem-f{knobs.facts}h{knobs.hops}d{knobs.distractors}u{knobs.updates}",
    )


class AgeMemEnv(MemoryEnv):
    """Three-stage memory episodes with AgeMem's six tools and its composite reward.

    Description:
        Stage 1 shows facts; the agent stores what it may need (``Add_memory``). The context is
        then reset (a rewrite; long-term memory persists) and stage 2 shows notes, one message
        each: distractors and corrections that supersede stored facts, more words than the
        context budget; the agent should record corrections (``Update_memory``) and drop or
        summarise notes (``Filter_context``, ``Summary_context``). Stage 3 (a rewrite) adds the
        question to what is left of the context; the agent may ``Retrieve_memory``, then answers.
        Stages 1 and 2 give ``turns_per_stage`` turns each (a turn without tool calls ends the
        stage early); stage 3 runs until an answer or the turn limit.
    Memory tools:
        Long-term: ``Add_memory(content, metadata)``, ``Update_memory(memory_id, content)``,
        ``Delete_memory(memory_id)``, ``Retrieve_memory(query, top_k)``. Context:
        ``Summary_context(span, summary)``, ``Filter_context(criteria)``. Messages carry ids.
    Observation:
        Chat messages: system (instructions + tool schemas), the stage's user messages (with
        ``[id]`` prefixes), assistant turns and tool results.
    Rewards:
        ``w_task * R_task + w_context * R_context + w_memory * R_memory + penalties`` at the end
        (weights 1/3 each by default). R_task: F1 (or EM) of the answer. R_context: half for
        keeping stage 2 within the budget, a quarter for the share of notes removed, a quarter
        for keeping the question's entities available (context or memory). R_memory: half for
        supporting facts (latest versions) found in memory at question time, a quarter for no
        superseded fact left, a quarter for the share of retrieved entries that support the
        answer (0 without a retrieval). Penalties: -1 past the turn limit, -0.5 when the
        context is over budget when the question arrives (the oldest notes are then cut); both,
        and R_context = 0, for an answer before the question (quitting must not pay). The
        parts are in ``outcome["components"]`` for the ``agemem_*`` reward plugins.
    Episode end:
        terminated on an answer; one before the question (stage 3) quits: R_task = R_context = 0
        and both penalties, so quitting never pays more than running out of turns. Truncated
        after ``max_turns`` turns.
    Arguments:
        facts, hops, distractors, updates (int): task difficulty (see ``memrl.data.worlds.Knobs``).
        context_budget (int): words the stage-2 context may hold (default 40).
        turns_per_stage (int): turns in stages 1 and 2 (default 1). answer_turns (int): turns in
        stage 3 (default 2; sets ``max_turns``). metric ("f1" | "em").
        weights (dict): weights of task / context / memory. memory (str): store backend.
        source ("synthetic" | "hotpotqa"): task source ("generated", the old name, still works);
        HotpotQA's supporting sentences become facts. data_dir (str): the data folder holding
        ``hotpotqa/`` (default ``$MEMRL_DATA``, else ``~/.cache/memrl/data``, else the Hub);
        path (str): a HotpotQA distractor JSON/JSONL file of your own.
        memory_mode (str): "agent" or a baseline ("none", "full_context", "retrieval", "heuristic");
        baselines skip the policy's turns of stages 1-2 and answer in stage 3.
    Version history:
        v0: first version.
    """

    supported_modes = ("agent", "none", "full_context", "retrieval", "heuristic")
    size_key = "n_items"
    show_message_ids = True
    turn_penalty = -1.0  # AgeMem's, applied by _score
    overflow_penalty = -0.5

    def __init__(self, *, facts: int = 4, hops: int = 1, distractors: int = 6, updates: int = 1,
                 context_budget: int = 40, turns_per_stage: int = 1, answer_turns: int = 2, metric: str = "f1",
                 weights: dict[str, float] | None = None, source: str = "synthetic", data_dir: str | None = None,
                 path: str | None = None, **kwargs: Any):
        if metric not in ("em", "f1"):
            raise ValueError(f"metric {metric!r} must be 'em' or 'f1'")
        if turns_per_stage < 1:
            raise ValueError(f"turns_per_stage ({turns_per_stage}) must be at least 1")
        unknown = set(weights or {}) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"weights has unknown keys {sorted(unknown)}; use task, context, memory")
        if "data_path" in kwargs:
            raise UserError("AgeMem's data_path is now path (a HotpotQA file) or data_dir (a folder holding hotpotqa/)")
        self.source = source_name(source, ("synthetic", "hotpotqa"))
        self.knobs = Knobs(facts, hops, distractors, updates)
        self.data_dir, self.path = data_dir, path
        self.context_budget, self.turns_per_stage, self.metric = context_budget, turns_per_stage, metric
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}
        kwargs.setdefault("max_turns", 2 * turns_per_stage + answer_turns)
        super().__init__(**kwargs)

    # -- tasks -----------------------------------------------------------------------------------
    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        if self.source == "hotpotqa":  # a fixed file: the seed does not change which items
            return [self._sized(t) for t in hotpot_tasks(split, n, self.data_dir, self.path, self.knobs.distractors)]
        return [self._sized(t) for t in generate_tasks(split, n, seed, self.knobs)]

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        if self.source == "hotpotqa":
            return self._sized(to_task(rng.choice(load_items(self.data_dir, self.path)), self.knobs.distractors))
        task = self._sized(make_world(rng, self.knobs))
        task["id"] = f"agemem-seed-{rng.getrandbits(32):08x}"
        return task

    @staticmethod
    def _sized(task: dict[str, Any]) -> dict[str, Any]:
        return {**task, "n_items": len(task["facts"]) + len(task["notes"])}

    # -- stages ----------------------------------------------------------------------------------
    def begin(self, task: dict[str, Any]) -> None:
        self._start(task)
        self.start_stage(("system", self.system_prompt(INSTRUCTIONS)),
                         ("user", _facts_block(task) + "\n" + STAGE_HINTS[1]))

    def begin_baseline(self, task: dict[str, Any]) -> None:
        # A baseline has no tools to act on stages 1-2: it is shown what is left at question time
        # (with full context, the facts too; the budget cut is a context cut, which it never makes).
        self._start(task)
        self.stage = 3
        self.start_stage(("system", self.system_prompt(INSTRUCTIONS)))
        if self.mode.keeps_context:
            self.context.append("user", _facts_block(task))
        for note in task["notes"]:
            self.context.append("user", note)
        self._enforce_budget()
        self.context.append("user", self._question_text(), pinned=True)

    def _start(self, task: dict[str, Any]) -> None:
        self.stage, self.stage_turns, self.overflowed = 1, 0, False
        self.retrieved: list[str] = []
        self.removed_notes = 0
        for text in task["facts"] + task["notes"]:
            self.observe(text)

    def after_turn(self, action: Action) -> bool:
        self.stage_turns += 1
        if self.stage < 3 and (not action.tool_calls or self.stage_turns >= self.turns_per_stage):
            self._next_stage()
        return False

    def _next_stage(self) -> None:
        # start_stage below clears the context: every stage change is a new training segment.
        self.stage, self.stage_turns = self.stage + 1, 0
        system = ("system", self.system_prompt(INSTRUCTIONS))
        if self.stage == 2:
            self.start_stage(system, ("user", STAGE_HINTS[2].format(budget=self.context_budget)))
            for note in self.task["notes"]:
                self.context.append("user", note)
            self.notes_shown = sum(1 for m in self.context.messages if not m.pinned)
        else:
            self.removed_notes = self.notes_shown - len(self._notes())
            self._enforce_budget()
            kept = [m.content for m in self._notes()]
            self.start_stage(system)
            for content in kept:
                self.context.append("user", content)
            self.context.append("user", self._question_text(), pinned=True)

    def _question_text(self) -> str:
        question = self.task["question"]
        hint = self.memory_hint(f"\n{STAGE_HINTS[3]}")
        return f"{self.recall(question)}Question: {question}{hint}"

    def _enforce_budget(self) -> None:
        """Over budget when the question arrives: penalised, and the oldest messages are cut
        (never with full context: nothing shown is cut)."""
        while not self.mode.keeps_context and self._context_words() > self.context_budget:
            self.overflowed = True
            oldest = next(iter(self._notes()), None)
            if oldest is None:
                break
            self.context.remove([oldest.id])

    def _context_words(self) -> int:
        return sum(words(m.content) for m in self._notes())

    def _notes(self) -> list:
        """The stage-2 notes still in context (a summary counts as one): what the budget covers."""
        return [m for m in self.context.messages if not m.pinned and m.role == "user"]

    # -- reward ----------------------------------------------------------------------------------
    def truncation_reward(self, reason: str) -> float:
        """The turn limit, or a token limit the rollout engine hit: scored unanswered, with the -1 penalty."""
        return self._score(None, truncated=True)

    def finish(self, answer: str) -> float:
        # An answer before the question ends the episode as a wrong answer (R_task = 0), but an
        # answer; it also quits the task, which _score makes pay no more than playing on idle.
        if self.stage < 3:
            return self._score(None, answered=True, quit=True)
        return self._score(answer, answered=True)

    def _score(self, answer: str | None, truncated: bool = False, answered: bool = False, quit: bool = False) -> float:
        """The composite reward; ``outcome["answered"]`` says whether the episode ended with an
        answer (an unanswered one scores 0 and is counted as such by ``memrl eval``)."""
        gold = self.task["answer"]
        r_task = 0.0 if answer is None else (token_f1(answer, gold) if self.metric == "f1" else exact_match(answer, gold))
        # Quitting before the question forfeits what stages 2-3 measure: R_context is 0 (the budget,
        # the notes removed and the question's entities are judged when the question arrives, which
        # never came) and both penalties apply (the question goes unanswered; the skipped notes were
        # never brought within budget). With stage 1's context credit an empty answer at once
        # scored +0.21 on average, against -1.43 for playing on and doing nothing, so quitting at
        # once paid (tests/envs/test_reward_hacking.py); now it scores -1.5.
        components = {"task": r_task, "context": 0.0 if quit else self._r_context(), "memory": self._r_memory()}
        penalty = (self.overflow_penalty if self.overflowed or quit else 0.0) + (self.turn_penalty if truncated or quit else 0.0)
        total = sum(self.weights[k] * v for k, v in components.items()) + penalty
        self.outcome.update(
            answer=answer, gold=gold, score=r_task, answered=answered,
            success=answer is not None and exact_match(answer, gold) == 1.0,
            components={**components, "penalty": penalty}, overflow=self.overflowed, stage=self.stage, reward=total,
        )
        return total

    def _r_context(self) -> float:
        notes = max(len(self.task["notes"]), 1)
        within = 0.0 if self.overflowed else 1.0
        reduction = min(self.removed_notes, notes) / notes
        available = " ".join(m.content for m in self.context.messages) + " " + " ".join(e.content for e in self.memory.entries())
        entities = self.task["entities"]
        kept = sum(normalize(e) in normalize(available) for e in entities) / max(len(entities), 1)
        return 0.5 * within + 0.25 * reduction + 0.25 * kept

    def _r_memory(self) -> float:
        stored = [normalize(e.content) for e in self.memory.entries()]
        if not self.mode.is_agent:
            stored = []  # baselines' rule-based writes earn no memory reward: there is no policy to credit
        holds = lambda fact: any(_covers(s, normalize(fact)) for s in stored)  # noqa: E731
        support = sum(holds(f) for f in self.task["supporting"]) / max(len(self.task["supporting"]), 1)
        no_stale = 0.0 if not stored else float(not any(holds(f) for f in self.task["stale"]))
        relevant = [r for r in self.retrieved if any(_covers(normalize(r), normalize(f)) for f in self.task["supporting"])]
        relevance = len(relevant) / len(self.retrieved) if self.retrieved else 0.0
        return 0.5 * support + 0.25 * no_stale + 0.25 * relevance

    def heuristic_fact(self, sentence: str) -> str:
        # Mem0's rule on this world: an update is stored as the fact it makes true, replacing
        # the entry on the same subject and attribute.
        parsed = canonical(sentence)
        return parsed[1] if parsed else sentence

    def fact_key(self, sentence: str) -> str:
        parsed = canonical(sentence)
        return parsed[0] if parsed else super().fact_key(sentence)

    # -- a scripted expert (demonstrations for the SFT warm start) ------------------------------
    def expert_reply(self) -> str:
        """What a good agent writes now, from what it can see: store every fact; record the
        correction and summarise the notes down to it; retrieve, then answer. Deterministic in
        the task. With one turn per stage the stored ids are out of sight in stage 2, so the
        correction is added beside the stale fact (R_memory's no-stale quarter is then lost)."""
        call = lambda name, **args: render_tool_call(ToolCall(name, args))  # noqa: E731
        if self.stage == 1:
            calls = [call("Add_memory", content=f) for f in self.task["facts"]]
            return "<think>I will need these facts later, so I store each one.</think>\n" + "\n".join(calls)
        if self.stage == 2:
            corrections = [p for p in (canonical(n) for n in self.task["notes"]) if p is not None]
            calls = []
            shown = " ".join(m.content for m in self.context.messages)
            for key, fact in corrections:
                # Only an id the agent can see now: stage 1's "stored as m3" replies were cleared
                # with its context, so without a retrieval in this stage the correction is added.
                entry = next((e for e in self.memory.entries() if self.fact_key(e.content) == key and f"[{e.id}]" in shown), None)
                calls.append(call("Update_memory", memory_id=entry.id, content=fact) if entry else call("Add_memory", content=fact))
            summary = " ".join(fact for _, fact in corrections) or "Nothing important."
            calls.append(call("Summary_context", span="all", summary=summary))
            return "<think>Some facts changed: I update them and summarise the notes.</think>\n" + "\n".join(calls)
        if not self.retrieved:
            return "<think>I look up what I stored.</think>\n" + call("Retrieve_memory", query=self.task["question"], top_k=3)
        return f"<think>My memory has the answer.</think>\n<answer>{self.task['answer']}</answer>"

    # -- tools -----------------------------------------------------------------------------------
    @tool
    def Add_memory(self, content: str, metadata: str = "") -> str:
        """Store a new entry in long-term memory.

        Args:
            content: The fact to store, as a full sentence.
            metadata: An optional tag, such as a topic.
        """
        return self.memory.add(content, {"tag": metadata} if metadata else None).message

    @tool
    def Update_memory(self, memory_id: str, content: str) -> str:
        """Replace the content of a memory entry, e.g. when a fact changed.

        Args:
            memory_id: The id of the entry, such as m1.
            content: The new content.
        """
        return self.memory.update(memory_id, content).message

    @tool
    def Delete_memory(self, memory_id: str) -> str:
        """Delete a memory entry that is wrong or no longer needed.

        Args:
            memory_id: The id of the entry, such as m1.
        """
        return self.memory.delete(memory_id).message

    @tool
    def Retrieve_memory(self, query: str, top_k: int = 3) -> str:
        """Search long-term memory; returns the best matching entries with their ids.

        Args:
            query: What to look for.
            top_k: How many entries to return.
        """
        result = self.memory.retrieve(query, top_k)
        self.retrieved += [entry.content for entry, _ in result.hits]
        return result.message

    @tool
    def Summary_context(self, span: str, summary: str = "") -> str:
        """Replace a span of context messages by a short summary.

        Args:
            span: Message ids "first-last", such as "3-7", or "all".
            summary: The summary text; if empty, the first sentence of each message is kept.
        """
        ids = [m.id for m in self.context.messages if not m.pinned]
        match = _SPAN.match(span or "")
        if span.strip().lower() == "all" and ids:
            first, last = ids[0], ids[-1]
        elif match:
            first, last = int(match.group(1)), int(match.group(2))
        else:
            return f"summary failed: span {span!r} must be 'first-last' message ids, such as '3-7', or 'all'"
        if not summary.strip():
            chosen = [m for m in self.context.messages if not m.pinned and first <= m.id <= last]
            summary = " ".join(re.split(r"(?<=[.!?])\s", m.content.strip())[0] for m in chosen)
        return self.context.summary(first, last, summary).message

    @tool
    def Filter_context(self, criteria: str) -> str:
        """Remove the context messages that contain every keyword of the criteria.

        Args:
            criteria: Keywords, such as "weather report".
        """
        return self.context.filter(criteria).message


def _facts_block(task: dict[str, Any]) -> str:
    return "Facts:\n" + "\n".join(f"- {f}" for f in task["facts"])


def _covers(stored: str, fact: str) -> bool:
    """A stored entry holds a fact when it contains all of the fact's words (normalized)."""
    have = set(stored.split())
    return all(w in have for w in fact.split())
