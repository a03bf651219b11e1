"""What the rollout engine, the trainers and eval read of an environment: the whole env contract.

:class:`memrl.env.base.MemoryEnv` fulfils it (subclasses fill its hooks; they never override
``reset`` or ``step``). Anything else that has these members can be played, trained and
evaluated too: the types are structural (``typing.Protocol``), checked by ``isinstance`` for the
methods. An optional scripted expert (:class:`ScriptedExpert`) enables the SFT warm start.
"""

from __future__ import annotations

import random
from typing import Any, Protocol, runtime_checkable

from memrl.actions import ReplyFormat, ToolSpec

Messages = list[dict[str, str]]


@runtime_checkable
class Env(Protocol):
    """A text environment as memrl's loops use it.

    The episode (rollout engine): ``reset`` / ``step`` in Gymnasium's shape, ``info["context"]``
    ``"append"`` or ``"rewrite"`` (see :mod:`memrl.env.base`); ``cut`` when the engine ends it at a
    token limit; ``close`` at the end. Read after a step: ``task`` (the task of the episode),
    ``done``, ``outcome`` (``score``, ``success``, ``answered``, ``truncated`` and the env's own
    fields, which reward plugins and eval tables read), ``memory`` (the long-term store, or None),
    ``format_errors``. Tasks (trainers, eval): ``make_tasks`` and ``sample_task``. Baselines and
    eval tables: ``supported_modes``, ``memory_mode``, ``size_key`` / ``task_size``,
    ``score_name``. Tools and the reply format (the TRL adapter, the checker): ``tool_specs``,
    ``protocol``.
    """

    spec: Any  # the registry's EnvSpec (its id), set by make()
    max_turns: int
    protocol: ReplyFormat
    tool_specs: dict[str, ToolSpec]
    supported_modes: tuple[str, ...]
    memory_mode: str
    size_key: str | None
    score_name: str | None  # what outcome["score"] measures (eval tables); None: the env's metric
    task: dict[str, Any]
    done: bool
    outcome: dict[str, Any]
    memory: Any  # a memrl.memory store (snapshot(), entries(), ops), None before the first reset
    format_errors: int

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Messages, dict[str, Any]]: ...

    def step(self, text: str) -> tuple[Messages, float, bool, bool, dict[str, Any]]: ...

    def cut(self, reason: str) -> float: ...

    def close(self) -> None: ...

    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]: ...

    def sample_task(self, rng: random.Random) -> dict[str, Any]: ...

    def task_size(self, task: dict[str, Any]) -> float | None: ...


@runtime_checkable
class ScriptedExpert(Protocol):
    """An env with a scripted expert: ``expert_reply()`` is what a good agent writes now, from
    what the env shows (the SFT warm start's demonstrations, the tests' reference scores)."""

    def expert_reply(self) -> str: ...
