"""Reward plugin registry: lookup (name, module:function, entry point), loud validation, weighted
composition."""

from __future__ import annotations

import logging
import math
import types

import numpy as np
import pytest

from memrl.errors import UserError
from memrl.scoring import RewardError, RewardSet, call_reward, check_rewards, get_reward, list_rewards, reward
from memrl.scoring import registry as reg


def length_reward(completions, **kwargs):
    """Length of each completion.

    (Only the first line is the description.)
    """
    return [float(len(c)) for c in completions]


NOT_A_FUNCTION = 3  # a module attribute that is not a function, for the path test


@pytest.fixture(autouse=True)
def clean_registry():
    """Each test registers into a copy of the registry, so test plugins never leak out."""
    reg._load_builtins()
    saved = dict(reg._REGISTRY)
    yield
    reg._REGISTRY.clear()
    reg._REGISTRY.update(saved)


def entry_points_returning(monkeypatch, *eps):
    monkeypatch.setattr(reg.importlib.metadata, "entry_points", lambda group: list(eps) if group == "memrl.rewards" else [])


# -- registration and lookup ---------------------------------------------------------------------
def test_builtins_are_listed_with_their_docstring_first_line():
    names = dict(list_rewards())
    builtins = {"exact_match", "token_f1", "multi_answer_em", "multi_answer_em_fraction", "boxed_em", "format_compliance"}
    assert builtins <= set(names)
    for name in builtins:
        doc = get_reward(name).__doc__
        assert names[name] and names[name] == doc.strip().split("\n")[0]


def test_decorator_registers_under_the_function_name_or_a_given_one():
    def my_reward(completions, **kwargs):
        """Mine."""
        return [1.0] * len(completions)

    assert reward()(my_reward) is my_reward
    assert get_reward("my_reward") is my_reward and ("my_reward", "Mine.") in list_rewards()

    @reward  # bare, without parentheses
    def bare(completions, **kwargs):
        """Bare."""
        return [0.0] * len(completions)

    assert get_reward("bare") is bare and ("bare", "Bare.") in list_rewards()
    reward("renamed", description="explicit words")(length_reward)
    assert get_reward("renamed") is length_reward and ("renamed", "explicit words") in list_rewards()


def test_builtins_load_on_the_first_lookup(monkeypatch):
    imported = []
    monkeypatch.setattr(reg, "_builtins_loaded", False)
    monkeypatch.setattr(reg.importlib, "import_module", lambda name: imported.append(name))
    get_reward("exact_match")
    get_reward("token_f1")
    assert imported == ["memrl.rewards"]  # once


def test_decorator_refuses_a_different_function_under_a_taken_name():
    with pytest.raises(UserError, match=r"'exact_match' is already registered by memrl\.rewards\.match\.exact_match.*another name"):
        reward("exact_match")(length_reward)


def test_decorator_accepts_the_same_function_again_and_a_reloaded_copy():
    reward("twice")(length_reward)
    reward("twice")(length_reward)  # the same object: nothing to complain about
    copy = types.FunctionType(length_reward.__code__, globals(), "length_reward")
    copy.__qualname__ = length_reward.__qualname__  # what importlib.reload of this module makes
    reward("twice")(copy)
    assert get_reward("twice") is copy


def test_lookup_by_module_function_path():
    assert get_reward("tests.scoring.test_registry:length_reward") is length_reward
    assert get_reward(length_reward) is length_reward  # a callable is taken as is


@pytest.mark.parametrize(
    "spec, needle",
    [
        ("tests.scoring.no_such_module:fn", "cannot load reward 'tests.scoring.no_such_module:fn': ModuleNotFoundError"),  # no module
        ("tests.scoring.test_registry:missing", "AttributeError"),  # no attribute
        ("tests.scoring.test_registry:NOT_A_FUNCTION", "is a int, not a function"),  # not callable
        ("", "must be a name"),  # empty
    ],
)
def test_bad_paths_are_one_line_user_errors(spec, needle):
    with pytest.raises(UserError) as e:
        get_reward(spec)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_lookup_and_listing_of_an_entry_point(monkeypatch):
    ep = types.SimpleNamespace(name="third_party", value="pkg.mod:length_reward", load=lambda: length_reward)
    entry_points_returning(monkeypatch, ep)
    assert get_reward("third_party") is length_reward
    assert ("third_party", "Length of each completion.") in list_rewards()


def test_a_broken_entry_point_is_a_user_error_and_listed_as_broken(monkeypatch):
    def load():
        raise ImportError("No module named 'pkg'")

    entry_points_returning(monkeypatch, types.SimpleNamespace(name="broken", value="pkg:fn", load=load))
    with pytest.raises(UserError, match=r"cannot load reward entry point 'broken' \(pkg:fn\): ImportError") as e:
        get_reward("broken")
    assert isinstance(e.value.__cause__, ImportError)
    assert "cannot load" in dict(list_rewards())["broken"]  # listing still works


def test_a_registered_name_wins_over_an_entry_point_of_the_same_name(monkeypatch):
    entry_points_returning(monkeypatch, types.SimpleNamespace(name="exact_match", value="x:y", load=lambda: length_reward))
    assert get_reward("exact_match") is not length_reward


