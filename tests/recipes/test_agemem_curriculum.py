"""recipes/agemem.py --curriculum --eval_every 1 under accelerate on a tiny model: the episodes
the trainer played (rollouts.jsonl) come easy to hard, and log.jsonl holds the held-out curve
from step 0 to the last step."""

from __future__ import annotations

import json

import pytest

from tests.recipes.smoke import run_recipe


@pytest.mark.slow
def test_agemem_curriculum_plays_easy_tasks_first_and_logs_a_held_out_curve(tmp_path):
    run_recipe("agemem.py", tmp_path, "--sft_warm_start_episodes", "0", "--max_steps", "3", "--save_steps", "2",
               "--curriculum", "true", "--save_rollouts", "true", "--eval_every", "1", "--eval_tasks", "2")
    run = tmp_path / "run"
    played = [json.loads(line) for line in (run / "rollouts.jsonl").read_text().splitlines()]
    sizes = [t["task"]["n_items"] for t in played]
    assert sizes == sorted(sizes) and len(set(sizes)) == 3, sizes
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if r.get("phase") == "eval"] == [0, 1, 2, 3]


@pytest.mark.slow
def test_two_processes_share_the_held_out_tasks_and_log_each_evaluation_once(tmp_path):
    # 3 tasks over 2 ranks: an uneven share, gathered on rank 0 in task order.
    run_recipe("agemem.py", tmp_path, "--sft_warm_start_episodes", "0", "--eval_every", "2", "--eval_tasks", "3",
               processes=2)
    rows = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    evals = [r for r in rows if r.get("phase") == "eval"]
    assert [r["step"] for r in evals] == [0, 2] and all(r["eval/episodes"] == 3 for r in evals)
