"""Tool specs: a tool's JSON schema from its signature, and checking a call's arguments against it.

Arguments are checked against the JSON-schema subset that ``transformers.utils.get_json_schema``
emits: ``type`` (a name or a list of names), ``nullable``, ``enum``, ``items``, ``prefixItems``,
``properties`` / ``additionalProperties``, plus ``anyOf`` / ``oneOf``. Unknown keywords and
unknown type names are accepted, so a richer hand-written schema never rejects a good call.

Integers: ``true`` is not an integer (Python's ``bool`` subclasses ``int``; JSON's doesn't), and
an integral float such as ``3.0`` *is* one and is passed on as ``3`` — that is JSON Schema's own
rule (draft 6+), and the tool receives the ``int`` its type hint promised.

Numbers are bounded: ``minimum`` / ``maximum`` (and the exclusive forms) are checked, and an
integer must fit in 64 bits whatever its schema says, so ``"top_k": 1e308`` (an integral float,
hence a 309-digit int) is a format error the model sees, not an ``OverflowError`` in a tool.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import dataclass, field
from collections.abc import Callable, Mapping
from typing import Any

from memrl.actions.types import FormatError

_MAX_DEPTH = 32  # schema nesting we follow; deeper values are accepted unchecked
_INT64 = 2**63  # the integers a tool may receive: what SQLite, numpy and JSON peers can hold
_NAMES_SHOWN = 20  # tools listed in an unknown-tool message


def _empty_parameters() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True)
class ToolSpec:
    """A tool's name, description and JSON-schema parameters (the OpenAI function format)."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=_empty_parameters)

    @classmethod
    def from_function(cls, fn: Callable[..., Any]) -> "ToolSpec":
        """From type hints and a Google-style docstring (``Args:``), via ``get_json_schema``.

        Works on plain functions and on methods (bound or not): ``self`` is never a parameter.
        """
        from transformers.utils import get_json_schema

        try:
            schema = get_json_schema(fn)["function"]
        except Exception as e:  # transformers' DocstringParsingException / TypeHintParsingException
            where = getattr(fn, "__qualname__", repr(fn))
            reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
            raise ValueError(
                f"cannot build a tool schema for {where}: {reason}; give every argument a type hint "
                "and a line under 'Args:' in a Google-style docstring"
            ) from e
        params = dict(schema.get("parameters") or _empty_parameters())
        params["properties"] = {k: v for k, v in (params.get("properties") or {}).items() if k != "self"}
        required = [r for r in params.get("required") or [] if r != "self"]
        if required:
            params["required"] = required
        else:
            params.pop("required", None)
        return cls(schema["name"], schema.get("description", ""), params)

    def to_openai(self) -> dict[str, Any]:
        """``{"type": "function", "function": {...}}``, as chat templates' ``tools=`` expect."""
        function = {"name": self.name, "description": self.description, "parameters": self.parameters}
        return {"type": "function", "function": function}

    def check_arguments(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], list[FormatError]]:
        """The arguments conformed to the schema (``3.0`` -> ``3``), and one error per problem."""
        props: Mapping[str, Any] = self.parameters.get("properties") or {}
        extra_ok = self.parameters.get("additionalProperties") not in (None, False)
        errors = [
            FormatError(
                "missing_argument",
                f'{self.name} is missing required argument {name!r} ({describe(props.get(name))}); add it to "arguments"',
            )
            for name in self.parameters.get("required") or []
            if name not in arguments
        ]
        conformed: dict[str, Any] = {}
        for key, value in arguments.items():
            if key not in props and not extra_ok:
                errors.append(FormatError("unexpected_argument", self._unexpected(key, props)))
                continue
            value, problem = conform(value, props.get(key, {}), key)
            if problem is not None:
                if value is None and key not in (self.parameters.get("required") or []):
                    problem += f"; leave {quote(key, 40)} out to use its default"
                errors.append(FormatError("wrong_type", f"{self.name}: {problem}"))
            conformed[key] = value
        return conformed, errors

    def _unexpected(self, key: str, props: Mapping[str, Any]) -> str:
        hint = suggest(key, list(props))
        known = ", ".join(props) if props else "none (send \"arguments\": {})"
        return f"{self.name} has no argument {quote(key, 40)}{hint}; its arguments are: {known}"


