"""The action protocol: model text in, typed actions (or typed one-line format errors) out."""

from memrl.actions.parser import ReplyFormat, parse_action, render_tool_call
from memrl.actions.scan import find_boxed
from memrl.actions.schema import ToolSpec
from memrl.actions.types import ERROR_KINDS, Action, FormatError, ToolCall

__all__ = [
    "Action",
    "ERROR_KINDS",
    "FormatError",
    "ReplyFormat",
    "ToolCall",
    "ToolSpec",
    "find_boxed",
    "parse_action",
    "render_tool_call",
]
