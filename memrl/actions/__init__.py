"""The action protocol: model text in, typed actions (or typed format errors) out."""

from memrl.actions.parser import Protocol, ToolSpec, parse_action, render_tool_call
from memrl.actions.types import ERROR_KINDS, Action, FormatError, ToolCall

__all__ = ["Action", "ERROR_KINDS", "FormatError", "Protocol", "ToolCall", "ToolSpec", "parse_action", "render_tool_call"]