# -- messages ------------------------------------------------------------------------------------
def quote(text: str, limit: int = 80) -> str:
    """Model text for a one-line message: whitespace flattened, cut to ``limit``, quoted by repr."""
    flat = " ".join(text[: limit * 4].split())  # split() also breaks on \u2028, \x85, \x1c...
    if len(flat) > limit:
        flat = flat[: limit - 3] + "..."
    return repr(flat)  # repr escapes anything unprintable (lone surrogates too)


def suggest(name: str, choices: list[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice (case-insensitive), or ``""``."""
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(name.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


def unknown_tool(name: str, tools: Mapping[str, Any]) -> FormatError:
    names = list(tools)
    shown = ", ".join(names[:_NAMES_SHOWN]) + (", ..." if len(names) > _NAMES_SHOWN else "")
    hint = suggest(name, names)
    return FormatError("unknown_tool", f"unknown tool {quote(name, 60)}; available: {shown or 'none'}{hint}")


_ARTICLE = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
            "array": "an array", "object": "an object", "null": "null"}


def describe(schema: Any) -> str:
    """What a schema wants, in words: ``an integer``, ``one of 'a', 'b'``, ``a string or null``."""
    if not isinstance(schema, Mapping):
        return "any value"
    if "enum" in schema and isinstance(schema["enum"], list):
        return "one of " + ", ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"][:10])
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " or ".join(describe(s) for s in schema[key])
    types = _types(schema)
    if not types:
        return "any value"
    words = [_ARTICLE.get(t, repr(t)) + _range(schema) if t in ("integer", "number") else _ARTICLE.get(t, repr(t))
             for t in types]
    if types == ["array"] and isinstance(schema.get("items"), Mapping) and _types(schema["items"]):
        words = [f"an array of {describe(schema['items'])}"]
    if schema.get("nullable") and "null" not in types:
        words.append("null")
    return " or ".join(words)


def _range(schema: Mapping[str, Any]) -> str:
    """`` from 1 to 10``, `` >= 1``, `` < 5``..., from the schema's numeric bounds ('' if none)."""
    low, high = _number(schema.get("minimum")), _number(schema.get("maximum"))
    if low is not None and high is not None:
        return f" from {_num(low)} to {_num(high)}"
    parts = [f"{op} {_num(v)}" for op, v in ((">=", low), ("<=", high), (">", _number(schema.get("exclusiveMinimum"))),
                                              ("<", _number(schema.get("exclusiveMaximum")))) if v is not None]
    return " " + " and ".join(parts) if parts else ""


def _number(value: Any) -> float | int | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _num(value: int | float) -> str:
    """A number for a one-line message: a 309-digit integer is shown as 1e+308, not in full."""
    if isinstance(value, int) and abs(value) >= 10**15:
        try:
            return f"{float(value):.3g}"
        except OverflowError:
            return f"~2^{value.bit_length()}"
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _out_of_bounds(value: int | float, schema: Mapping[str, Any]) -> bool:
    low, high = _number(schema.get("minimum")), _number(schema.get("maximum"))
    xlow, xhigh = _number(schema.get("exclusiveMinimum")), _number(schema.get("exclusiveMaximum"))
    return ((low is not None and value < low) or (high is not None and value > high)
            or (xlow is not None and value <= xlow) or (xhigh is not None and value >= xhigh))


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {json.dumps(value)}"
    if isinstance(value, (int, float)):
        return f"the number {_num(value)}"
    if isinstance(value, str):
        return f"the string {quote(value, 40)}"
    return "an array" if isinstance(value, list) else "an object"


# -- checking ------------------------------------------------------------------------------------
def _types(schema: Mapping[str, Any]) -> list[str]:
    t = schema.get("type")
    if isinstance(t, str):
        return [t]
    return [x for x in t if isinstance(x, str)] if isinstance(t, list) else []


def _as_type(value: Any, kind: str) -> tuple[bool, Any]:
    """(fits, value converted to the Python type the tool expects)."""
    if kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return True, value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return True, int(value)  # JSON Schema: 3.0 is an integer
        return False, value
    simple = {"string": str, "array": list, "object": dict, "boolean": bool, "null": type(None)}
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool), value
    if kind in simple:
        return isinstance(value, simple[kind]), value
    return True, value  # "any" or an unknown type name: not ours to reject


def _in_enum(value: Any, enum: list[Any]) -> bool:
    # `True in [1]` is True in Python; JSON keeps booleans and numbers apart.
    return any(value == e and isinstance(value, bool) == isinstance(e, bool) for e in enum)


def conform(value: Any, schema: Any, path: str, depth: int = 0) -> tuple[Any, str | None]:
    """(value conformed to ``schema``, None) or (value, what is wrong at ``path``)."""
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return value, None
    if value is None and (schema.get("nullable") or "null" in _types(schema)):
        return None, None
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            for sub in schema[key]:
                fitted, problem = conform(value, sub, path, depth + 1)
                if problem is None:
                    return fitted, None
            return value, f"argument {quote(path, 40)} must be {describe(schema)}, got {_kind(value)}"
    types = _types(schema)
    if types:
        for kind in types:
            fits, fitted = _as_type(value, kind)
            if fits:
                value = fitted
                break
        else:
            return value, f"argument {quote(path, 40)} must be {describe(schema)}, got {_kind(value)}"
    if isinstance(schema.get("enum"), list) and not _in_enum(value, schema["enum"]):
        return value, f"argument {quote(path, 40)} must be {describe(schema)}, got {_kind(value)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if _out_of_bounds(value, schema):
            return value, f"argument {quote(path, 40)} must be {describe(schema)}, got {_kind(value)}"
        if isinstance(value, float) and not math.isfinite(value):
            return value, f"argument {quote(path, 40)} must be a finite number, got {_kind(value)}"
        if isinstance(value, int) and not -_INT64 <= value < _INT64:
            return value, f"argument {quote(path, 40)} must be {describe(schema)} that fits in 64 bits, got {_kind(value)}"
    if isinstance(value, list):
        return _conform_items(value, schema, path, depth)
    if isinstance(value, dict):
        return _conform_fields(value, schema, path, depth)
    return value, None


def _conform_items(value: list[Any], schema: Mapping[str, Any], path: str, depth: int) -> tuple[Any, str | None]:
    prefix = schema.get("prefixItems") if isinstance(schema.get("prefixItems"), list) else None
    items = schema.get("items")
    if prefix is not None and not isinstance(items, Mapping) and len(value) != len(prefix):
        return value, f"argument {quote(path, 40)} must be an array of exactly {len(prefix)} items, got {len(value)}"
    fitted = []
    for i, item in enumerate(value):
        sub = prefix[i] if prefix is not None and i < len(prefix) else items
        item, problem = conform(item, sub, f"{path}[{i}]", depth + 1)
        if problem is not None:
            return value, problem
        fitted.append(item)
    return fitted, None


def _conform_fields(value: dict[str, Any], schema: Mapping[str, Any], path: str, depth: int) -> tuple[Any, str | None]:
    props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
    extra = schema.get("additionalProperties")
    fitted = {}
    for key, item in value.items():
        sub = props.get(key, extra if isinstance(extra, Mapping) else None)
        item, problem = conform(item, sub, f"{path}.{key}", depth + 1)
        if problem is not None:
            return value, problem
        fitted[key] = item
    return fitted, None
