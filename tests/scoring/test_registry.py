"""Reward plugin registry: lookup, loud validation, weighted composition."""

from __future__ import annotations

import math
import types

import pytest

from memrl.scoring import RewardError, RewardSet, call_reward, check_rewards, get_reward, list_rewards, reward
from memrl.scoring import registry as reg


def length_reward(completions, **kwargs):
    """Length of each completion."""
    return [float(len(c)) for c in completions]


def test_builtins_are_listed_with_descriptions():
    names = dict(list_rewards())
    assert {"exact_match", "token_f1", "multi_answer_em", "boxed_em", "format_compliance"} <= set(names)
    assert all(names[n] for n in names)


def test_lookup_by_name_path_and_entry_point(monkeypatch):
    assert get_reward("exact_match").__name__ == "exact_match"
    assert get_reward("tests.scoring.test_registry:length_reward") is length_reward
    ep = types.SimpleNamespace(name="third_party", value="pkg:fn", load=lambda: length_reward)
    monkeypatch.setattr(reg.importlib.metadata, "entry_points", lambda group: [ep] if group == "memrl.rewards" else [])
    assert get_reward("third_party") is length_reward
    assert ("third_party", "entry point pkg:fn") in list_rewards()


def test_unknown_name_suggests_the_closest():
    with pytest.raises(RewardError.__mro__[1], match="Did you mean 'exact_match'") as e:
        get_reward("exact_mach")
    assert "\n" not in str(e.value)


def test_decorator_refuses_a_second_function_under_a_taken_name():
    with pytest.raises(ValueError, match="already registered"):
        reward("exact_match")(length_reward)


@pytest.mark.parametrize(
    "values, needle",
    [
        ((1.0, 2.0), None),  # a tuple of numbers is fine
        ({"a": 1}, "not a list"),  # wrong container
        ([1.0], "1 values for 2 completions"),  # wrong length
        ([1.0, "high"], "sample 1: 'high' is not a number"),  # a string
        ([True, 0.0], "sample 0: True is not a number"),  # bool is almost always a bug
        ([math.nan, 1.0], "sample 0: nan is not finite"),  # NaN
        ([1.0, math.inf], "sample 1: inf is not finite"),  # inf
        ([None, 1.0], None),  # None means not applicable
    ],
)
def test_check_rewards_names_plugin_sample_and_value(values, needle):
    if needle is None:
        assert len(check_rewards("r", values, 2)) == 2
    else:
        with pytest.raises(RewardError, match="reward 'r'") as e:
            check_rewards("r", values, 2)
        assert needle in str(e.value)


def test_a_plugin_that_raises_is_never_a_silent_zero():
    def broken(completions, **kwargs):
        raise KeyError("answer")

    with pytest.raises(RewardError, match="reward 'broken' raised on a batch of 2: KeyError") as e:
        call_reward(broken, ["a", "b"])
    assert isinstance(e.value.__cause__, KeyError)


def test_reward_set_weights_and_zero_weight_metrics():
    rs = RewardSet({"exact_match": 1.0, "tests.scoring.test_registry:length_reward": 0.0, "token_f1": 0.5})
    out = rs(["<answer>Paris</answer>", "<answer>in Paris France</answer>"], answer=["Paris", "Paris"])
    assert out.components["exact_match"] == [1.0, 0.0]
    assert out.components["length_reward"] == [22.0, 32.0]  # logged, not counted
    assert out.total == pytest.approx([1.0 + 0.5 * 1.0, 0.0 + 0.5 * 0.5])


def test_none_components_are_skipped_in_the_total():
    rs = RewardSet({"multi_answer_em_fraction": 1.0, "exact_match": 1.0})
    out = rs(["<answer>a</answer>"], answers=[[]], answer=["a"])
    assert out.components["multi_answer_em_fraction"] == [None] and out.total == [1.0]


def test_bad_weight_is_rejected():
    with pytest.raises(ValueError, match="finite number"):
        RewardSet({"exact_match": float("nan")})
