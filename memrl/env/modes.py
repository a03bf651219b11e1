"""Memory modes: the trained agent and the baselines ``memrl eval`` compares it with, one mechanism.

A baseline runs on the same env and tasks as the trained policy, so an evaluation compares like
with like. What differs between modes is only how the information an episode shows reaches the
model; each :class:`MemoryMode` says that once for every env. An env never branches on the mode's
name: it calls the base's helpers (:meth:`~memrl.env.base.MemoryEnv.observe`, ``recall``,
``start_stage``, ``memory_hint``) and fills two hooks where a baseline needs the env's own
knowledge: ``begin_baseline`` (how an episode starts without memory tools; default ``begin``)
and ``heuristic_fact`` / ``fact_key`` (what the Mem0-style rule stores, and on which subject).

========================  =====  =============  ===================================================
mode                      tools  keeps context  what reaches the model
========================  =====  =============  ===================================================
``agent``                 yes    no             what the policy stores and retrieves with the tools
``none``                  no     no             the current context only
``full_context``          no     yes            everything shown (a cleared stage appends instead)
``retrieval``             no     no             BM25 top-k over every observed text, before the question
``heuristic``             no     no             Mem0-style: each observed fact sentence stored,
                                                replacing the entry on the same subject; top-k recalled
========================  =====  =============  ===================================================
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from memrl.env.base import MemoryEnv

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


class MemoryMode:
    """One ``memory_mode``: what the base does with what an env shows, in that mode."""

    name = ""
    description = ""
    is_agent = False  # the policy manages memory: the memory tools are shown, the env's memory phase is played
    keeps_context = False  # nothing shown is cleared: a new stage appends to the old context

    def begin(self, env: MemoryEnv, task: dict[str, Any]) -> None:
        """Start the episode: a baseline has no memory tools, so the env may skip the turns in
        which an agent builds its memory (``begin_baseline``)."""
        env.begin_baseline(task)

    def observe(self, env: MemoryEnv, text: str, facts: Sequence[str] | None) -> None:
        """The env showed ``text`` (``facts``: the facts it states, where the env knows them)."""

    def recall(self, env: MemoryEnv, query: str) -> str:
        """Text to put before a question about ``query``."""
        return ""


class Agent(MemoryMode):
    name = "agent"
    description = "the policy manages memory with the environment's tools (what training optimises)"
    is_agent = True

    def begin(self, env: MemoryEnv, task: dict[str, Any]) -> None:
        env.begin(task)


class NoMemory(MemoryMode):
    name = "none"
    description = "no memory: the memory tools are hidden; answers come from the current context only"


class FullContext(MemoryMode):
    name = "full_context"
    description = "no memory tools, no context resets: everything shown stays in the prompt (cut at the window)"
    keeps_context = True


class Retrieval(MemoryMode):
    name = "retrieval"
    description = "no learned writes: all past text is indexed (BM25) and its top-k hits are put before the question"

    def observe(self, env: MemoryEnv, text: str, facts: Sequence[str] | None) -> None:
        env.memory.add(text)

    def recall(self, env: MemoryEnv, query: str) -> str:
        if env.memory is None or not len(env.memory):
            return ""
        hits = env.memory.retrieve(query, env.recall_top_k).hits
        lines = "\n".join(f"- {entry.content}" for entry, _ in hits)
        return f"Relevant memory:\n{lines}\n\n" if lines else ""


class Heuristic(Retrieval):
    name = "heuristic"
    description = "Mem0-style rule: every fact sentence is stored, replacing an entry on the same subject; top-k before the question"

    def observe(self, env: MemoryEnv, text: str, facts: Sequence[str] | None) -> None:
        for piece in (text,) if facts is None else facts:
            for sentence in _SENTENCE.split(piece):
                if sentence.strip():
                    self.write(env, env.heuristic_fact(sentence.strip()))

    @staticmethod
    def write(env: MemoryEnv, fact: str) -> None:
        """Store ``fact``, replacing the entry on the same subject (``env.fact_key``); a fact
        already stored word for word is left alone."""
        key = env.fact_key(fact)
        for entry in env.memory.entries():
            if key and env.fact_key(entry.content) == key:
                if entry.content != fact:
                    env.memory.update(entry.id, fact)
                return
        env.memory.add(fact)


MODES: dict[str, MemoryMode] = {mode.name: mode for mode in (Agent(), NoMemory(), FullContext(), Retrieval(), Heuristic())}
MEMORY_MODES: dict[str, str] = {name: mode.description for name, mode in MODES.items()}
