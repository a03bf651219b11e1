"""Typed actions parsed from model text.

The parser never raises on model output: whatever the model wrote becomes an :class:`Action`,
and anything wrong with it is a :class:`FormatError` the environment shows the model next turn.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ToolCall:
    """One `<tool_call>{"name": ..., "arguments": {...}}</tool_call>` (or a MemAct/MEM1 search)."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FormatError:
    """What was wrong with the model's text, as one line the model can act on.

    ``kind`` is a stable identifier (see ``ERROR_KINDS``) so rewards and metrics can count errors
    by kind; ``message`` is the line the environment shows the model.
    """

    kind: str
    message: str


ERROR_KINDS = (
    "empty",  # nothing but whitespace
    "no_action",  # text, but neither a tool call nor an answer
    "malformed_json",  # a <tool_call> body that is not a JSON object with name/arguments
    "unknown_tool",  # a tool name the environment does not offer
    "missing_argument",
    "unexpected_argument",
    "wrong_type",  # an argument of the wrong JSON type
    "unclosed_tag",  # an opening tag never closed, or a closing tag that closes nothing
    "nested_tag",  # a tag opened again inside itself (<tool_call> in <tool_call>, \boxed in \boxed)
    "multiple_answers",
    "answer_and_tool",  # an answer and tool calls in one turn
    "too_long",  # over the parser's size limit; only a prefix was read
    "missing_state",  # MEM1: no internal-state block
)


@dataclass(frozen=True)
class Action:
    """Everything one model turn asked for.

    ``tool_calls`` run in order; ``answer`` ends the episode. ``state`` is MEM1's internal state
    (the consolidated memory the model carries to the next turn); ``think`` is the reasoning text.
    An action with ``errors`` may still carry the well-formed parts (e.g. two good tool calls
    beside a malformed one); environments decide whether to run them.
    """

    think: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    answer: str | None = None
    state: str | None = None
    errors: tuple[FormatError, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def error_message(self) -> str:
        """All errors as the text shown to the model (one line each)."""
        return "\n".join(f"Format error ({e.kind}): {e.message}" for e in self.errors)
