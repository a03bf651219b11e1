"""The rollout engine, its backends and the segmented trajectories it records."""

from memrl.rollout.backends import Backend, Generation, SamplingParams, ScriptedBackend, make_backend
from memrl.rollout.engine import RolloutEngine, RolloutLimits, RolloutStats
from memrl.rollout.jsonl import load_trajectories, save_trajectories
from memrl.rollout.segments import Segment, Trajectory

__all__ = [
    "Backend", "Generation", "SamplingParams", "ScriptedBackend", "make_backend",
    "RolloutEngine", "RolloutLimits", "RolloutStats", "Segment", "Trajectory",
    "load_trajectories", "save_trajectories",
]
