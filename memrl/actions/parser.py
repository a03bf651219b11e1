"""TEMPORARY stub parser (lead) until the real parser lands."""
from __future__ import annotations
import json, re
from dataclasses import dataclass
from typing import Any, Mapping
from memrl.actions.types import Action, ToolCall, FormatError


@dataclass(frozen=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict

    @classmethod
    def from_function(cls, fn):
        from transformers.utils import get_json_schema
        s = get_json_schema(fn)["function"]
        params = dict(s.get("parameters", {"type": "object", "properties": {}}))
        params["properties"] = {k: v for k, v in params.get("properties", {}).items() if k != "self"}
        params["required"] = [r for r in params.get("required", []) if r != "self"]
        return cls(s["name"], s.get("description", ""), params)

    def to_openai(self):
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}


@dataclass(frozen=True)
class Protocol:
    answer: str = "tag"
    state_tag: str | None = None
    search_tag: str | None = None
    max_chars: int = 32_000


def render_tool_call(call: ToolCall) -> str:
    return "<tool_call>" + json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False) + "</tool_call>"


def parse_action(text, tools=None, protocol=Protocol()):
    if not isinstance(text, str) or not text.strip():
        return Action(errors=(FormatError("empty", "empty reply"),))
    calls, errors = [], []
    for body in re.findall(r"<tool_call>(.*?)</tool_call>", text, re.S):
        try:
            obj = json.loads(body)
            calls.append(ToolCall(obj["name"], obj.get("arguments", {})))
        except Exception:
            errors.append(FormatError("malformed_json", "bad json"))
    if tools is not None:
        names = tools if isinstance(tools, Mapping) else {t.name: t for t in tools}
        for c in list(calls):
            if c.name not in names:
                errors.append(FormatError("unknown_tool", f"unknown tool {c.name!r}; available: {', '.join(names)}"))
                calls.remove(c)
    m = re.search(r"<answer>(.*?)</answer>", text, re.S)
    answer = m.group(1).strip() if m else None
    if not calls and answer is None and not errors:
        errors.append(FormatError("no_action", "no tool call and no answer"))
    return Action(tool_calls=tuple(calls), answer=answer, errors=tuple(errors))
