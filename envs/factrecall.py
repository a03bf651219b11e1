"""FactRecall: the reference environment. Store facts, lose the context, answer from memory."""

from __future__ import annotations

import random
from typing import Any

from memrl.actions import Action
from memrl.data.words import CITIES_10, JOBS_8, PEOPLE_20, PETS_8, SPORTS
from memrl.env.base import MemoryEnv
from memrl.env.splits import generate_split
from memrl.env.tools import tool
from memrl.scoring.text import exact_match, token_f1

NAMES = PEOPLE_20
ATTRIBUTES = {
    # attribute: (fact template, question template, values)
    "city": ("{name} lives in {value}.", "Where does {name} live?", CITIES_10),
    "job": ("{name} works as a {value}.", "What is {name}'s job?", JOBS_8),
    "pet": ("{name} has a pet {value}.", "What pet does {name} have?", PETS_8),
    "sport": ("{name} plays {value}.", "Which sport does {name} play?", SPORTS),
}

INSTRUCTIONS = (
    "You are an agent with a long-term memory. Your context will be cleared, but your memory "
    "is kept. First think inside <think></think>, then either call tools or give the final "
    "answer inside <answer></answer>."
)


def make_fact_world(rng: random.Random, n_facts: int = 4, per_person: int = 1) -> dict[str, Any]:
    """``n_facts`` facts, ``per_person`` about each person (different attributes), and one question
    about one of them. ``per_person`` 1 is FactRecall's world; FactLookup asks for more."""
    facts, qa = [], []
    attributes = sorted(ATTRIBUTES)
    for name in rng.sample(NAMES, n_facts // per_person):
        # one attribute is drawn with choice, as FactRecall always has, so its tasks stay the same
        for attr in [rng.choice(attributes)] if per_person == 1 else rng.sample(attributes, per_person):
            fact_t, question_t, values = ATTRIBUTES[attr]
            value = rng.choice(values)
            facts.append(fact_t.format(name=name, value=value))
            qa.append((question_t.format(name=name), value))
    question, answer = rng.choice(qa)
    return {"facts": facts, "question": question, "answer": answer}


def generate_tasks(split: str = "train", n: int = 100, seed: int = 0, n_facts: int = 4) -> list[dict[str, Any]]:
    """``n`` seeded FactRecall tasks of one split (splits never share a task)."""
    return generate_split(
        lambda rng: make_fact_world(rng, n_facts),
        lambda t: [t["facts"], t["question"]],
        split=split, n=n, seed=seed, prefix=f"factrecall{n_facts}",
    )


class FactRecallEnv(MemoryEnv):
    """Store facts in long-term memory, then answer a question after the context is cleared.

    Description:
        Stage 1 shows a few facts; the agent should store the ones it may need with
        ``Add_memory``. The context is then cleared (a rewrite: a new segment) and stage 2 asks
        one question about the facts; the agent may ``Retrieve_memory`` and then answers.
    Memory tools:
        ``Add_memory(content)``, ``Retrieve_memory(query, top_k)``.
    Observation:
        Chat messages: system (instructions + tool schemas), user (facts, then the question),
        assistant turns and tool results.
    Rewards:
        Exact match of the answer (SQuAD normalization) by default, token F1 with
        ``metric="f1"``; 0 when the episode ends without an answer.
    Episode end:
        terminated on an answer; truncated after ``max_turns`` turns (default 4).
    Arguments:
        n_facts (int): facts per task (default 4). metric ("em" | "f1"). max_turns (int).
        memory (str): long-term store backend ("inprocess" | "sqlite").
        memory_mode (str): "agent" or a baseline ("none", "full_context", "retrieval", "heuristic").
    Version history:
        v0: first version.
    """

    max_turns = 4
    supported_modes = ("agent", "none", "full_context", "retrieval", "heuristic")
    size_key = "facts"

    def __init__(self, *, n_facts: int = 4, metric: str = "em", **kwargs: Any):
        if metric not in ("em", "f1"):
            raise ValueError(f"metric {metric!r} must be 'em' or 'f1'")
        self.n_facts, self.metric = n_facts, metric
        super().__init__(**kwargs)

    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        return generate_tasks(split, n, seed, self.n_facts)

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        task = make_fact_world(rng, self.n_facts)
        task["id"] = f"factrecall-seed-{rng.getrandbits(32):08x}"
        return task

    def begin(self, task: dict[str, Any]) -> None:
        self.stage = 1
        self.context.append("system", self.system_prompt(INSTRUCTIONS), pinned=True)
        facts = "\n".join(f"- {f}" for f in task["facts"])
        for fact in task["facts"]:
            self.observe(fact)
        hint = self.memory_hint("Store what you may need later with Add_memory.", otherwise="Reply OK when you have read them.")
        self.context.append("user", f"Facts:\n{facts}\n{hint}", pinned=True)

    def after_turn(self, action: Action) -> bool:
        if self.stage == 1:
            # Stage change: the context is cleared but long-term memory persists (a rewrite).
            self.stage = 2
            question = self.task["question"]
            hint = self.memory_hint("\nUse Retrieve_memory if you need it.")
            self.start_stage(("system", self.system_prompt(INSTRUCTIONS)),
                             ("user", f"{self.recall(question)}Question: {question}{hint}"))
        return False

    def finish(self, answer: str) -> float:
        gold = self.task["answer"]
        score = exact_match(answer, gold) if self.metric == "em" else token_f1(answer, gold)
        self.outcome.update(answer=answer, gold=gold, score=score, success=exact_match(answer, gold) == 1.0)
        return score

    @tool
    def Add_memory(self, content: str) -> str:
        """Store a fact in long-term memory.

        Args:
            content: The fact to store, as a full sentence.
        """
        return self.memory.add(content).message

    @tool
    def Retrieve_memory(self, query: str, top_k: int = 3) -> str:
        """Search long-term memory and return the best matching entries.

        Args:
            query: What to look for.
            top_k: How many entries to return.
        """
        return self.memory.retrieve(query, top_k).message
