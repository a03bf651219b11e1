"""MemAct (arXiv 2510.12635): the agent prunes its own context and writes what to keep."""

from __future__ import annotations

import random
from typing import Any

from memrl.actions import ReplyFormat, ToolCall, render_tool_call
from memrl.env.tools import tool
from memrl.errors import UserError

from memrl.envs.multiobj import MultiObjectiveQAEnv, questions_block

INSTRUCTIONS = (
    "You answer several questions with a search engine. Messages start with their id, e.g. [7]; a "
    "tool result also names the id of your reply that called it. Your context is limited, so once "
    "you have what you need from earlier searches, call prune_context to delete those tool calls "
    "and results by id and write down what to keep as the memory. When you know every answer, "
    "write FINAL_ANSWER: answer 1; answer 2; ... (one short answer per question, in question "
    "order, separated by ;)."
)
_NO_PRUNE = (
    "You answer several questions with a search engine. When you know every answer, write "
    "FINAL_ANSWER: answer 1; answer 2; ... (one short answer per question, in question order, "
    "separated by ;)."
)


def _coin(seed: int | None) -> float:
    """A number in [0, 1) fixed by the reset seed (which episodes hide the prune tool)."""
    return random.Random(f"memact-hide-prune/{seed}").random() if seed is not None else random.random()


class MemActEnv(MultiObjectiveQAEnv):
    """Answer N questions by searching; prune earlier calls and results, keeping a written memory.

    Description:
        The task lists N questions (multi-objective QA, ``envs/multiobj.py``). The model calls
        ``search`` and, when it chooses, ``prune_context``: the named messages (earlier tool calls
        and their results) are deleted and the memory it wrote is appended. Turns append to the
        context until a prune, which rewrites it, so a training segment ends at each prune (DCPO).
        ``hide_prune_fraction`` hides the prune tool in that fraction of episodes (MemAct: 0.5),
        decided by the reset seed, so the policy also learns to act without it.
    Memory tools:
        ``prune_context(memory, delete_ids)``; ``search(query, top_k)`` (BM25 over the task's documents).
    Observation:
        Chat messages. Every non-assistant message starts with ``[id]``; a tool result names the
        id of the reply that called it (the model's own replies are shown as written, so that the
        chat template stays prefix-preserving and turns append).
    Rewards:
        The sum over objectives of exact match of the i-th ``;``-separated answer after
        ``FINAL_ANSWER:`` (0..N); ``outcome["score"]`` is the fraction (0..1).
    Episode end:
        terminated on ``FINAL_ANSWER:``; truncated after ``max_turns`` (default 2N + 2 for a task of N).
    Arguments:
        n_objectives (int | list[int]): questions per task, 1..16 (default 2; a list mixes sizes).
        source ("synthetic" | "hotpotqa").
        data_dir (str), path (str), corpus_path (str): as in ``memrl/MEM1-v0``.
        hide_prune_fraction (float): share of episodes without the prune tool (default 0.0).
        memory_mode (str): "agent" or "full_context" (no prune tool: the history only grows).
        max_turns (int).
    Version history:
        v0: first version.
    """

    protocol = ReplyFormat(answer="final_answer")
    score_name = "EM (share of the N answers)"
    supported_modes = ("agent", "full_context")
    memory_tools = ("prune_context",)

    def __init__(self, *, hide_prune_fraction: float = 0.0, **kwargs: Any):
        if not 0.0 <= hide_prune_fraction <= 1.0:
            raise UserError(f"hide_prune_fraction ({hide_prune_fraction}) must be in [0, 1] (MemAct used 0.5)")
        self.hide_prune_fraction = hide_prune_fraction
        super().__init__(**kwargs)
        self._all_specs = dict(self.tool_specs)

    def begin(self, task: dict[str, Any]) -> None:
        # Which episodes hide the prune tool is decided by the reset seed, before the prompt is written.
        self.prune_hidden = "prune_context" in self._all_specs and _coin(self.seed) < self.hide_prune_fraction
        self.tool_specs = {n: s for n, s in self._all_specs.items() if not (self.prune_hidden and n == "prune_context")}
        self.begin_task(task)
        self.outcome["prune_hidden"] = self.prune_hidden
        instructions = INSTRUCTIONS if "prune_context" in self.tool_specs else _NO_PRUNE
        self.context.append("system", self.system_prompt(instructions), pinned=True)
        self.context.append("user", f"Questions:\n{questions_block(task['questions'])}", pinned=True)

    def render(self) -> list[dict[str, str]]:
        """The context with ``[id]`` on every non-assistant message; a tool result also names its call.

        Ids are stable and a message never changes, so a turn without a prune still extends what
        the model saw (a prune rewrites it: a new segment).
        """
        out, reply = [], None
        for m in self.context.messages:
            if m.role == "assistant":
                reply = m.id
                out.append({"role": m.role, "content": m.content})
            elif m.role == self.tool_role and reply is not None:
                out.append({"role": m.role, "content": f"[{m.id}] (reply to message {reply}) {m.content}"})
            else:
                out.append({"role": m.role, "content": f"[{m.id}] {m.content}"})
        return out

    def expert_reply(self) -> str:
        """A careful MemAct agent (``expert_reading``): before each new search it prunes every
        earlier call, result and memory note and writes the answers so far as the memory (when the
        prune tool is shown); it answers when every question has been searched."""
        known = self.expert_reading()
        todo = self.expert_todo(known)
        if not todo:
            return "FINAL_ANSWER: " + "; ".join(known[i] for i in range(1, len(self.task["questions"]) + 1))
        reply = ""
        stale = [m.id for m in self.context.messages if not m.pinned]
        if stale and "prune_context" in self.tool_specs:
            memory = "; ".join(f"Q{i}: {known[i]}" for i in sorted(known))
            reply = render_tool_call(ToolCall("prune_context", {"memory": memory, "delete_ids": stale}))
        return reply + render_tool_call(ToolCall("search", {"query": self.task["questions"][todo[0] - 1]}))

    @tool
    def prune_context(self, memory: str, delete_ids: list[int]) -> str:
        """Delete earlier messages (tool calls and results) by id and keep a written memory instead.

        Args:
            memory: What to keep from the deleted messages (facts found, answers so far).
            delete_ids: Ids of the messages to delete, as shown in [id].
        """
        return self.context.prune(delete_ids, memory).message
