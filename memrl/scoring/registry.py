"""Reward plugins: plain batch functions in TRL's ``reward_funcs`` convention.

``fn(completions, **fields) -> list[float | None]``: ``completions`` are strings or conversations
(lists of message dicts; :func:`completion_text` takes the last assistant message); ``fields``
are dataset columns as lists of the same length, plus whatever TRL passes (``prompts``,
``completion_ids``, ``trainer_state``...), so every plugin takes ``**kwargs``. ``None`` means
"not applicable to this sample", as in TRL.

Plugins are registered with :func:`reward`, found by :func:`get_reward` (a registered name, a
``module:function`` path, or an entry point in the ``memrl.rewards`` group), composed with weights
by :class:`RewardSet`, and every call is checked: a plugin that raises or returns a bad value
fails loudly (:class:`RewardError`), never as a silent 0.0 that would poison the advantages.
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
def reward(name: str | RewardFn | None = None, *, description: str = "") -> Any:
    """Register a reward plugin under ``name`` (default: the function's name).

    ``description`` (default: the docstring's first line) is what ``memrl rewards`` lists.
    Use as ``@reward``, ``@reward()`` or ``@reward("name", description=...)``.
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
        return fn

    return register


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
    rows = {name: desc for name, (_, desc) in _REGISTRY.items()}
    for name, ep in _entry_points().items():
        if name not in rows:
            rows[name] = _entry_point_description(ep)
    return sorted(rows.items())


def _entry_point_description(ep: importlib.metadata.EntryPoint) -> str:
    try:
        return _first_line(_load_entry_point(ep)) or f"entry point {ep.value}"
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


# -- composition ---------------------------------------------------------------------------------
@dataclass
class RewardOutput:
    """What a :class:`RewardSet` gives: weighted totals and each plugin's unweighted values."""

    total: list[float]
    components: dict[str, list[float | None]]

    def metrics(self) -> dict[str, float]:
        """``reward/<name>/mean`` over the samples each plugin applied to (weight 0 included)."""
        out = {}
        for name, values in self.components.items():
            given = [v for v in values if v is not None]
            if given:
                out[f"reward/{name}/mean"] = math.fsum(given) / len(given)
        return out


class RewardSet:
    """Weighted composition of reward plugins.

    ``specs``: ``{spec: weight}``, or a sequence of specs (weight 1.0 each) or ``(spec, weight)``
    pairs; a spec is anything :func:`get_reward` takes. Weights may be negative (penalties).

    ``total[i]`` is the sum of ``weight * value`` over the plugins whose value for sample ``i`` is
    not None: TRL's ``nansum``, so a plugin that does not apply to a sample neither adds nor
    removes anything. A sample no weighted plugin applies to gets 0.0 and a logged warning, as in
    TRL. Weight-0 plugins are computed, validated and returned in ``components`` (to log as
    ``reward/<name>/mean``) but never count, as verifiers does for metrics.
    """

    def __init__(self, specs: Mapping[str | RewardFn, float] | Sequence[Any] | str | RewardFn):
        self.fns: list[RewardFn] = []
        self.weights: list[float] = []
        self.names: list[str] = []
        for spec, weight in _pairs(specs):
            if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not math.isfinite(weight):
                raise UserError(f"reward weight for {spec!r} must be a finite number, got {weight!r}")
            fn = get_reward(spec)
            self.fns.append(fn)
            self.weights.append(float(weight))
            self.names.append(name_of(fn, spec))
        if not any(self.weights):
            raise UserError("a RewardSet needs at least one reward plugin with a nonzero weight, e.g. {'exact_match': 1.0}")
        twice = sorted({n for n in self.names if self.names.count(n) > 1})
        if twice:
            raise UserError(f"reward(s) {', '.join(map(repr, twice))} listed twice in one RewardSet; list each once with one weight")

    def __repr__(self) -> str:
        return f"RewardSet({dict(zip(self.names, self.weights))})"

    def check_fields(self, fields: Sequence[str]) -> None:
        """Raise a RewardError now if a plugin cannot be called with these batch fields, so a
        signature problem is found before a model loads, not after the episodes ran."""
        given = {name: [] for name in fields}
        for name, fn in zip(self.names, self.fns):
            problem = _signature_problem(fn, given)
            if problem:
                raise RewardError(f"reward {name!r} {problem}")

    def __call__(self, completions: Sequence[Any], **fields: Any) -> RewardOutput:
        completions = list(completions)
        components = {name: _call(fn, name, completions, fields) for name, fn in zip(self.names, self.fns)}
        return RewardOutput(self._totals(components, len(completions)), components)

    def _totals(self, components: dict[str, list[float | None]], n: int) -> list[float]:
        """Weighted sums over the values that are not None (TRL's nansum)."""
        totals, unscored = [], []
        for i in range(n):
            counted = [w * v[i] for w, v in zip(self.weights, components.values()) if w and v[i] is not None]
            if not counted:
                unscored.append(i)
            totals.append(math.fsum(counted))
        if unscored:
            weighted = [name for name, w in zip(self.names, self.weights) if w]
            log.warning(
                "no reward with a nonzero weight applies to %d of %d samples (first: sample %d; every one of "
                "%s returned None for it); they get 0.0", len(unscored), n, unscored[0], weighted,
            )
        return totals


def _pairs(specs: Any) -> list[tuple[Any, Any]]:
    if isinstance(specs, str) or callable(specs):
        return [(specs, 1.0)]
    if isinstance(specs, Mapping):
        return list(specs.items())
    if isinstance(specs, Sequence):
        return [s if isinstance(s, tuple) and len(s) == 2 else (s, 1.0) for s in specs]
    raise UserError(f"rewards must be a mapping {{name: weight}} or a list of names, got {type(specs).__name__}")