@pytest.mark.parametrize(
    "spec, suggestion",
    [
        ("exact_mach", "Did you mean 'exact_match'?"),  # a typo of a built-in
        ("boxed-em", "Did you mean 'boxed_em'?"),  # dash for underscore
        ("plugin_thrid", "Did you mean 'plugin_third'?"),  # a typo of an entry point
        ("zzzzzz", None),  # nothing close: no suggestion
    ],
)
def test_unknown_name_says_where_it_looked_and_suggests_the_closest(monkeypatch, spec, suggestion):
    entry_points_returning(monkeypatch, types.SimpleNamespace(name="plugin_third", value="p:f", load=lambda: length_reward))
    with pytest.raises(UserError) as e:
        get_reward(spec)
    msg = str(e.value)
    assert f"unknown reward {spec!r}" in msg and "registered name" in msg and "'memrl.rewards'" in msg
    assert "module:function" in msg and "\n" not in msg
    assert (suggestion in msg) if suggestion else "Did you mean" not in msg


# -- validation ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values, needle",
    [
        ({"a": 1}, "returned a dict, not a list of 2 floats"),  # wrong container
        (np.array([1.0, 2.0]), "returned a ndarray"),  # an array is not a list: call .tolist()
        ([1.0], "returned 1 values for 2 completions"),  # too short
        ([1.0, 2.0, 3.0], "returned 3 values for 2 completions"),  # too long
        ([1.0, "high"], "sample 1 (completion 'bb'): 'high' (str) is not a number"),  # a string
        ([True, 0.0], "sample 0 (completion 'a'): True (bool) is not a number"),  # bool: a check, not a score
        ([np.bool_(True), 0.0], "bool"),  # numpy bool too (its repr and type name vary by numpy version)
        ([0.0, [1.0]], "sample 1 (completion 'bb'): [1.0] (list) is not a number"),  # nested list
        ([math.nan, 1.0], "sample 0 (completion 'a'): nan is not finite"),  # NaN
        ([1.0, -math.inf], "sample 1 (completion 'bb'): -inf is not finite"),  # inf
        ([np.float32("nan"), 1.0], "sample 0 (completion 'a'): nan is not finite"),  # numpy NaN
    ],
)
def test_check_rewards_names_plugin_sample_and_value(values, needle):
    with pytest.raises(RewardError, match="^reward 'r' ") as e:
        check_rewards("r", values, 2, completions=["a", "bb"])
    assert needle in str(e.value) and "\n" not in str(e.value)


@pytest.mark.parametrize(
    "values, expected",
    [
        ((1.0, 2.0), [1.0, 2.0]),  # a tuple is fine
        ([None, 1], [None, 1.0]),  # None = not applicable; ints become floats
        ([np.float32(0.5), np.int64(3)], [0.5, 3.0]),  # numpy scalars are real numbers
        ([-1e308, 0.0], [-1e308, 0.0]),  # large but finite
    ],
)
def test_check_rewards_accepts_finite_numbers_and_none(values, expected):
    out = check_rewards("r", values, 2)
    assert out == expected and all(v is None or type(v) is float for v in out)


def test_the_completion_snippet_is_cut_and_taken_from_the_last_assistant_message():
    convo = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "x" * 100}]
    with pytest.raises(RewardError, match=r"sample 0 \(completion 'x{40}'\.\.\.\): 'bad'"):
        check_rewards("r", ["bad"], 1, completions=[convo])


def test_a_plugin_that_raises_is_never_a_silent_zero():
    def broken(completions, **kwargs):
        raise KeyError("answer")

    with pytest.raises(RewardError, match=r"^reward 'broken' raised on a batch of 2: KeyError: 'answer'$") as e:
        call_reward(broken, ["a", "b"])
    assert isinstance(e.value.__cause__, KeyError)


def test_a_multi_line_exception_message_stays_one_line():
    def broken(completions, **kwargs):
        raise ValueError("first line\nsecond line")

    with pytest.raises(RewardError, match=r"ValueError: first line$") as e:
        call_reward(broken, ["a"])
    assert "second line" in str(e.value.__cause__)


def test_fields_may_have_any_name():
    def echo(completions, **kwargs):
        return [float(len(kwargs["name"][0]) + len(kwargs["fn"][0]))]

    assert call_reward(echo, ["a"], name=["abc"], fn=["de"]) == [5.0]
    assert RewardSet([echo])(["a"], name=["abc"], fn=["de"]).total == [5.0]


@pytest.mark.parametrize(
    "fields, needle",
    [
        ({}, "needs field(s) 'answer' in the batch (fields given: none)"),  # the gold column is missing
        ({"question": ["q"]}, "needs field(s) 'answer' in the batch (fields given: question)"),  # another column only
    ],
)
def test_a_missing_field_is_named_before_the_call(fields, needle):
    with pytest.raises(RewardError, match="^reward 'exact_match' ") as e:
        call_reward(get_reward("exact_match"), ["x"], **fields)
    assert needle in str(e.value)


