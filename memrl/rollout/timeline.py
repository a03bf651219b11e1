"""A saved episode as a timeline of segments: what the model saw, what it replied, what changed.

The engine's turn log (``Trajectory.turns``) records, for turn ``t``, the reply the model wrote
and what the env showed *after* it. The reply was sampled in the segment that was current after
turn ``t - 1``; a rewrite then opens a new segment whose prompt is the env's new messages. So a
reply is placed in the segment it was sampled in, never under the header of the segment that its
env response opened. ``memrl inspect`` (terminal) and the HTML viewer both read this timeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from memrl.rollout.segments import Trajectory

# An env message that reports a failure, at the start of a line: a tool's ("tool error: ...", or
# "<op> failed: ..." from the memory stores and the context) or the env's format-error text.
# MemAct prefixes "[id] (reply to message n) ", MEM1 wraps results in <information>.
_PREFIX = r"^(?:\[\d+\]\s*)?(?:\(reply to message \d+\)\s*)?(?:<information>\s*)?"
_TOOL_ERROR = re.compile(_PREFIX + r"(?:tool error:|[A-Za-z_]+ failed:)", re.MULTILINE)
_FORMAT_ERROR = re.compile(_PREFIX + r"Format error \(", re.MULTILINE)


@dataclass
class MessageView:
    role: str
    content: str
    repeat_of: str | None = None  # where the same message was first shown ("segment 0", "turn 3's reply")
    error: str | None = None  # "tool" or "format": the message reports a failure


@dataclass
class MemoryRow:
    id: str
    content: str
    status: str  # "added" | "updated" | "deleted" | "kept"
    before: str | None = None  # the old content of an updated entry


@dataclass
class ReplyView:
    turn: int
    text: str
    format_error: str | None
    tool_errors: list[str]
    reward: float


@dataclass
class Step:
    """One reply (None for the state before the first one), the env messages appended to the same
    segment after it, and the memory store after the env handled it."""

    reply: ReplyView | None
    env: list[MessageView] = field(default_factory=list)
    memory: list[MemoryRow] = field(default_factory=list)
    unseen: bool = False  # the env messages came after the episode ended: the model never saw them


@dataclass
class SegmentView:
    index: int
    opened_after: int | None  # the turn whose env response opened this segment (None: the first prompt)
    prompt: list[MessageView] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    prompt_tokens: int = 0
    total_tokens: int = 0
    policy_tokens: int = 0
    note: str | None = None  # how the episode ended here, when the turn log cannot show it

    @property
    def title(self) -> str:
        if self.opened_after is None:
            return f"segment {self.index} (first prompt)"
        return f"segment {self.index} (context rewritten) after turn {self.opened_after}"


def answered(traj: Trajectory) -> bool:
    """Whether the episode ended with an answer: the env's ``answered`` flag, else a score present."""
    return bool(traj.outcome.get("answered", "score" in traj.outcome))


def memory_diff(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[MemoryRow]:
    """Entries after a turn, each marked added / updated / kept, then the deleted ones."""
    old = {str(e.get("id")): str(e.get("content")) for e in before}
    rows = []
    for entry in after:
        key, content = str(entry.get("id")), str(entry.get("content"))
        if key not in old:
            rows.append(MemoryRow(key, content, "added"))
        elif old[key] != content:
            rows.append(MemoryRow(key, content, "updated", old[key]))
        else:
            rows.append(MemoryRow(key, content, "kept"))
    now = {str(e.get("id")) for e in after}
    rows += [MemoryRow(key, content, "deleted") for key, content in old.items() if key not in now]
    return rows


def timeline(traj: Trajectory) -> list[SegmentView]:
    """The episode's segments with its turns placed where they happened (see the module docstring)."""
    segments = [SegmentView(i, None if i == 0 else -1, prompt_tokens=len(s.prompt_ids), total_tokens=len(s),
                            policy_tokens=s.policy_tokens) for i, s in enumerate(traj.segments)]
    if not traj.turns:
        return segments
    needed = max(t["segment"] for t in traj.turns) + 1
    segments += [SegmentView(i, -1) for i in range(len(segments), needed)]
    seen: dict[tuple[str, str], str] = {}  # every message shown so far -> where it was first shown
    first = traj.turns[0]
    current = first["segment"]
    segments[current].opened_after = None
    segments[current].prompt = _messages(first["env_messages"], f"segment {current}", seen, collapse=True)
    context = {(m.role, m.content) for m in segments[current].prompt}  # what the current segment holds
    memory = first.get("memory") or []
    segments[current].steps.append(Step(None, memory=memory_diff([], memory)))
    for k, turn in enumerate(traj.turns[1:], 1):
        last = k == len(traj.turns) - 1
        step = Step(_reply(turn), memory=memory_diff(memory, turn.get("memory") or []))
        memory = turn.get("memory") or []
        segments[current].steps.append(step)
        seen.setdefault(("assistant", step.reply.text), f"the reply of turn {step.reply.turn}")
        context.add(("assistant", step.reply.text))
        if turn["context"] == "rewrite" and turn["segment"] != current:
            current = turn["segment"]
            segments[current].opened_after = turn["turn"]
            prompt = _messages(turn["env_messages"], f"segment {current}", seen, collapse=True)
            segments[current].prompt = prompt
            # The env's response to this reply: what the new context holds that the old one did not.
            step.reply.tool_errors = [m.content for m in prompt if m.error == "tool" and (m.role, m.content) not in context]
            context = {(m.role, m.content) for m in prompt}
        else:
            # Appended to the segment the reply was sampled in; on the last turn, the env's final
            # messages, which no model call saw (the episode ended).
            step.unseen = last
            step.env = _messages(turn["env_messages"], f"turn {turn['turn']}", seen, collapse=step.unseen)
            step.reply.tool_errors = [m.content for m in step.env if m.error == "tool"]
            context.update((m.role, m.content) for m in step.env)
    replies = len(traj.turns) - 1
    if traj.metrics.get("turns", replies) > replies:
        # The engine ended the episode inside a reply (a token limit): its tokens are in the
        # segment, but the env never saw it, so the turn log has no entry for it.
        segments[current].note = (f"the reply of turn {replies + 1} was cut off at the {traj.metrics.get('truncated') or 'limit'} "
                                  "and never reached the env (its tokens are in this segment)")
    return segments


def _reply(turn: dict[str, Any]) -> ReplyView:
    return ReplyView(turn["turn"], turn.get("policy_text") or "", turn.get("format_error"), [], float(turn.get("reward") or 0.0))


def _messages(raw: list[dict[str, str]], where: str, seen: dict[tuple[str, str], str], *, collapse: bool) -> list[MessageView]:
    """Messages marked as errors and, when ``collapse`` (a rewritten context), as repeats of where
    they were first shown: the system prompt is drawn once, not in every segment."""
    out = []
    for m in raw:
        role, content = str(m.get("role")), str(m.get("content"))
        key = (role, content)
        out.append(MessageView(role, content, seen.get(key) if collapse else None, _error(role, content)))
        seen.setdefault(key, where)
    return out


def _error(role: str, content: str) -> str | None:
    if role == "assistant":
        return None
    if _TOOL_ERROR.search(content):
        return "tool"
    return "format" if _FORMAT_ERROR.search(content) else None
