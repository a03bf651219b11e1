"""Reward plugins: plain batch functions in TRL's ``reward_funcs`` convention.

``fn(completions, **fields) -> list[float | None]``: ``completions`` are strings (or message
lists, whose last message is used); ``fields`` are dataset columns as lists of the same length
(plus whatever TRL passes, so every plugin takes ``**kwargs``); ``None`` means "not applicable
to this sample". Plugins are registered with ``@reward``, found by name, by ``module:function``
or through the ``memrl.rewards`` entry-point group, composed with weights by :class:`RewardSet`,
and every call is checked: a plugin that raises or returns a bad value fails loudly, never 0.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from memrl.errors import UserError

RewardFn = Callable[..., list]
_REGISTRY: dict[str, tuple[RewardFn, str]] = {}
_builtins_loaded = False


class RewardError(UserError):
    """A reward plugin raised or returned something that is not a list of finite numbers / None."""


def reward(name: str | None = None, *, description: str = "") -> Callable[[RewardFn], RewardFn]:
    """Register a reward plugin under ``name`` (default: the function's name)."""

    def register(fn: RewardFn) -> RewardFn:
        key = name or fn.__name__
        if key in _REGISTRY and _REGISTRY[key][0] is not fn:
            raise UserError(f"reward {key!r} is already registered by {_REGISTRY[key][0].__module__}; pick another name")
        _REGISTRY[key] = (fn, description or _first_line(fn))
        fn.reward_name = key
        return fn

    return register


def _first_line(fn: Callable) -> str:
    return (fn.__doc__ or "").strip().split("\n")[0]


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        importlib.import_module("memrl.rewards")


def _entry_points() -> dict[str, Any]:
    return {ep.name: ep for ep in importlib.metadata.entry_points(group="memrl.rewards")}


def get_reward(spec: str | RewardFn) -> RewardFn:
    """A plugin by registered name, ``module:function`` path, or entry point; or a callable."""
    if callable(spec):
        return spec
    _load_builtins()
    if spec in _REGISTRY:
        return _REGISTRY[spec][0]
    if ":" in spec:
        module, _, attr = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise UserError(f"cannot load reward {spec!r}: {e}") from None
        if not callable(fn):
            raise UserError(f"reward {spec!r} is not callable")
        return fn
    points = _entry_points()
    if spec in points:
        return points[spec].load()
    known = sorted(set(_REGISTRY) | set(points))
    close = difflib.get_close_matches(spec, known, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UserError(f"unknown reward {spec!r}: not registered, not a module:function path, not an entry point.{hint} Run `memrl rewards`.")


def list_rewards() -> list[tuple[str, str]]:
    """(name, one-line description) for built-ins, registered plugins and entry points."""
    _load_builtins()
    rows = {name: desc for name, (_, desc) in _REGISTRY.items()}
    for name, ep in _entry_points().items():
        rows.setdefault(name, f"entry point {ep.value}")
    return sorted(rows.items())


def name_of(fn: RewardFn) -> str:
    return getattr(fn, "reward_name", getattr(fn, "__name__", type(fn).__name__))


def check_rewards(name: str, values: Any, n: int) -> list[float | None]:
    """``values`` as a list of ``n`` finite floats or None, or a RewardError naming plugin,
    sample and value. bool is rejected: ``True`` as a reward is almost always a bug."""
    if not isinstance(values, (list, tuple)):
        raise RewardError(f"reward {name!r} returned {type(values).__name__}, not a list of {n} numbers")
    if len(values) != n:
        raise RewardError(f"reward {name!r} returned {len(values)} values for {n} completions")
    out: list[float | None] = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) and not hasattr(v, "__float__"):
            raise RewardError(f"reward {name!r} sample {i}: {v!r} is not a number (return floats or None)")
        f = float(v)
        if not math.isfinite(f):
            raise RewardError(f"reward {name!r} sample {i}: {f} is not finite")
        out.append(f)
    return out


def call_reward(fn: RewardFn, completions: Sequence[Any], **fields: Any) -> list[float | None]:
    """Call a plugin and validate what it returns; an exception inside it is re-raised as a
    RewardError naming it (chained), never turned into 0.0."""
    name = name_of(fn)
    try:
        values = fn(completions=list(completions), **fields)
    except RewardError:
        raise
    except Exception as e:
        raise RewardError(f"reward {name!r} raised on a batch of {len(completions)}: {type(e).__name__}: {e}") from e
    return check_rewards(name, values, len(completions))


@dataclass
class RewardOutput:
    total: list[float]
    components: dict[str, list[float | None]]


class RewardSet:
    """Weighted composition. ``total`` sums weight x value over components that are not None
    (TRL's nansum); weight-0 components are computed and logged but do not count."""

    def __init__(self, specs: Mapping[str | RewardFn, float] | Sequence[str | RewardFn]):
        items = specs.items() if isinstance(specs, Mapping) else [(s, 1.0) for s in specs]
        self.fns, self.weights = [], []
        for spec, weight in items:
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight):
                raise UserError(f"reward weight for {spec!r} must be a finite number, got {weight!r}")
            self.fns.append(get_reward(spec))
            self.weights.append(float(weight))
        if not self.fns:
            raise UserError("a RewardSet needs at least one reward plugin")
        self.names = [name_of(f) for f in self.fns]

    def __call__(self, completions: Sequence[Any], **fields: Any) -> RewardOutput:
        components = {name: call_reward(fn, completions, **fields) for name, fn in zip(self.names, self.fns)}
        total = [
            sum(w * v[i] for w, v in zip(self.weights, components.values()) if v[i] is not None)
            for i in range(len(completions))
        ]
        return RewardOutput(total, components)


def completion_text(completion: Any) -> str:
    """The text of a completion: a string, or the last message's content of a conversation."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        content = completion[-1].get("content", "")
        return content if isinstance(content, str) else str(content)
    return str(completion)
