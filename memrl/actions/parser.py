"""One parser from model text to a typed :class:`Action`. It never raises on model output.

Formats: optional ``<think>...</think>``; one or more ``<tool_call>{"name": ..., "arguments":
{...}}</tool_call>`` (Qwen2.5/Qwen3's native format; ``arguments`` may also be a JSON string
holding an object); an ``<answer>...</answer>``; MEM1's internal-state tag with ``<search>``;
MemAgent's ``\\boxed{}``; MemAct's ``FINAL_ANSWER:``. Tags are found by one linear scan (no
backtracking regex), so 100 kB of junk parses in milliseconds.

Rules for partly good output: every well-formed, valid tool call is returned even when another
one is malformed (the environment shows the errors and decides); with several answers the last
one is returned beside a ``multiple_answers`` error; text inside ``<think>`` is opaque (tags in
it do not count), and so is a tool call's JSON up to its closing tag.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from memrl.actions.types import Action, FormatError, ToolCall

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # never valid raw in JSON or tags
_BOXED = "\\boxed{"
_FINAL = "FINAL_ANSWER:"


@dataclass(frozen=True)
class ToolSpec:
    """A tool's name, description and JSON-schema parameters (OpenAI function format)."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})

    @classmethod
    def from_function(cls, fn: Callable[..., Any]) -> "ToolSpec":
        """From type hints and a Google-style docstring (``Args:``), via transformers."""
        from transformers.utils import get_json_schema

        schema = get_json_schema(fn)["function"]
        params = dict(schema.get("parameters") or {"type": "object", "properties": {}})
        params["properties"] = {k: v for k, v in params.get("properties", {}).items() if k != "self"}
        required = [r for r in params.get("required", []) if r != "self"]
        if required:
            params["required"] = required
        else:
            params.pop("required", None)
        return cls(schema["name"], schema.get("description", ""), params)

    def to_openai(self) -> dict[str, Any]:
        return {"type": "function", "function": {"name": self.name, "description": self.description, "parameters": self.parameters}}


@dataclass(frozen=True)
class Protocol:
    """Which answer and state forms a method uses.

    answer: ``"tag"`` (``<answer>``), ``"boxed"`` (MemAgent ``\\boxed{}``) or ``"final_answer"``
    (MemAct ``FINAL_ANSWER: ...``, the rest of the text). state_tag: MEM1's internal-state tag
    (required every turn when set). search_tag: a tag whose body becomes ``ToolCall("search",
    {"query": body})`` (MEM1's ``<search>``). max_chars: longer text is cut and flagged.
    """

    answer: str = "tag"
    state_tag: str | None = None
    search_tag: str | None = None
    max_chars: int = 32_000

    def tags(self) -> tuple[str, ...]:
        tags = ["think", "tool_call"]
        if self.answer == "tag":
            tags.append("answer")
        tags += [t for t in (self.state_tag, self.search_tag) if t]
        return tuple(tags)


def render_tool_call(call: ToolCall) -> str:
    """The canonical text of a tool call (for scripted agents, demonstrations and tests)."""
    return "<tool_call>" + json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False) + "</tool_call>"


def _snippet(text: str, limit: int = 80) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= limit else flat[: limit - 3] + "...")


_TAG_CACHE: dict[tuple[str, ...], re.Pattern[str]] = {}


def _tag_pattern(tags: tuple[str, ...]) -> re.Pattern[str]:
    if tags not in _TAG_CACHE:
        _TAG_CACHE[tags] = re.compile(r"<(/?)(" + "|".join(map(re.escape, tags)) + r")>")
    return _TAG_CACHE[tags]


