"""The environment contract, checked: run over every registered environment by the test suite.

Like Gymnasium's ``check_env``: types of every return value, seeded determinism, tool schemas
that are valid JSON-schema objects, robustness to junk model output (it never raises and
the episode still ends within ``max_turns``), and no tool that raises on a call its schema
allows (edge values: empty and long strings, each numeric bound, unknown ids): the base
contains such an exception as an ``env_error``, and the checker reports it as the env bug it is.

:func:`check_docstring` checks an env class's docstring against Gymnasium's template
(:data:`DOCSTRING_SECTIONS`, in that order), which every built-in env follows.
"""

from __future__ import annotations

import inspect
import json
from typing import Any

from memrl.actions import ToolCall, render_tool_call

DOCSTRING_SECTIONS = ("Description", "Memory tools", "Observation", "Rewards", "Episode end", "Arguments", "Version history")
JUNK = ["", "   ", "<tool_call>{not json</tool_call>", "<answer>", "\x00\x07" * 10, "<think>hmm</think>", "x" * 5000]


def _check_messages(messages: Any, where: str) -> None:
    assert isinstance(messages, list) and messages, f"{where}: messages must be a non-empty list"
    for m in messages:
        assert isinstance(m, dict) and set(m) >= {"role", "content"}, f"{where}: bad message {m!r:.80}"
        assert isinstance(m["role"], str) and isinstance(m["content"], str), f"{where}: role/content must be str"


def _check_info(info: Any, where: str) -> None:
    assert isinstance(info, dict), f"{where}: info must be a dict"
    assert info.get("context") in ("append", "rewrite"), f"{where}: info['context'] must be 'append' or 'rewrite'"
    assert isinstance(info.get("memory_ops", {}), dict), f"{where}: info['memory_ops'] must be a dict"


def _check_step(result: Any, where: str) -> bool:
    assert isinstance(result, tuple) and len(result) == 5, f"{where}: step() must return a 5-tuple"
    messages, reward, terminated, truncated, info = result
    _check_messages(messages, where)
    assert isinstance(reward, float), f"{where}: reward must be a float, got {type(reward).__name__}"
    assert reward == reward and abs(reward) != float("inf"), f"{where}: reward must be finite"
    assert isinstance(terminated, bool) and isinstance(truncated, bool), f"{where}: terminated/truncated must be bool"
    _check_info(info, where)
    return terminated or truncated


def check_env(env: Any, *, seed: int = 0) -> None:
    """Raise AssertionError naming the broken rule if ``env`` breaks the contract."""
    name = getattr(getattr(env, "spec", None), "id", type(env).__name__)
    for tool_name, spec in getattr(env, "tool_specs", {}).items():
        schema = spec.to_openai()
        json.dumps(schema)
        params = schema["function"]["parameters"]
        assert params.get("type") == "object", f"{name}: tool {tool_name} parameters must be a JSON object schema"
        assert schema["function"]["description"], f"{name}: tool {tool_name} needs a docstring"
    first, info = env.reset(seed=seed)
    _check_messages(first, f"{name}.reset")
    _check_info(info, f"{name}.reset")
    again, _ = env.reset(seed=seed)
    assert again == first, f"{name}: reset(seed={seed}) is not deterministic"
    # Junk output must never raise and the episode must still end within max_turns.
    env.reset(seed=seed)
    for turn in range(env.max_turns + 1):
        if _check_step(env.step(JUNK[turn % len(JUNK)]), f"{name}.step#{turn}"):
            break
    else:
        raise AssertionError(f"{name}: episode did not end within max_turns={env.max_turns} on junk output")
    _check_tool_edges(env, name, seed)


def edge_values(schema: Any) -> list[Any]:
    """Values a schema allows that tools tend to trip on, for each JSON type it names."""
    kinds = schema.get("type") if isinstance(schema, dict) else None
    kinds = [kinds] if isinstance(kinds, str) else list(kinds or ["string"])
    values: list[Any] = []
    for kind in kinds:
        if kind in ("integer", "number"):
            low, high = schema.get("minimum"), schema.get("maximum")
            values += [v for v in (low, high) if v is not None] or [0, -1, 2**63 - 1]
        elif kind == "string":
            values += [e for e in schema.get("enum", [])] or ["", "m999", "x" * 2000, "\x00 \ud800"]
        elif kind == "boolean":
            values += [True, False]
        elif kind == "array":
            values += [[]]
        elif kind == "object":
            values += [{}]
    return values or [None]


def _check_tool_edges(env: Any, name: str, seed: int) -> None:
    for tool_name, spec in getattr(env, "tool_specs", {}).items():
        props = spec.parameters.get("properties") or {}
        columns = {arg: edge_values(schema) for arg, schema in props.items()}
        for i in range(max((len(v) for v in columns.values()), default=1)):
            arguments = {arg: values[i % len(values)] for arg, values in columns.items()}
            env.reset(seed=seed)
            info = env.step(render_tool_call(ToolCall(tool_name, arguments)))[4]
            error = info.get("env_error")
            assert not error, f"{name}: tool {tool_name}({arguments!r:.120}) raised on a call its schema allows: {error}"


def check_docstring(env_class: type) -> None:
    """Raise AssertionError unless ``env_class``'s docstring has every section of the template,
    each on a line of its own that starts ``Name:`` (the text below it, or after it on the same
    line), in :data:`DOCSTRING_SECTIONS` order."""
    lines = [line.strip() for line in (inspect.getdoc(env_class) or "").splitlines()]
    at = {s: next((i for i, line in enumerate(lines) if line == f"{s}:" or line.startswith(f"{s}: ")), None)
          for s in DOCSTRING_SECTIONS}
    missing = [s for s, i in at.items() if i is None]
    assert not missing, f"{env_class.__name__}'s docstring lacks the section(s) {', '.join(missing)} (template: {', '.join(DOCSTRING_SECTIONS)})"
    order = sorted(DOCSTRING_SECTIONS, key=lambda s: at[s])
    assert order == list(DOCSTRING_SECTIONS), f"{env_class.__name__}'s docstring sections are out of order: {', '.join(order)}"
