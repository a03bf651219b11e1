"""Format rewards."""

from __future__ import annotations

from memrl.actions import parse_action
from memrl.scoring.registry import completion_text, reward


@reward(description="1.0 if the completion parses as a valid action (tool calls or an answer, no format error), else 0.0.")
def format_compliance(completions, **kwargs):
    return [float(parse_action(completion_text(c)).ok) for c in completions]
