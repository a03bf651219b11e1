"""Config parsing (YAML + CLI, unknown keys rejected) and rows (no segment ever dropped)."""

from __future__ import annotations

import pytest

from memrl.errors import UserError
from memrl.rollout.segments import Segment, Trajectory
from memrl.train.batch import collate, pad_rows, round_up, rows_from_trajectories
from memrl.train.run import parse_config


def test_yaml_sets_defaults_and_flags_override(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("env_id: memrl/FactRecall-v0\nnum_generations: 4\nper_device_train_batch_size: 8\nlearning_rate: 0.001\nreport_to: []\n")
    config, _ = parse_config(["--config", str(cfg), "--learning_rate", "0.5", "--output_dir", str(tmp_path / "o")])
    assert config.num_generations == 4 and config.learning_rate == 0.5 and config.loss_type == "dapo"


def test_cpu_threads_undo_accelerates_one_thread_default(tmp_path, monkeypatch):
    # accelerate launch sets OMP_NUM_THREADS=1 where it counts one physical core; the config
    # gives each process its share of the cores instead, or exactly cpu_threads.
    import torch

    from memrl.train.config import cpu_threads_per_process

    if torch.cuda.is_available():
        pytest.skip("cpu_threads applies on machines without CUDA")
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")
        parse_config(["--output_dir", str(tmp_path), "--report_to", "none"])
        assert torch.get_num_threads() == cpu_threads_per_process() == len(__import__("os").sched_getaffinity(0))
        monkeypatch.setenv("LOCAL_WORLD_SIZE", "64")
        assert cpu_threads_per_process() == 1  # never zero threads
        parse_config(["--output_dir", str(tmp_path), "--report_to", "none", "--cpu_threads", "1"])
        assert torch.get_num_threads() == 1
        with pytest.raises(UserError, match="cpu_threads"):
            parse_config(["--output_dir", str(tmp_path), "--cpu_threads", "0"])
    finally:
        torch.set_num_threads(before)


def test_unknown_yaml_key_is_rejected(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("num_generationz: 4\n")
    with pytest.raises((UserError, ValueError), match="num_generationz"):
        parse_config(["--config", str(cfg), "--output_dir", str(tmp_path)])


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--algorithm", "a2c"], "algorithm ('a2c') must be 'grpo' or 'ppo'"),  # names the value and the rule
        (["--advantage_baseline", "median"], "advantage_baseline ('median') must be 'mean' or 'rloo'"),
        (["--max_context_tokens", "64", "--max_new_tokens_per_turn", "128"], "max_context_tokens (64) must exceed"),
        (["--loss_type", "grpo"], "loss_type ('grpo') must be a token-normalised loss"),  # padding rows would skew it
    ],
)
def test_validation_names_value_and_rule(tmp_path, flags, message):
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_config(["--output_dir", str(tmp_path), "--report_to", "none", *flags])


def traj(i: int, n_segments: int) -> Trajectory:
    segs = [Segment([1, 2, 3], [10 + k, 11, 12], [1, 0, 1], [-0.5, 0.0, -0.7]) for k in range(n_segments)]
    return Trajectory(task_id=f"t{i}", group=0, sample=i, task={}, segments=segs)


def test_every_segment_becomes_a_row_and_padding_rows_train_nothing():
    trajs = [traj(0, 1), traj(1, 3), traj(2, 2)]
    rows = rows_from_trajectories(trajs, [1.0, -1.0, 0.5])
    assert len(rows) == 6 and [r.trajectory for r in rows] == [0, 1, 1, 1, 2, 2]
    padded = pad_rows(rows, round_up(len(rows), 4), pad_id=0)
    assert len(padded) == 8
    batch = collate(padded, pad_id=0)
    assert batch["completion_mask"][:6].sum() == 12 and batch["completion_mask"][6:].sum() == 0
    assert batch["advantages"][1].tolist() == [-1.0, -1.0, -1.0]  # the trajectory's value on every token
    assert batch["completion_attention_mask"][0].tolist() == [1, 1, 1]  # env tokens attended, not trained


def test_trajectory_aggregation_weighs_every_trajectory_the_same():
    import torch

    from memrl.train.batch import trajectory_weights

    trajs = [traj(0, 1), traj(1, 3)]  # 2 and 6 policy tokens
    rows = rows_from_trajectories(trajs, [1.0, 1.0])
    batch = collate(pad_rows(rows, 6, 0), 0)
    tokens = torch.tensor([2.0, 6.0])
    w = trajectory_weights(tokens, batch["row_trajectory"], tokens.sum(), torch.tensor(2.0))
    per_traj = [(w[:, None] * batch["completion_mask"])[batch["row_trajectory"] == i].sum().item() for i in (0, 1)]
    assert per_traj == pytest.approx([4.0, 4.0])  # equal total weight: N_tokens / N_trajectories each
    assert w[batch["row_trajectory"] < 0].sum() == 0
