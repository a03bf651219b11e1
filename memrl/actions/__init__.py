from memrl.actions.types import ERROR_KINDS, Action, FormatError, ToolCall
from memrl.actions.parser import Protocol, ToolSpec, parse_action, render_tool_call
