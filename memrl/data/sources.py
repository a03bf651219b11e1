"""The ``source`` setting every env shares: ``"synthetic"`` names an env's own seeded generator.

Envs read real data under the data set's name (``"hotpotqa"``, ``"locomo"``) and generate tasks
under ``"synthetic"``; an env whose generator has a more specific name (MemAgent's ``"needle"``)
accepts ``"synthetic"`` for it too. ``"generated"``, AgeMem's old name, still means ``"synthetic"``.
"""

from __future__ import annotations

from memrl.errors import UserError

SYNTHETIC = "synthetic"
_OLD_NAMES = {"generated": SYNTHETIC}


def source_name(source: str, allowed: tuple[str, ...], synthetic: str = SYNTHETIC) -> str:
    """``source`` as the env names it (``synthetic`` is the env's generator), or a one-line error."""
    name = _OLD_NAMES.get(source, source)
    name = synthetic if name == SYNTHETIC else name
    if name not in allowed:
        shown = sorted(set(allowed) | {SYNTHETIC})
        raise UserError(f"source {source!r} must be one of {', '.join(repr(s) for s in shown)}")
    return name
