"""Reward plugins: registry, lookup and signature checks (``registry``), weighted composition with
parameters (``compose``), what a plugin is called with (``batch``); answer text helpers shared
with environments (``text``)."""

from memrl.scoring.batch import EPISODE_FIELDS, episode_batch, score_trajectories
from memrl.scoring.compose import RewardOutput, RewardSet
from memrl.scoring.registry import (
    RewardError,
    RewardFn,
    call_reward,
    check_rewards,
    completion_text,
    description_of,
    get_reward,
    list_rewards,
    name_of,
    reward,
)

__all__ = [
    "EPISODE_FIELDS",
    "RewardError",
    "RewardFn",
    "RewardOutput",
    "RewardSet",
    "call_reward",
    "check_rewards",
    "completion_text",
    "description_of",
    "episode_batch",
    "get_reward",
    "list_rewards",
    "name_of",
    "reward",
    "score_trajectories",
]
