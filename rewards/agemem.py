"""AgeMem's reward terms, one plugin each so every term is weighted and logged on its own.

The environment knows what was stored, retrieved and cut, so it measures the terms at the end of
an episode (``outcome["components"]``, see ``memrl.envs.agemem``); these plugins hand them to the
trainer in TRL's ``reward_funcs`` convention. An episode without the components (another
environment) is an error, not a zero: a misconfigured reward must not train silently.
"""

from __future__ import annotations

from typing import Any

from memrl.scoring.registry import reward


def _component(name: str, outcome: list[dict[str, Any]]) -> list[float]:
    values = []
    for i, o in enumerate(outcome):
        parts = (o or {}).get("components")
        if not isinstance(parts, dict) or name not in parts:
            raise ValueError(f"episode {i} has no outcome['components'][{name!r}]; agemem_* rewards need memrl/AgeMem-v0")
        values.append(float(parts[name]))
    return values


@reward()
def agemem_task(completions: list[Any], outcome: list[dict[str, Any]], **kwargs: Any) -> list[float]:
    """R_task: F1 (or EM) of the final answer; 0 without an answer."""
    return _component("task", outcome)


@reward()
def agemem_context(completions: list[Any], outcome: list[dict[str, Any]], **kwargs: Any) -> list[float]:
    """R_context: within the budget (1/2), share of distractor notes removed (1/4), question entities kept (1/4)."""
    return _component("context", outcome)


@reward()
def agemem_memory(completions: list[Any], outcome: list[dict[str, Any]], **kwargs: Any) -> list[float]:
    """R_memory: supporting facts stored (1/2), no superseded fact left (1/4), relevance of retrievals (1/4)."""
    return _component("memory", outcome)


@reward()
def agemem_penalty(completions: list[Any], outcome: list[dict[str, Any]], **kwargs: Any) -> list[float]:
    """Penalties: -1 past the turn limit, -0.5 when the context overflowed its budget; both for an answer before the question."""
    return _component("penalty", outcome)