def _scan(text: str, tags: tuple[str, ...]) -> tuple[list[tuple[str, str]], list[FormatError]]:
    """(tag, body) blocks in order, and the structural errors (unclosed, nested, stray)."""
    blocks: list[tuple[str, str]] = []
    errors: list[FormatError] = []
    open_tag, start = None, 0
    for m in _tag_pattern(tags).finditer(text):
        closing, tag = m.group(1) == "/", m.group(2)
        if open_tag in ("think", "tool_call") and not (closing and tag == open_tag):
            continue  # thoughts and tool-call JSON are opaque (JSON strings may hold any text)
        if not closing:
            if open_tag is not None:
                errors.append(FormatError("nested_tag", f"<{tag}> opened inside <{open_tag}>; close </{open_tag}> first"))
                continue
            open_tag, start = tag, m.end()
        elif open_tag == tag:
            blocks.append((tag, text[start : m.start()]))
            open_tag = None
        elif open_tag is None:
            errors.append(FormatError("unclosed_tag", f"</{tag}> without a matching <{tag}>"))
        else:
            errors.append(FormatError("nested_tag", f"</{tag}> closes <{open_tag}>; write </{open_tag}>"))
    if open_tag is not None:
        errors.append(FormatError("unclosed_tag", f"<{open_tag}> is never closed; end it with </{open_tag}>"))
    return blocks, errors


def _boxed(text: str) -> list[str]:
    """Contents of every ``\\boxed{...}`` with balanced braces (unbalanced ones are skipped)."""
    found, i = [], text.find(_BOXED)
    while i != -1:
        depth, j = 1, i + len(_BOXED)
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        if depth == 0:
            found.append(text[i + len(_BOXED) : j - 1])
        i = text.find(_BOXED, j if depth == 0 else i + 1)
    return found


def _tool_call(body: str, tools: Mapping[str, ToolSpec] | None) -> tuple[ToolCall | None, list[FormatError]]:
    try:
        obj = json.loads(body)
    except (json.JSONDecodeError, RecursionError, ValueError) as e:
        msg = getattr(e, "msg", type(e).__name__)
        return None, [FormatError("malformed_json", f"tool call {_snippet(body)} is not valid JSON ({msg}); write {{\"name\": ..., \"arguments\": {{...}}}}")]
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        return None, [FormatError("malformed_json", f"tool call {_snippet(body)} needs a JSON object with a string \"name\" and an \"arguments\" object")]
    args = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(args, str):
        try:
            args = json.loads(args) if args.strip() else {}
        except (json.JSONDecodeError, RecursionError, ValueError):
            args = None
    if args is None or not isinstance(args, dict):
        return None, [FormatError("malformed_json", f"\"arguments\" of {obj['name']!r} must be a JSON object")]
    call = ToolCall(obj["name"], args)
    if tools is None:
        return call, []
    return _validate(call, tools)


_JSON_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,), "array": (list,), "object": (dict,), "null": (type(None),)}


def _fits(value: Any, schema: Mapping[str, Any]) -> bool:
    if "enum" in schema and value not in schema["enum"]:
        return False
    kinds = schema.get("type")
    if kinds is None:
        return True
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    if schema.get("nullable"):
        kinds.append("null")
    for kind in kinds:
        if kind in ("integer", "number") and isinstance(value, bool):
            continue  # JSON true is not a number
        if isinstance(value, _JSON_TYPES.get(kind, ())):
            return True
    return False


