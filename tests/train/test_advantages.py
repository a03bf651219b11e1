"""Advantages: statistics over unique trajectories; GAE against a hand computation."""

import pytest
import torch

from memrl.train.advantages import gae, group_advantages


@pytest.mark.parametrize(
    "rewards, groups, kw, expected",
    [
        ([1, 0, 1, 0], [0, 0, 0, 0], {"scale": "none"}, [0.5, -0.5, 0.5, -0.5]),  # Dr.GRPO: R - mean
        ([1, 0, 0, 0], [0, 0, 0, 0], {"scale": "none", "baseline": "rloo"}, [1.0, -1 / 3, -1 / 3, -1 / 3]),  # leave-one-out
        ([2, 2, 5, 1], [0, 0, 1, 1], {"scale": "none"}, [0, 0, 2, -2]),  # groups are independent
        ([3, 3, 3], [0, 0, 0], {}, [0, 0, 0]),  # no signal in a tied group, and no division by zero
    ],
)
def test_group_advantages_table(rewards, groups, kw, expected):
    assert group_advantages(rewards, groups, **kw) == pytest.approx(expected, abs=1e-6)


def test_group_scaling_divides_by_group_std():
    adv = group_advantages([1, 0, 1, 0], [0, 0, 0, 0], scale="group", eps=0)
    assert adv == pytest.approx([1, -1, 1, -1])


def test_bad_options_are_rejected_with_the_rule():
    with pytest.raises(ValueError, match="baseline 'x' must be one of"):
        group_advantages([1], [0], baseline="x")
    with pytest.raises(ValueError, match="2 rewards but 1 group ids"):
        group_advantages([1, 2], [0])


def test_gae_matches_hand_computation():
    rewards = torch.tensor([0.0, 0.0, 1.0])
    values = torch.tensor([0.5, 0.6, 0.7])
    adv, ret = gae(rewards, values, gamma=0.9, lam=0.8)
    d2 = 1.0 - 0.7
    d1 = 0.9 * 0.7 - 0.6
    d0 = 0.9 * 0.6 - 0.5
    a2 = d2
    a1 = d1 + 0.9 * 0.8 * a2
    a0 = d0 + 0.9 * 0.8 * a1
    assert adv.tolist() == pytest.approx([a0, a1, a2])
    assert ret.tolist() == pytest.approx([a0 + 0.5, a1 + 0.6, a2 + 0.7])
