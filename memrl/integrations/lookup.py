"""FactLookup: FactRecall's question stage on its own, an append-only episode.

FactRecall clears the context between the facts and the question (a rewrite), which TRL's
append-only tool loop cannot show. Here the environment has already stored the facts (plus the
other people's, as distractors), so an episode is one unbroken conversation: the question,
``Retrieve_memory`` calls and their results appended, then the answer. It is the env that
``bench/trl_side_by_side.py`` trains with both TRL and memrl, on TRL's own ground.
"""

from __future__ import annotations

import random
from typing import Any

from memrl.actions import ToolCall, render_tool_call
from memrl.env.base import MemoryEnv
from memrl.env.registry import register, registry
from memrl.env.splits import generate_split
from memrl.env.tools import tool
from memrl.envs.factrecall import ATTRIBUTES, FactRecallEnv, make_fact_world
from memrl.errors import UserError
from memrl.scoring.text import exact_match, token_f1

ENV_ID = "memrl/FactLookup-v0"
INSTRUCTIONS = (
    "You are an agent with a long-term memory that already holds facts about several people. "
    "First think inside <think></think>, then either call tools or give the final answer inside "
    "<answer></answer>."
)


class FactLookupEnv(MemoryEnv):
    """Answer a question about one of several people from a long-term memory the env filled.

    Description:
        The task's facts are stored in long-term memory before the episode starts; the user
        message asks one question about one person. The agent looks the fact up with
        ``Retrieve_memory`` and answers. Nothing is ever removed from the context (every turn
        appends), so TRL's ``environment_factory`` runs it faithfully
        (``memrl.integrations.trl``).
    Memory tools:
        ``Retrieve_memory(query, top_k)``.
    Observation:
        Chat messages: system (instructions + tool schemas), user (the question), then the
        assistant's turns and tool results.
    Rewards:
        Exact match of the answer (SQuAD normalization) by default, token F1 with
        ``metric="f1"``; 0 when the episode ends without an answer.
    Episode end:
        terminated on an answer; truncated after ``max_turns`` turns (default 3).
    Arguments:
        n_facts (int): facts in memory per task (default 8). per_person (int): facts about each
            person, 1..4 (default 1: FactRecall's own tasks; with more, a lookup by name returns
            several facts and the agent must pick the one asked about). metric ("em" | "f1").
        max_turns (int).
        memory (str): long-term store backend ("inprocess" | "sqlite").
        memory_mode (str): "agent", "none" (no memory: the question alone) or "retrieval"
            (the top-k facts are put before the question, no tool).
    Version history:
        v0: first version.
    """

    max_turns = 3
    supported_modes = ("agent", "none", "retrieval")
    size_key = "facts"

    def __init__(self, *, n_facts: int = 8, per_person: int = 1, metric: str = "em", **kwargs: Any):
        if metric not in ("em", "f1"):
            raise ValueError(f"metric {metric!r} must be 'em' or 'f1'")
        if not 1 <= per_person <= len(ATTRIBUTES) or n_facts < per_person:
            raise UserError(f"per_person ({per_person}) must be 1..{len(ATTRIBUTES)} and at most n_facts ({n_facts})")
        self.n_facts, self.per_person, self.metric = n_facts, per_person, metric
        self._recall = FactRecallEnv(n_facts=n_facts)  # per_person 1: FactRecall's own worlds and splits
        super().__init__(**kwargs)

    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        if self.per_person == 1:
            return self._recall.make_tasks(split, n, seed)
        return generate_split(lambda rng: make_fact_world(rng, self.n_facts, self.per_person),
                              lambda t: [t["facts"], t["question"]], split=split, n=n, seed=seed,
                              prefix=f"factlookup{self.n_facts}x{self.per_person}")

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        if self.per_person == 1:
            return self._recall.sample_task(rng)
        task = make_fact_world(rng, self.n_facts, self.per_person)
        task["id"] = f"factlookup-seed-{rng.getrandbits(32):08x}"
        return task

    def begin(self, task: dict[str, Any]) -> None:
        self.context.append("system", self.system_prompt(INSTRUCTIONS), pinned=True)
        for fact in task["facts"]:
            self.memory.add(fact)  # the env's write, not the agent's: this episode is the lookup
        self._ask(task["question"])

    def begin_baseline(self, task: dict[str, Any]) -> None:
        self.context.append("system", self.system_prompt(INSTRUCTIONS), pinned=True)
        for fact in task["facts"]:
            self.observe(fact)  # the retrieval baseline indexes it; "none" keeps nothing
        self._ask(task["question"])

    def _ask(self, question: str) -> None:
        hint = self.memory_hint("\nUse Retrieve_memory to look it up.")
        self.context.append("user", f"{self.recall(question)}Question: {question}{hint}", pinned=True)

    def finish(self, answer: str) -> float:
        gold = self.task["answer"]
        score = exact_match(answer, gold) if self.metric == "em" else token_f1(answer, gold)
        self.outcome.update(answer=answer, gold=gold, score=score, success=exact_match(answer, gold) == 1.0)
        return score

    def expert_reply(self) -> str:
        """What a good agent writes now (the SFT warm start's demonstrations): look the person up
        by name, then give the answer (the fact retrieved by the name holds it)."""
        person = next(f.split()[0] for f in self.task["facts"] if f.split()[0] in self.task["question"])
        if not any(m.role == self.tool_role for m in self.context.messages):
            call = render_tool_call(ToolCall("Retrieve_memory", {"query": person}))
            return f"<think>I look up what memory holds about {person}.</think>\n{call}"
        return f"<think>Memory has the fact about {person}.</think>\n<answer>{self.task['answer']}</answer>"

    @tool
    def Retrieve_memory(self, query: str, top_k: int = 3) -> str:
        """Search long-term memory and return the best matching entries.

        Args:
            query: What to look for.
            top_k: How many entries to return.
        """
        return self.memory.retrieve(query, top_k).message


if ENV_ID not in registry:  # registered on import of memrl.integrations.lookup (and .trl)
    register(ENV_ID, f"{__name__}:FactLookupEnv",
             description="FactRecall's question stage alone: facts already in memory; retrieve, then answer (append-only).")
