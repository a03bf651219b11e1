"""Trainers for segmented multi-turn trajectories (GRPO family and PPO) on TRL."""

from memrl.train.config import MemRLConfig
from memrl.train.run import build_trainer, parse_config

__all__ = ["MemRLConfig", "build_trainer", "parse_config"]
