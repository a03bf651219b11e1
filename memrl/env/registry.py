"""Environments register under versioned ids (``memrl/<Name>-v<N>``) and are made by id."""

from __future__ import annotations

import difflib
import importlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from memrl.errors import UserError

_ID = re.compile(r"^(?:[\w.-]+/)?[\w.-]+-v\d+$")


@dataclass(frozen=True)
class EnvSpec:
    """How to build one registered environment."""

    id: str
    entry_point: str | Callable[..., Any]  # "module:Class" or a callable
    kwargs: dict[str, Any] = field(default_factory=dict)
    description: str = ""

    def make(self, **kwargs: Any) -> Any:
        factory = self.entry_point
        if isinstance(factory, str):
            module, _, attr = factory.partition(":")
            factory = getattr(importlib.import_module(module), attr)
        env = factory(**{**self.kwargs, **kwargs})
        env.spec = self
        return env


registry: dict[str, EnvSpec] = {}
_builtins_loaded = False


def register(
    id: str,
    entry_point: str | Callable[..., Any],
    *,
    kwargs: dict[str, Any] | None = None,
    description: str = "",
) -> EnvSpec:
    """Register an environment; ids are versioned (``memrl/FactRecall-v0``) and unique."""
    if not _ID.match(id):
        raise UserError(f"environment id {id!r} is not versioned; use 'namespace/Name-v0'")
    if id in registry:
        raise UserError(f"environment id {id!r} is already registered; bump its version (-v1)")
    registry[id] = EnvSpec(id, entry_point, dict(kwargs or {}), description)
    return registry[id]


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        importlib.import_module("memrl.envs")


def spec(id: str) -> EnvSpec:
    """The spec for ``id``; an unknown id gets one line with the closest registered ids.

    ``"module:namespace/Name-v0"`` (Gymnasium's form) imports ``module`` first, so an env a user
    registers in their own module can be named on the command line (``--env_id my_env:mine/Rooms-v0``).
    """
    _load_builtins()
    module, colon, id = id.rpartition(":")
    if colon:
        _import_env_module(module, id)
    if id in registry:
        return registry[id]
    close = difflib.get_close_matches(id, list(registry), n=3, cutoff=0.6)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise UserError(f"unknown environment {id!r}.{hint} Run `memrl envs` to list them.")


def _import_env_module(module: str, id: str) -> None:
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or not module.startswith(exc.name):
            raise  # the module exists but one of its own imports is missing: show the real error
        raise UserError(f"cannot import {module!r} to register {id!r}: no module {exc.name!r}; put its folder on "
                        "PYTHONPATH (e.g. PYTHONPATH=.) or install its package") from None


def make(id: str, **kwargs: Any) -> Any:
    """Build the environment registered as ``id`` (kwargs override the registered defaults)."""
    return spec(id).make(**kwargs)


def list_envs() -> list[EnvSpec]:
    _load_builtins()
    return sorted(registry.values(), key=lambda s: s.id)