def _validate(call: ToolCall, tools: Mapping[str, ToolSpec]) -> tuple[ToolCall | None, list[FormatError]]:
    spec = tools.get(call.name)
    if spec is None:
        names = ", ".join(tools) or "none"
        close = difflib.get_close_matches(call.name, list(tools), n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return None, [FormatError("unknown_tool", f"unknown tool {call.name[:60]!r}; available: {names}{hint}")]
    props = spec.parameters.get("properties", {})
    errors = []
    for name in spec.parameters.get("required", []):
        if name not in call.arguments:
            errors.append(FormatError("missing_argument", f"{call.name} needs argument {name!r}; arguments: {', '.join(props)}"))
    for name, value in call.arguments.items():
        if name not in props:
            errors.append(FormatError("unexpected_argument", f"{call.name} takes no argument {name[:40]!r}; arguments: {', '.join(props) or 'none'}"))
        elif not _fits(value, props[name]):
            want = props[name].get("type", "?")
            errors.append(FormatError("wrong_type", f"{call.name} argument {name!r} must be {want}, got {type(value).__name__} {_snippet(json.dumps(value, ensure_ascii=False), 40)}"))
    return (None, errors) if errors else (call, [])


def parse_action(
    text: Any,
    tools: Mapping[str, ToolSpec] | Sequence[ToolSpec] | None = None,
    protocol: Protocol = Protocol(),
) -> Action:
    """Parse one model reply. Never raises; see the module docstring for the rules."""
    if not isinstance(text, str) or not text.strip():
        return Action(errors=(FormatError("empty", "the reply is empty; think, then call a tool or answer"),))
    errors: list[FormatError] = []
    if len(text) > protocol.max_chars:
        text = text[: protocol.max_chars]
        errors.append(FormatError("too_long", f"the reply is over {protocol.max_chars} characters; only the start was read"))
    text = _CONTROL.sub("", text)
    if tools is not None and not isinstance(tools, Mapping):
        tools = {t.name: t for t in tools}
    blocks, structural = _scan(text, protocol.tags())
    errors += structural
    think = next((body for tag, body in blocks if tag == "think"), None)
    calls: list[ToolCall] = []
    for tag, body in blocks:
        if tag == "tool_call":
            call, errs = _tool_call(body.strip(), tools)
            errors += errs
            if call is not None:
                calls.append(call)
        elif tag == protocol.search_tag:
            calls.append(ToolCall("search", {"query": body.strip()}))
    answers = _answers(text, blocks, protocol)
    if len(answers) > 1:
        errors.append(FormatError("multiple_answers", f"{len(answers)} answers in one reply; give exactly one"))
    answer = answers[-1].strip() if answers else None
    state = None
    if protocol.state_tag:
        states = [body for tag, body in blocks if tag == protocol.state_tag]
        state = states[-1].strip() if states else None
        if state is None:
            errors.append(FormatError("missing_state", f"write your state inside <{protocol.state_tag}></{protocol.state_tag}> every turn"))
    if answer is not None and calls:
        errors.append(FormatError("answer_and_tool", "a reply either calls tools or answers, not both; the answer was ignored"))
    if answer is None and not calls and not any(e.kind in ("malformed_json", "unknown_tool", "missing_argument", "unexpected_argument", "wrong_type") for e in errors):
        errors.append(FormatError("no_action", f"no tool call and no answer; {_how(protocol)}"))
    return Action(think=think, tool_calls=tuple(calls), answer=answer, state=state, errors=tuple(errors))


def _answers(text: str, blocks: list[tuple[str, str]], protocol: Protocol) -> list[str]:
    if protocol.answer == "tag":
        return [body for tag, body in blocks if tag == "answer"]
    outside = _outside_think(text)
    if protocol.answer == "boxed":
        return _boxed(outside)
    if protocol.answer == "final_answer":
        parts = outside.split(_FINAL)
        return [p.split("<tool_call>")[0] for p in parts[1:]]
    return []


def _outside_think(text: str) -> str:
    start = text.find("<think>")
    end = text.find("</think>", start + 1) if start != -1 else -1
    return text if start == -1 or end == -1 else text[:start] + text[end + len("</think>") :]


def _how(protocol: Protocol) -> str:
    answer = {"tag": "<answer>...</answer>", "boxed": "\\boxed{...}", "final_answer": "FINAL_ANSWER: ..."}.get(protocol.answer, "an answer")
    search = f" or <{protocol.search_tag}>query</{protocol.search_tag}>" if protocol.search_tag else ""
    return f"write <tool_call>{{\"name\": ..., \"arguments\": {{...}}}}</tool_call>{search} or {answer}"
