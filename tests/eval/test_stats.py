"""Bootstrap intervals: cover the mean, shrink with n, and paired differences see real gaps."""

import numpy as np
import pytest

from memrl.eval.stats import bootstrap_ci, paired_bootstrap_ci


def test_bootstrap_ci_covers_the_mean_and_is_seeded():
    x = np.random.default_rng(1).random(50)
    low, high = bootstrap_ci(x)
    assert low < x.mean() < high
    assert (low, high) == bootstrap_ci(x)  # same seed, same interval
    assert high - low < 0.25


def test_bootstrap_ci_shrinks_with_more_episodes():
    rng = np.random.default_rng(2)
    small, large = bootstrap_ci(rng.integers(0, 2, 20)), bootstrap_ci(rng.integers(0, 2, 2000))
    assert large[1] - large[0] < (small[1] - small[0]) / 4


def test_constant_scores_have_a_point_interval():
    assert bootstrap_ci([1.0] * 7) == (1.0, 1.0)
    assert bootstrap_ci([0.0] * 7) == (0.0, 0.0)


def test_no_scores_is_nan_not_zero():
    low, high = bootstrap_ci([])
    assert np.isnan(low) and np.isnan(high)


def test_paired_difference_above_zero_for_a_clearly_better_policy():
    rng = np.random.default_rng(3)
    base = rng.random(40)
    better = base + 0.1 + 0.02 * rng.standard_normal(40)
    mean, low, high = paired_bootstrap_ci(better, base)
    assert low > 0 and low < mean < high
    # Unpaired intervals of the two policies overlap: only the pairing resolves the gap.
    b_low, b_high = bootstrap_ci(better)
    assert b_low < bootstrap_ci(base)[1]


def test_paired_difference_straddles_zero_for_equal_policies():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 2, 60).astype(float)
    b = a.copy()
    flip = rng.choice(60, 10, replace=False)
    b[flip[:5]], a[flip[5:]] = 1 - b[flip[:5]], 1 - a[flip[5:]]  # swap 5 wins each way
    mean, low, high = paired_bootstrap_ci(a, b)
    assert low < 0 < high
    assert paired_bootstrap_ci(a, a) == (0.0, 0.0, 0.0)


def test_paired_needs_the_same_tasks():
    with pytest.raises(ValueError, match="same tasks"):
        paired_bootstrap_ci([1.0, 0.0], [1.0])