def test_a_plugin_without_kwargs_is_told_to_take_them():
    def strict(completions, answer):
        return [0.0] * len(completions)

    with pytest.raises(RewardError, match=r"does not take \*\*kwargs but is given 'trainer_state'.*add \*\*kwargs"):
        call_reward(strict, ["x"], answer=["x"], trainer_state=None)
    assert call_reward(strict, ["x"], answer=["x"]) == [0.0]  # exactly its fields: fine


def test_a_callable_object_is_a_plugin():
    class Constant:
        def __call__(self, completions, **kwargs):
            return [0.25] * len(completions)

        __eq__ = object.__eq__  # defining __eq__ drops __hash__: an unhashable plugin
        __hash__ = None

    assert call_reward(Constant(), ["a", "b"], answer=["x", "y"]) == [0.25, 0.25]


# -- composition ---------------------------------------------------------------------------------
def test_reward_set_weights_and_zero_weight_metrics():
    rs = RewardSet({"exact_match": 1.0, "tests.scoring.test_registry:length_reward": 0.0, "token_f1": 0.5})
    assert rs.names == ["exact_match", "length_reward", "token_f1"] and rs.weights == [1.0, 0.0, 0.5]
    out = rs(["<answer>Paris</answer>", "<answer>in Paris France</answer>"], answer=["Paris", "Paris"])
    assert out.components == {"exact_match": [1.0, 0.0], "length_reward": [22.0, 32.0], "token_f1": [1.0, 0.5]}
    assert out.total == pytest.approx([1.0 + 0.5 * 1.0, 0.0 + 0.5 * 0.5])  # length: logged, not counted
    assert out.metrics() == pytest.approx({"reward/exact_match/mean": 0.5, "reward/length_reward/mean": 27.0, "reward/token_f1/mean": 0.75})


@pytest.mark.parametrize(
    "specs, names, weights",
    [
        (["exact_match", "token_f1"], ["exact_match", "token_f1"], [1.0, 1.0]),  # a list: weight 1 each
        ([("exact_match", 2), ("format_compliance", -0.5)], ["exact_match", "format_compliance"], [2.0, -0.5]),  # pairs; a penalty
        ("boxed_em", ["boxed_em"], [1.0]),  # one name alone
        ({length_reward: 1.0}, ["length_reward"], [1.0]),  # a callable as key
    ],
)
def test_reward_set_specs(specs, names, weights):
    rs = RewardSet(specs)
    assert rs.names == names and rs.weights == weights


def test_components_are_named_as_asked_for():
    reward("alias")(length_reward)
    assert RewardSet(["alias"]).names == ["alias"]  # a registered name: that name
    assert RewardSet(["tests.scoring.test_registry:length_reward"]).names == ["alias"]  # a path: its registered name


def test_none_components_are_skipped_in_the_total():
    rs = RewardSet({"multi_answer_em_fraction": 1.0, "exact_match": 2.0})
    out = rs(["<answer>a</answer>", "<answer>b</answer>"], answers=[[], ["b"]], answer=["a", "x"])
    assert out.components["multi_answer_em_fraction"] == [None, 1.0]
    assert out.total == [2.0, 1.0]  # sample 0: only exact_match applies
    assert out.metrics()["reward/multi_answer_em_fraction/mean"] == 1.0  # the mean over samples it applies to


def test_a_sample_no_weighted_reward_applies_to_gets_zero_and_a_warning(caplog):
    rs = RewardSet({"exact_match": 1.0, "tests.scoring.test_registry:length_reward": 0.0})
    with caplog.at_level(logging.WARNING, logger="memrl.scoring.compose"):
        out = rs(["a", "b"], answer=["a", None])
    assert out.total == [1.0, 0.0]
    assert "applies to 1 of 2 samples (first: sample 1; every one of ['exact_match'] returned None" in caplog.text


def test_a_failing_zero_weight_plugin_still_fails_loudly():
    def broken(completions, **kwargs):
        return [math.nan] * len(completions)

    with pytest.raises(RewardError, match="reward 'broken' sample 0"):
        RewardSet({"exact_match": 1.0, broken: 0.0})(["a"], answer=["a"])


@pytest.mark.parametrize(
    "specs, needle",
    [
        ({"exact_match": float("nan")}, "must be a finite number, got nan"),  # NaN weight
        ({"exact_match": "1"}, "must be a finite number, got '1'"),  # a string weight
        ({"exact_match": True}, "must be a finite number, got True"),  # a bool weight
        ({}, "at least one reward plugin with a nonzero weight"),  # nothing
        ({"exact_match": 0.0}, "at least one reward plugin with a nonzero weight"),  # nothing counts
        (["exact_match", "memrl.rewards.match:exact_match"], "'exact_match' listed twice"),  # one plugin, two specs
        (42, "must be a mapping"),  # not a spec at all
        ({"exact_mach": 1.0}, "Did you mean 'exact_match'?"),  # a typo
    ],
)
def test_bad_reward_sets_are_user_errors(specs, needle):
    with pytest.raises(UserError) as e:
        RewardSet(specs)
    assert needle in str(e.value)
