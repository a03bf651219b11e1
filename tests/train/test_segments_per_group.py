"""DCPO's fixed number of segments per group: sampled after advantages, per group, seeded."""

from __future__ import annotations

import pytest

from memrl.errors import UserError
from memrl.rollout.segments import Segment, Trajectory
from memrl.train.batch import rows_from_trajectories
from memrl.train.grpo import sample_segments
from memrl.train.run import parse_config


def trajectories(segments: list[int]) -> list[Trajectory]:
    out = []
    for i, n in enumerate(segments):
        segs = [Segment([1], [100 * i + k], [1], [-1.0]) for k in range(n)]
        out.append(Trajectory(task_id=f"t{i}", group=i // 2, sample=i % 2, task={}, segments=segs))
    return out


def test_k_segments_per_group_with_their_trajectory_advantage_kept():
    # Two groups of G=2: group 0 has 3 + 1 segments, group 1 has 1 + 0 (fewer than k: all kept).
    trajs = trajectories([3, 1, 1, 0])
    rows = rows_from_trajectories(trajs, [1.0, -1.0, 0.5, -0.5])
    kept = sample_segments(rows, lambda i: i // 2, k=2, seed=7)
    groups = [r.trajectory // 2 for r in kept]
    assert groups.count(0) == 2 and groups.count(1) == 1
    for r in kept:  # credit is the trajectory's, computed before sampling
        assert r.advantages == [[1.0, -1.0, 0.5, -0.5][r.trajectory]]
    assert kept == [r for r in rows if r in kept]  # order is kept
    assert kept == sample_segments(rows, lambda i: i // 2, k=2, seed=7)  # seeded
    draws = {tuple(r.completion_ids[0] for r in sample_segments(rows, lambda i: i // 2, 2, s)) for s in range(30)}
    assert len(draws) > 1  # and the seed does change the draw


def test_k_at_least_the_group_keeps_every_segment():
    rows = rows_from_trajectories(trajectories([3, 2]), [1.0, -1.0])
    assert sample_segments(rows, lambda i: 0, k=5, seed=0) == rows


@pytest.mark.parametrize("flags, message", [
    (["--segments_per_group", "0"], "segments_per_group (0) must be at least 1"),
    (["--segments_per_group", "4", "--algorithm", "ppo"], "segments_per_group needs algorithm 'grpo'"),
])
def test_config_rejects_bad_segments_per_group(tmp_path, flags, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(["--output_dir", str(tmp_path), "--report_to", "none", *flags])
