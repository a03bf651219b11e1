"""Dynamic sampling (DAPO): groups whose samples all scored alike are replaced by fresh tasks' groups."""

from __future__ import annotations

import re

import pytest

from memrl.errors import UserError
from memrl.train.run import parse_config
from tests.train.test_learning import toy_trainer

G = 8  # toy_trainer's num_generations; its batch is 16 episodes: two groups


def scripted_rewards(trainer, flat_calls: int, flat_groups: set[int]):
    """Replace the trainer's scoring: for the first ``flat_calls`` calls every sample of the groups
    at positions ``flat_groups`` scores 0 (a flat group); every other sample scores its index / G."""
    calls = []

    def score(trajectories):
        flat = len(calls) < flat_calls
        calls.append([t.task["id"] for t in trajectories])
        for i, t in enumerate(trajectories):
            t.reward = 0.0 if flat and i // G in flat_groups else t.sample / G
        return [t.reward for t in trajectories]

    trainer._score = score
    return calls


def first_rollout(trainer):
    inputs = next(iter(trainer.get_train_dataloader()))
    trajectories = trainer._rollout(inputs)
    return trajectories, trainer._score(trajectories)


def test_a_flat_group_is_replaced_by_a_fresh_task_with_a_spread(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16, dynamic_sampling_rounds=3)
    calls = scripted_rewards(trainer, flat_calls=1, flat_groups={0})
    trajectories, rewards = first_rollout(trainer)
    first_stats = trainer.engine.stats.policy_tokens
    kept, new_rewards = trainer._refill_flat_groups(trajectories, rewards)

    assert len(calls) == 2 and len(calls[1]) == G  # one more rollout, of the flat group only
    assert [t.task["id"] for t in kept[:G]] == calls[1]  # slot 0 now holds the fresh task's samples
    assert kept[G:] == trajectories[G:]  # the group with a spread is untouched
    assert [t.group for t in kept] == [t.group for t in trajectories] and [t.sample for t in kept] == [t.sample for t in trajectories]
    assert new_rewards[:G] == [s / G for s in range(G)] and new_rewards == [t.reward for t in kept]
    advantages = trainer._advantages(kept, new_rewards)
    assert all(a != 0 for a in advantages[:G])  # the refilled group now has something to teach
    assert trainer.engine.stats.policy_tokens > first_stats  # the step's profile counts both rollouts
    metrics = trainer._metrics["train"]
    assert metrics["sampling/flat_groups"] == [1.0] and metrics["sampling/refill_rounds"] == [1.0]
    assert metrics["sampling/flat_groups_left"] == [0.0]
    assert metrics["sampling/reward_before_refill"] == [pytest.approx(sum(rewards) / len(rewards))]


def test_a_group_still_flat_after_the_last_round_stays_in_the_batch(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16, dynamic_sampling_rounds=2)
    calls = scripted_rewards(trainer, flat_calls=99, flat_groups={0, 1})
    trajectories, rewards = first_rollout(trainer)
    kept, new_rewards = trainer._refill_flat_groups(trajectories, rewards)
    assert len(calls) == 3 and [len(c) for c in calls] == [2 * G, 2 * G, 2 * G]  # two refill rounds, then it gives up
    assert kept == trajectories and new_rewards == [0.0] * (2 * G)
    metrics = trainer._metrics["train"]
    assert metrics["sampling/refill_rounds"] == [2.0] and metrics["sampling/flat_groups_left"] == [2.0]


def test_refills_are_the_same_on_a_rerun_of_the_step(tmp_path):
    """The fresh tasks and their samples come from (seed, step, process, round): a resumed run draws them again."""
    runs = []
    for k in range(2):
        trainer, _ = toy_trainer(tmp_path / str(k), steps=1, tasks=16, dynamic_sampling_rounds=1)
        scripted_rewards(trainer, flat_calls=1, flat_groups={1})
        kept, _ = trainer._refill_flat_groups(*first_rollout(trainer))
        runs.append([(t.task["id"], t.final_ids) for t in kept])
    assert runs[0] == runs[1]


def test_a_training_step_with_dynamic_sampling_runs_and_logs_it(tmp_path):
    import json

    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16, dynamic_sampling_rounds=1)
    trainer.train()
    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    step = next(row for row in logged if "reward" in row)
    assert {"sampling/flat_groups", "sampling/refill_rounds", "sampling/flat_groups_left", "sampling/reward_before_refill"} <= set(step)


@pytest.mark.parametrize("flags, message", [
    (["--dynamic_sampling_rounds", "-1"], "dynamic_sampling_rounds (-1) must be >= 0"),
    (["--dynamic_sampling_rounds", "2", "--algorithm", "ppo"], "dynamic_sampling_rounds needs algorithm 'grpo'"),
    (["--dynamic_sampling_rounds", "2", "--curriculum", "true"], "dynamic_sampling_rounds cannot be combined with --curriculum"),
])
def test_config_rejects_bad_dynamic_sampling(tmp_path, flags, message):
    with pytest.raises(UserError, match=re.escape(message)):
        parse_config(["--output_dir", str(tmp_path), "--report_to", "none", *flags])
