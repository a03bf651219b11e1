"""Reward plugins: registry, validation and weighted composition (``registry``); answer text
helpers shared with environments (``text``)."""

from memrl.scoring.registry import (
    RewardError,
    RewardFn,
    RewardOutput,
    RewardSet,
    call_reward,
    check_rewards,
    completion_text,
    get_reward,
    list_rewards,
    name_of,
    reward,
)

__all__ = [
    "RewardError",
    "RewardFn",
    "RewardOutput",
    "RewardSet",
    "call_reward",
    "check_rewards",
    "completion_text",
    "get_reward",
    "list_rewards",
    "name_of",
    "reward",
]
