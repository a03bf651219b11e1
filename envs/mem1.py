"""MEM1 (arXiv 2506.15841): a constant-size context, rewritten every turn from the agent's own state."""

from __future__ import annotations

from typing import Any

from memrl.actions import Action, ReplyFormat, ToolCall
from memrl.memory import Context, Message

from memrl.envs.multiobj import MultiObjectiveQAEnv, questions_block

INSTRUCTIONS = (
    "You answer several questions with a search engine. Your context is rebuilt every turn: you will "
    "see only the questions, your previous reply and the latest search result. So begin every reply "
    "with <internal_state>...</internal_state> holding everything you still need (the answers found "
    "so far and what to look for next). Then either search with <search>your query</search>, or, when "
    "you know every answer, write <answer>answer 1; answer 2; ...</answer>: one short answer per "
    "question, in question order, separated by ;."
)


class MEM1Env(MultiObjectiveQAEnv):
    """Answer N questions by searching, keeping only an internal state between turns (MEM1).

    Description:
        The task lists N questions (multi-objective QA, ``envs/multiobj.py``). Each turn the model
        writes its internal state (everything it still needs) and then a search or the answer. The
        next context holds only the task, that reply (state and action, exactly as written) and the
        latest observation: memory stays flat however long the episode. Every turn is a rewrite,
        so each turn is one training segment whose prompt is exactly what the model saw, including
        the previous internal state (the released MEM1 mask hid it; here it is in the prompt).
    Memory tools:
        None besides the context rule: ``<internal_state>`` is the memory. Actions:
        ``<search>query</search>`` (BM25 over the task's documents, top 3) and
        ``<answer>a1; a2; ...</answer>``.
    Observation:
        Chat messages: system (instructions), user (the questions), the model's previous reply,
        and a user message ``<information>...</information>`` with the search hits or a format error.
    Rewards:
        MEM1's sum over objectives of exact match of the i-th ``;``-separated answer (0..N);
        ``outcome["score"]`` is the fraction (0..1), ``outcome["per_objective"]`` each EM.
    Episode end:
        terminated on an answer; truncated after ``max_turns`` (default 2N + 2 for a task of N).
    Arguments:
        n_objectives (int | list[int]): questions per task, 1..16 (default 2); a list mixes sizes
        (task k has ``n_objectives[k % len]``), so one eval reports score and peak context by N.
        source (str): "synthetic" (generated people) or "hotpotqa" (``<data_dir>/hotpotqa``).
        data_dir (str): the data folder holding ``hotpotqa/`` (default ``$MEMRL_DATA``, else
        ``~/.cache/memrl/data``, else the Hub). path (str): a HotpotQA JSON/JSONL file of your own.
        corpus_path (str): a JSONL of ``{"title", "text"}`` searched beside each task's documents.
        memory_mode (str): "agent" (MEM1), "full_context" (nothing is dropped: the whole history
        is shown) or "none" (only the questions and the latest observation; the reply is dropped).
        max_turns (int).
    Version history:
        v0: first version.
    """

    protocol = ReplyFormat(answer="tag", state_tag="internal_state", search_tag="search")
    score_name = "EM (share of the N answers)"
    tool_role = "user"
    supported_modes = ("agent", "full_context", "none")
    memory_tools = ()  # search is not a memory tool: baselines keep it

    def begin(self, task: dict[str, Any]) -> None:
        self.begin_task(task)
        self.context.append("system", INSTRUCTIONS, pinned=True)
        self.context.append("user", f"Questions:\n{questions_block(task['questions'])}", pinned=True)

    def run_tool(self, call: ToolCall) -> str:
        return f"<information>\n{super().run_tool(call)}\n</information>"

    def after_turn(self, action: Action) -> bool:
        # The reply is the agent's memory: kept by the agent, dropped without memory ("none"); with
        # full context nothing is dropped.
        if not self.mode.keeps_context:
            self._rebuild(keep_reply=self.mode.is_agent)
        return False

    def expert_reply(self) -> str:
        """A careful MEM1 agent (``expert_reading``): its state lists every answer found so far and
        the next question to search; it answers when every question has been searched."""
        known = self.expert_reading()
        lines = [f"Q{i}: {known[i]}" for i in sorted(known)]
        todo = self.expert_todo(known)
        if not todo:
            state = "\n".join(lines + ["All questions searched."])
            answers = "; ".join(known[i] for i in range(1, len(self.task["questions"]) + 1))
            return f"<internal_state>\n{state}\n</internal_state>\n<answer>{answers}</answer>"
        state = "\n".join(lines + [f"Next: search for Q{todo[0]}."])
        return f"<internal_state>\n{state}\n</internal_state>\n<search>{self.task['questions'][todo[0] - 1]}</search>"

    def _rebuild(self, keep_reply: bool) -> None:
        """[pinned task, the latest reply (agent mode), the observations after it]: MEM1's context."""
        messages = self.context.messages
        last = max(i for i, m in enumerate(messages) if m.role == "assistant")
        keep: list[Message] = [m for m in messages if m.pinned]
        keep += [m for m in messages[last:] if keep_reply or m.role != "assistant"]
        fresh = Context()
        for m in keep:
            fresh.append(m.role, m.content, pinned=m.pinned)
        fresh.ops = self.context.ops
        fresh.ops["consolidate"] += 1
        self.context = fresh

    def may_append(self) -> bool:
        # After the first turn the rebuilt context happens to extend what the model saw
        # ([task] -> [task, reply, observation]); MEM1 still trains one segment per turn, so every
        # turn is a rewrite unless the whole history is kept (full_context).
        return self.mode.keeps_context

