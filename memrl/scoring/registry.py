"""Reward plugins: plain batch functions in TRL's ``reward_funcs`` convention.

``fn(prompts, completions, **kwargs) -> list[float | None]``, called by keyword, one value per
sample. As in TRL's GRPOTrainer, ``prompts`` and ``completions`` are conversations (lists of
``{"role", "content"}`` messages; a completion is the final reply as one assistant message) and
the keyword arguments hold ``completion_ids`` and every task column, as lists of the same length;
memrl adds the episode (``trajectory``, ``turns``, ``outcome``, ``final_memory``...; see
:mod:`memrl.scoring.batch`). So every plugin takes ``**kwargs``, and a plugin written for TRL runs
in memrl unchanged and the other way round. ``None`` means "not applicable to this sample".

Plugins are registered with :func:`reward`, found by :func:`get_reward` (a registered name, a
``module:function`` path, or an entry point in the ``memrl.rewards`` group), composed with weights
and parameters by :class:`~memrl.scoring.compose.RewardSet`, which checks every signature when it
is built, and every call is checked: a plugin that raises or returns a bad value fails loudly
(:class:`RewardError`), never as a silent 0.0 that would poison the advantages.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import importlib.metadata
import inspect
import logging
import math
import numbers
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from memrl.errors import UserError

RewardFn = Callable[..., Sequence[Any]]
GROUP = "memrl.rewards"  # the entry-point group third-party packages register plugins in

_REGISTRY: dict[str, tuple[RewardFn, str]] = {}
_builtins_loaded = False
log = logging.getLogger(__name__)


class RewardError(UserError):
    """A reward plugin raised, or returned something other than one finite number / None per sample."""


# -- registration and lookup ---------------------------------------------------------------------
def reward(name: str | RewardFn | None = None, *, description: str = "", factory: bool = False) -> Any:
    """Register a reward plugin under ``name`` (default: the function's name).

    ``description`` (default: the docstring's first line) is what ``memrl rewards`` lists, also
    for a plugin an entry point names. ``factory=True`` marks a function that takes the plugin's
    parameters and returns the batch function (a class is always a factory). Use as ``@reward``,
    ``@reward()`` or ``@reward("name", description=..., factory=...)``.
    """
    if callable(name):  # bare @reward: the function came in as ``name``
        return reward()(name)

    def register(fn: RewardFn) -> RewardFn:
        key = name or fn.__name__
        if key in _REGISTRY and not _same_function(_REGISTRY[key][0], fn):
            taken = _REGISTRY[key][0]
            raise UserError(
                f"reward {key!r} is already registered by {taken.__module__}.{taken.__qualname__}; "
                f"register {fn.__module__}.{fn.__qualname__} under another name: @reward('my_{key}')"
            )
        _REGISTRY[key] = (fn, description or _first_line(fn))
        # On the function too: an entry point loads the function, not the name it was registered by.
        try:
            fn.__memrl_reward__ = {"description": description, "factory": factory}
        except (AttributeError, TypeError):  # a bound method or a builtin: the registry row is all there is
            pass
        return fn

    return register


def is_factory(fn: Any) -> bool:
    """A class, or a function marked ``@reward(factory=True)``: called with the parameters to
    make the batch function."""
    return isinstance(fn, type) or bool(getattr(fn, "__memrl_reward__", {}).get("factory"))


def description_of(fn: Any) -> str:
    """The ``@reward(description=...)``, else the registry's, else the docstring's first line."""
    given = getattr(fn, "__memrl_reward__", {}).get("description")
    registered = [desc for f, desc in _REGISTRY.values() if f is fn]
    return given or (registered[0] if registered else "") or _first_line(fn)


def _same_function(a: Callable, b: Callable) -> bool:
    # A reloaded module (importlib.reload, a notebook cell run twice) makes a new function object
    # with the same qualified name: that is the same plugin, so it replaces the old one.
    def key(f: Callable) -> tuple[Any, Any]:
        return getattr(f, "__module__", None), getattr(f, "__qualname__", None)

    return a is b or (key(a) == key(b) and key(a)[1] is not None)


def _first_line(fn: Callable) -> str:
    doc = inspect.getdoc(fn) or ""
    return doc.strip().split("\n")[0]


def _load_builtins() -> None:
    """Import the built-in plugins once, on the first lookup (importing registers them)."""
    global _builtins_loaded
    if not _builtins_loaded:
        importlib.import_module("memrl.rewards")
        _builtins_loaded = True  # only after success, so a failed import is retried and seen again


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=GROUP)}


def get_reward(spec: str | RewardFn) -> RewardFn:
    """A plugin: a callable as is, a registered name, a ``module:function`` path, or an entry point.

    Raises UserError for a name found nowhere, with the closest known name and where it looked.
    """
    if callable(spec):
        return spec
    if not isinstance(spec, str) or not spec:
        raise UserError(f"a reward must be a name, a 'module:function' path or a callable, got {spec!r}")
    _load_builtins()
    if spec in _REGISTRY:
        return _REGISTRY[spec][0]
    if ":" in spec:
        return _load_path(spec)
    points = _entry_points()
    if spec in points:
        return _load_entry_point(points[spec])
    known = sorted(set(_REGISTRY) | set(points))
    close = difflib.get_close_matches(spec, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UserError(
        f"unknown reward {spec!r}: not a registered name, not an entry point in group {GROUP!r}, "
        f"and not a 'module:function' path.{hint} Run `memrl rewards` to list them."
    )


def _load_path(spec: str) -> RewardFn:
    module, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except Exception as e:  # the user's module: a failing import (any error in its body) is a broken plugin
        first_line = (str(e).strip().splitlines() or [""])[0]
        raise UserError(f"cannot load reward {spec!r}: {type(e).__name__}: {first_line}") from e
    if not callable(fn):
        raise UserError(f"reward {spec!r} is a {type(fn).__name__}, not a function")
    return fn


def _load_entry_point(ep: importlib.metadata.EntryPoint) -> RewardFn:
    try:
        fn = ep.load()
    except Exception as e:  # third-party import code: any failure is a broken plugin install
        raise UserError(f"cannot load reward entry point {ep.name!r} ({ep.value}): {type(e).__name__}: {e}") from e
    if not callable(fn):
        raise UserError(f"reward entry point {ep.name!r} ({ep.value}) is a {type(fn).__name__}, not a function")
    return fn


def list_rewards() -> list[tuple[str, str]]:
    """(name, one-line description) of every built-in, registered and entry-point plugin, by name."""
    _load_builtins()
    # Entry points first: loading one may register more names (its module's @reward), and the
    # listing should not depend on whether it was loaded before.
    points = {name: _entry_point_description(ep) for name, ep in _entry_points().items() if name not in _REGISTRY}
    rows = {name: desc for name, (_, desc) in _REGISTRY.items()}
    return sorted({**points, **rows}.items())


def _entry_point_description(ep: importlib.metadata.EntryPoint) -> str:
    try:
        return description_of(_load_entry_point(ep)) or f"entry point {ep.value}"
    except UserError as e:  # a listing shows a broken plugin instead of failing as a whole
        return str(e)


def name_of(fn: RewardFn, spec: Any = None) -> str:
    """The name a plugin is logged under: the registered name or entry point it was asked for by,
    else the name it is registered under, else its ``__name__``."""
    if isinstance(spec, str) and ":" not in spec:
        return spec
    registered = [key for key, (f, _) in _REGISTRY.items() if f is fn]
    return registered[0] if registered else getattr(fn, "__name__", None) or type(fn).__name__


# -- validation ----------------------------------------------------------------------------------
def check_rewards(name: str, values: Any, n: int, completions: Sequence[Any] | None = None) -> list[float | None]:
    """``values`` as a list of ``n`` finite floats or None, else a RewardError naming the plugin,
    the sample index and the value (and the completion's start, when ``completions`` is given).

    bool is rejected although it is an int: a plugin returning ``True`` has almost always returned
    a check (``pred == gold``) where it meant a score, and a silent 1.0 would hide a sign flip or
    a swapped branch. Return ``float(pred == gold)``. numpy numbers are real numbers and pass.
    """
    if not isinstance(values, (list, tuple)):
        raise RewardError(f"reward {name!r} returned a {type(values).__name__}, not a list of {n} floats (or None)")
    if len(values) != n:
        raise RewardError(f"reward {name!r} returned {len(values)} values for {n} completions; return one per completion")
    out: list[float | None] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
        elif isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise RewardError(f"reward {name!r} sample {i}{_snippet(completions, i)}: {v!r} ({type(v).__name__}) is not a number; return floats or None")
        elif not math.isfinite(f := float(v)):
            raise RewardError(f"reward {name!r} sample {i}{_snippet(completions, i)}: {f} is not finite; return finite floats or None")
        else:
            out.append(f)
    return out


def _snippet(completions: Sequence[Any] | None, i: int) -> str:
    if completions is None:
        return ""
    text = completion_text(completions[i])
    return f" (completion {text[:40]!r}{'...' if len(text) > 40 else ''})"


def call_reward(fn: RewardFn, completions: Sequence[Any], /, **fields: Any) -> list[float | None]:
    """Call a plugin on a batch and validate what it returns.

    A missing field or a plugin without ``**kwargs`` is reported before the call; an exception
    inside the plugin is re-raised as a RewardError naming it (chained), never turned into 0.0.
    """
    return _call(fn, name_of(fn), list(completions), fields)


def _call(fn: RewardFn, name: str, completions: list[Any], fields: dict[str, Any]) -> list[float | None]:
    # Fields travel as one dict, not **kwargs, so a dataset column may be called anything ("name").
    problem = _signature_problem(fn, fields)
    if problem:
        raise RewardError(f"reward {name!r} {problem}")
    try:
        values = fn(completions=completions, **fields)
    except Exception as e:
        first_line = (str(e).strip().splitlines() or [""])[0]  # the whole message is in the chained traceback
        raise RewardError(f"reward {name!r} raised on a batch of {len(completions)}: {type(e).__name__}: {first_line}") from e
    return check_rewards(name, values, len(completions), completions)


def _signature_problem(fn: RewardFn, fields: Mapping[str, Any]) -> str | None:
    """Why calling ``fn(completions=..., **fields)`` cannot work, in words, or None."""
    params = _params(fn)
    if params is None:  # no signature to read (a C function): let the call decide
        return None
    required, takes_kwargs, accepted = params
    missing = [p for p in required if p != "completions" and p not in fields]
    if missing:
        have = ", ".join(sorted(fields)) or "none"
        return f"needs field(s) {', '.join(map(repr, missing))} in the batch (fields given: {have}); add them to the dataset"
    if not takes_kwargs:
        extra = sorted(set(fields) - accepted)
        if extra:
            return f"does not take **kwargs but is given {', '.join(map(repr, extra))}; TRL and memrl pass every dataset column, so add **kwargs"
    return None


def plugin_problem(fn: RewardFn, params: Mapping[str, Any] | None = None) -> str | None:
    """Why ``fn`` cannot be called as a plugin with these parameters, in words, or None. Read
    from its signature when a RewardSet is built, before a model loads or an episode runs."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to read (a C function): let the call decide
        return None
    values = sig.parameters.values()
    positional = [p.name for p in values if p.kind is inspect.Parameter.POSITIONAL_ONLY and p.default is p.empty]
    if positional:
        return (f"has positional-only parameter {positional[0]!r}; TRL and memrl pass everything by keyword "
                f"(prompts=, completions=, ...): drop the '/'")
    _, takes_kwargs, accepted = _read_params(fn)
    if not takes_kwargs:
        return ("does not take **kwargs; TRL and memrl also pass prompts, completion_ids and every task column "
                "(memrl the trajectory too): add **kwargs")
    unknown = [k for k in (params or {}) if k not in accepted]
    if unknown:
        named = sorted(accepted - {"prompts", "completions", "completion_ids"})
        close = difflib.get_close_matches(unknown[0], named, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return (f"has no parameter {unknown[0]!r}{hint} (its parameters: {', '.join(named) or 'none'}); "
                f"a parameter must be named in the signature, e.g. def f(completions, {unknown[0]}=..., **kwargs)")
    return None


def factory_problem(factory: Any, params: Mapping[str, Any]) -> str | None:
    """Why ``factory(**params)`` cannot be called, in words (naming the missing or unknown
    parameter), or None."""
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # no signature to read: let the call decide
        return None
    try:
        sig.bind(**params)
    except TypeError as e:  # "missing a required argument: 'limit'", "got an unexpected keyword argument 'x'"
        return f"cannot be made with parameters {dict(params)!r}: {e}"
    return None


def _params(fn: RewardFn) -> tuple[tuple[str, ...], bool, frozenset[str]] | None:
    try:
        return _cached_params(fn)
    except TypeError:  # an unhashable callable object: read its signature every time
        return _read_params(fn)


@functools.lru_cache(maxsize=256)
def _cached_params(fn: RewardFn) -> tuple[tuple[str, ...], bool, frozenset[str]] | None:
    return _read_params(fn)


def _read_params(fn: RewardFn) -> tuple[tuple[str, ...], bool, frozenset[str]] | None:
    """(required keyword-passable parameters, takes **kwargs, all keyword-passable names)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    required = tuple(p.name for p in sig.parameters.values() if p.kind in kinds and p.default is p.empty)
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    accepted = frozenset(p.name for p in sig.parameters.values() if p.kind in kinds)
    return required, takes_kwargs, accepted


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the last assistant message of a conversation.

    Message content may be a string or a list of parts (``{"type": "text", "text": ...}``).
    """
    if isinstance(completion, str):
        return completion
    if isinstance(completion, (list, tuple)):
        messages = [m for m in completion if isinstance(m, Mapping)]
        if not messages:
            return ""
        replies = [m for m in messages if m.get("role", "assistant") == "assistant"] or messages
        return _content_text(replies[-1].get("content"))
    return "" if completion is None else str(completion)


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content)
    return str(content)


