"""Parsing user-given values, shared by every layer (CLI flags, config fields): one place, one
message, and no import of the CLI from below it."""

from __future__ import annotations

import json
from typing import Any

from memrl.errors import UserError


def json_object(text: str | None, flag: str) -> dict[str, Any]:
    """The JSON object given to ``flag`` (``{}`` when not given); anything else is one line."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserError(f"{flag} is not valid JSON ({exc.msg}); write e.g. '{{\"n_facts\": 6}}'") from None
    if not isinstance(value, dict):
        raise UserError(f"{flag} must be a JSON object, got {type(value).__name__}")
    return value
