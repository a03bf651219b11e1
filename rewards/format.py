"""Format rewards: does the reply follow the action protocol?"""

from __future__ import annotations

from typing import Any

from memrl.actions import parse_action
from memrl.scoring.registry import completion_text, reward


@reward()
def format_compliance(completions: list[Any], **kwargs: Any) -> list[float | None]:
    """1.0 if the reply parses as a valid action (tool calls or an <answer>, no format error), else 0.0.

    Parsed with the default protocol (``<answer>`` tags) and no tool list, so any well-formed tool
    call counts; an environment with another protocol counts format errors itself.
    """
    return [float(parse_action(completion_text(c)).ok) for c in completions]
