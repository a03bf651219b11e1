"""Memory tools are typed, docstringed methods; their JSON schemas come from the signature.

Mark a method with :func:`tool` and the environment offers it to the model: the schema shown
in the system prompt and the argument checks in the parser are generated from the type hints
and the Google-style docstring (``transformers.utils.get_json_schema``), so a tool can never
be described one way and validated another.

Numeric arguments are bounded in the schema (``minimum`` / ``maximum``), which the parser
enforces before the tool runs: ``@tool(bounds={"n": (1, 5)})`` declares them, and an integer
argument called ``top_k`` is ``1..MAX_TOP_K`` unless its tool says otherwise (a model asking a
store for ``1e308`` hits, or a thousand, gets a format error instead of crashing the store or
flooding its own context).
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Mapping
from typing import Any, Callable

from memrl.actions.parser import ToolSpec

_TOOL_ATTR = "__memrl_tool__"
MAX_TOP_K = 10  # hits one retrieve/search may return (the data layer's corpus search agrees)
# Bounds every tool gets for an integer argument of this name, unless it declares its own.
CONVENTIONAL_BOUNDS: dict[str, tuple[int, int]] = {"top_k": (1, MAX_TOP_K)}
Bounds = Mapping[str, "tuple[float | None, float | None]"]


def tool(fn: Callable[..., str] | None = None, *, bounds: Bounds | None = None) -> Any:
    """Mark an environment method as a tool the model may call (it returns the result text).

    ``bounds``: ``{argument: (minimum, maximum)}`` for numeric arguments (``None`` = open end).
    Use as ``@tool`` or ``@tool(bounds={"top_k": (1, 5)})``.
    """
    def mark(f: Callable[..., str]) -> Callable[..., str]:
        setattr(f, _TOOL_ATTR, dict(bounds or {}))
        return f

    return mark(fn) if fn is not None else mark


@functools.lru_cache(maxsize=None)
def _spec(fn: Callable[..., str]) -> ToolSpec:
    # Schema generation parses the docstring: once per tool function, not once per env instance.
    spec = ToolSpec.from_function(fn)
    declared = getattr(fn, _TOOL_ATTR, None)
    return with_bounds(spec, declared if isinstance(declared, dict) else {})


def with_bounds(spec: ToolSpec, declared: Bounds) -> ToolSpec:
    """``spec`` with ``minimum``/``maximum`` on its numeric arguments: the declared bounds, else
    the conventional ones (an integer ``top_k``); a bound already in the schema is kept."""
    props = dict(spec.parameters.get("properties") or {})
    unknown = sorted(set(declared) - set(props))
    if unknown:
        raise ValueError(f"@tool(bounds=...) of {spec.name} names no argument {', '.join(map(repr, unknown))}; "
                         f"its arguments are: {', '.join(props) or 'none'}")
    for name, schema in props.items():
        low_high = declared.get(name)
        if low_high is None and _is_integer(schema):
            low_high = CONVENTIONAL_BOUNDS.get(name)
        if low_high is None:
            continue
        schema = dict(schema)
        for key, bound in zip(("minimum", "maximum"), low_high):
            if bound is not None:
                schema.setdefault(key, bound)
        props[name] = schema
    return ToolSpec(spec.name, spec.description, {**spec.parameters, "properties": props})


def _is_integer(schema: Any) -> bool:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    return kind == "integer" or (isinstance(kind, list) and "integer" in kind)


def collect_tools(obj: Any) -> dict[str, tuple[ToolSpec, Callable[..., str]]]:
    """Name -> (schema, bound method) for every @tool method of ``obj``, in definition order."""
    found: dict[str, tuple[ToolSpec, Callable[..., str]]] = {}
    for klass in reversed(type(obj).__mro__):
        for name, member in vars(klass).items():
            if callable(member) and getattr(member, _TOOL_ATTR, None) is not None:
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
