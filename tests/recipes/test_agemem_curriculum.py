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
