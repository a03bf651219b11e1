"""Reward plugins composed with weights and parameters, every signature checked when the set is built.

``RewardSet({"exact_match": 1.0, "my_pkg.rewards:memory_budget": {"weight": -0.5, "limit": 10}})``:
a number is the weight; a mapping is ``weight`` (default 1.0) plus the plugin's parameters. A
plain plugin gets its parameters as keyword arguments on every call, so each must be named in its
signature; a factory (a class, or a function marked ``@reward(factory=True)``) is called with
them once to make the batch function.
"""

from __future__ import annotations

import functools
import logging
import math
import numbers
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from memrl.errors import UserError
from memrl.scoring.batch import BATCH_FIELDS
from memrl.scoring.registry import (
    RewardError,
    RewardFn,
    _call,
    _read_params,
    factory_problem,
    get_reward,
    is_factory,
    name_of,
    plugin_problem,
)

log = logging.getLogger(__name__)


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

    ``specs``: ``{spec: weight}`` or ``{spec: {"weight": w, **parameters}}``, or a sequence of specs
    (weight 1.0 each) or ``(spec, weight)`` pairs; a spec is anything :func:`get_reward` takes.
    Weights may be negative (penalties). Each plugin's signature is checked here (a missing
    ``**kwargs``, an unknown or missing parameter): a one-line UserError before any episode runs.

    ``total[i]`` is the sum of ``weight * value`` over the plugins whose value for sample ``i`` is
    not None: TRL's ``nansum``, so a plugin that does not apply to a sample neither adds nor
    removes anything. A sample no weighted plugin applies to gets 0.0 and a logged warning, as in
    TRL. Weight-0 plugins are computed, validated and returned in ``components`` (to log as
    ``reward/<name>/mean``) but never count, as verifiers does for metrics.
    """

    def __init__(self, specs: Mapping[str | RewardFn, Any] | Sequence[Any] | str | RewardFn):
        self.fns: list[RewardFn] = []  # what is called: the plugin, bound to its parameters or made by its factory
        self.weights: list[float] = []
        self.names: list[str] = []
        self.params: list[dict[str, Any]] = []
        for spec, value in _pairs(specs):
            weight, params = _weight_and_params(spec, value)
            plugin = get_reward(spec)
            name = name_of(plugin, spec)
            self.fns.append(_bind(plugin, name, params))
            self.weights.append(weight)
            self.names.append(name)
            self.params.append(params)
        if not any(self.weights):
            raise UserError("a RewardSet needs at least one reward plugin with a nonzero weight, e.g. {'exact_match': 1.0}")
        twice = sorted({n for n in self.names if self.names.count(n) > 1})
        if twice:
            raise UserError(f"reward(s) {', '.join(map(repr, twice))} listed twice in one RewardSet; list each once with one weight")

    def __repr__(self) -> str:
        shown = {n: {"weight": w, **p} if p else w for n, w, p in zip(self.names, self.weights, self.params)}
        return f"RewardSet({shown})"

    def check_fields(self, columns: Sequence[str] | Mapping[str, Any]) -> None:
        """Raise a RewardError now if a plugin cannot be called with these task columns (plus the
        fields memrl always passes), so a missing column is found before a model loads, not after
        the episodes ran."""
        columns = set(columns)
        for name, fn in zip(self.names, self.fns):
            problem = _columns_problem(fn, columns)
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


def _weight_and_params(spec: Any, value: Any) -> tuple[float, dict[str, Any]]:
    """``0.5`` -> (0.5, {}); ``{"weight": 0.5, "limit": 10}`` -> (0.5, {"limit": 10})."""
    params: dict[str, Any] = {}
    if isinstance(value, Mapping):
        params = dict(value)
        value = params.pop("weight", 1.0)
        bad = [k for k in params if not isinstance(k, str) or not k.isidentifier()]
        if bad:
            raise UserError(f"reward {spec!r}: parameter name {bad[0]!r} is not a Python identifier")
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise UserError(f"reward weight for {spec!r} must be a finite number, got {value!r} "
                        f"(write {{name: weight}} or {{name: {{'weight': w, 'param': value}}}})")
    return float(value), params


def _bind(plugin: Any, name: str, params: dict[str, Any]) -> RewardFn:
    """The batch function to call: ``plugin`` itself, ``plugin`` with its parameters bound, or
    what its factory makes of them. Every problem is a one-line UserError naming the plugin."""
    if is_factory(plugin):
        problem = factory_problem(plugin, params)
        if problem:
            raise UserError(f"reward {name!r} {problem}")
        try:
            made = plugin(**params)
        except Exception as e:  # the user's factory: any failure is a broken plugin, said in one line
            first_line = (str(e).strip().splitlines() or [""])[0]
            raise UserError(f"reward {name!r}: its factory raised {type(e).__name__}: {first_line}") from e
        if not callable(made):
            raise UserError(f"reward {name!r}: its factory returned a {type(made).__name__}, not a function")
        problem = plugin_problem(made)
        if problem:
            raise UserError(f"reward {name!r} (made by its factory) {problem}")
        return made
    problem = plugin_problem(plugin, params)
    if problem is None:
        problem = _shadowing_problem(params, BATCH_FIELDS, "a field TRL and memrl pass on every call")
    if problem:
        raise UserError(f"reward {name!r} {problem}")
    return functools.partial(plugin, **params) if params else plugin


def _shadowing_problem(params: Mapping[str, Any], names: Any, what: str) -> str | None:
    clash = sorted(set(params) & set(names))
    if clash:
        return f"parameter {clash[0]!r} is also {what}; one would hide the other: rename the parameter"
    return None


def _columns_problem(fn: RewardFn, columns: set[str]) -> str | None:
    """Why ``fn`` cannot be called with ``columns`` + memrl's fields, in words, or None."""
    bound = fn.keywords if isinstance(fn, functools.partial) else {}  # a factory took its parameters already
    problem = _shadowing_problem(bound, columns, "a task column")
    read = _read_params(fn)
    if problem or read is None:  # no signature to read: the call decides
        return problem
    missing = [p for p in read[0] if p not in columns and p not in BATCH_FIELDS]
    if missing:
        have = ", ".join(sorted(columns)) or "none"
        return (f"needs {', '.join(map(repr, missing))}: not a task column (columns: {have}), not a field memrl "
                f"passes and not a parameter; add it to the tasks or give it as a parameter")
    return None
