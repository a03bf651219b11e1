"""Memory tools are typed, docstringed methods; their JSON schemas come from the signature.

Mark a method with :func:`tool` and the environment offers it to the model: the schema shown
in the system prompt and the argument checks in the parser are generated from the type hints
and the Google-style docstring (``transformers.utils.get_json_schema``), so a tool can never
be described one way and validated another.
"""

from __future__ import annotations

import functools
import inspect
import json
from typing import Any, Callable

from memrl.actions.parser import ToolSpec

_TOOL_ATTR = "__memrl_tool__"


def tool(fn: Callable[..., str]) -> Callable[..., str]:
    """Mark an environment method as a tool the model may call (it returns the result text)."""
    setattr(fn, _TOOL_ATTR, True)
    return fn


@functools.lru_cache(maxsize=None)
def _spec(fn: Callable[..., str]) -> ToolSpec:
    # Schema generation parses the docstring: once per tool function, not once per env instance.
    return ToolSpec.from_function(fn)


def collect_tools(obj: Any) -> dict[str, tuple[ToolSpec, Callable[..., str]]]:
    """Name -> (schema, bound method) for every @tool method of ``obj``, in definition order."""
    found: dict[str, tuple[ToolSpec, Callable[..., str]]] = {}
    for klass in reversed(type(obj).__mro__):
        for name, member in vars(klass).items():
            if callable(member) and getattr(member, _TOOL_ATTR, False):
                found[name] = (_spec(member), getattr(obj, name))
    hidden = set(getattr(obj, "hidden_tools", ()) or ())
    return {n: t for n, t in found.items() if n not in hidden}


def tools_prompt(specs: list[ToolSpec]) -> str:
    """The tool section of a system prompt, in the Qwen2.5 / Hermes function-calling layout."""
    schemas = "\n".join(json.dumps(s.to_openai(), ensure_ascii=False) for s in specs)
    return (
        "You may call tools. Their signatures are inside <tools></tools>:\n"
        f"<tools>\n{schemas}\n</tools>\n"
        "Call a tool by writing <tool_call>{\"name\": <tool name>, \"arguments\": <args object>}</tool_call>. "
        "You may call several tools in one turn."
    )


def compact_tools_prompt(specs: list[ToolSpec]) -> str:
    """One line per tool (``name(arg, optional?): description``): about a fifth of the JSON
    schemas' tokens. For small models and CPU budgets, where a 700-token system prompt repeated in
    every segment dominates the cost of an update; the call syntax is the same."""
    lines = []
    for s in specs:
        required = set(s.parameters.get("required") or ())
        args = ", ".join(n if n in required else f"{n}?" for n in s.parameters.get("properties") or {})
        lines.append(f"- {s.name}({args}): {s.description}")
    return (
        "Tools:\n" + "\n".join(lines) + "\n"
        'Call a tool by writing <tool_call>{"name": <tool name>, "arguments": {<arg>: <value>, ...}}</tool_call>. '
        "You may call several tools in one turn."
    )


def call_tool(method: Callable[..., str], arguments: dict[str, Any]) -> str:
    """Run a tool with arguments the parser already validated; bad values surface as text."""
    try:
        inspect.signature(method).bind(**arguments)
    except TypeError as e:  # defence in depth: the parser checks the schema first
        return f"tool error: {e}"
    result = method(**arguments)
    return result if isinstance(result, str) else json.dumps(result, ensure_ascii=False)
