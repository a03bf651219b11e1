"""Bootstrap confidence intervals for eval scores (numpy, seeded, so a table is reproducible).

Scores of a few dozen episodes are far from normal (mostly 0s and 1s), so intervals come from
resampling episodes rather than from a t-interval. Policies are compared *paired*: every policy
runs on the same tasks, so resampling task-wise differences cancels the (large) spread between
easy and hard tasks that an unpaired comparison would have to overcome.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

RESAMPLES = 2000
CONFIDENCE = 0.95


def bootstrap_ci(values: Sequence[float], *, resamples: int = RESAMPLES, confidence: float = CONFIDENCE,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``; (nan, nan) when there are none."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(resamples, x.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    # Clamp to the observed range: quantile interpolation can stray by an ulp (1.0000000000000002).
    return float(max(low, x.min())), float(min(high, x.max()))


def paired_bootstrap_ci(treatment: Sequence[float], control: Sequence[float], *, resamples: int = RESAMPLES,
                        confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float, float]:
    """(mean difference, low, high) of ``treatment - control`` over the same tasks, resampled by task."""
    a, b = np.asarray(treatment, dtype=float), np.asarray(control, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired scores need the same tasks: {a.size} vs {b.size} episodes")
    diff = a - b
    if diff.size == 0:
        return float("nan"), float("nan"), float("nan")
    low, high = bootstrap_ci(diff, resamples=resamples, confidence=confidence, seed=seed)
    return float(diff.mean()), low, high
