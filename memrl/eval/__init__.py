"""Evaluation: policies, the untrained base and memory baselines on the same held-out tasks.

``evaluate`` for scripts and benchmarks, ``run_policy`` for one policy on one env, ``memrl eval``
on the command line (``memrl.eval.cli``).
"""

from memrl.eval.result import EvalResult
from memrl.eval.runner import evaluate, run_policy, score_trajectories
from memrl.eval.stats import bootstrap_ci, paired_bootstrap_ci

__all__ = ["EvalResult", "bootstrap_ci", "evaluate", "paired_bootstrap_ci", "run_policy", "score_trajectories"]
