"""Reward plugins: registry, validation and weighted composition (see ``registry``)."""

from memrl.scoring.registry import (
    RewardError,
    RewardOutput,
    RewardSet,
    call_reward,
    check_rewards,
    completion_text,
    get_reward,
    list_rewards,
    reward,
)

__all__ = ["RewardError", "RewardOutput", "RewardSet", "call_reward", "check_rewards", "completion_text", "get_reward", "list_rewards", "reward"]
