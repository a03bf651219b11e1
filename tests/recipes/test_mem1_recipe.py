"""recipes/mem1.py: two PPO steps on a tiny model under accelerate; bad settings exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.recipes.smoke import ROOT, run_recipe


@pytest.mark.slow
def test_mem1_recipe_two_ppo_steps_on_a_tiny_model(tmp_path):
    p = run_recipe("mem1.py", tmp_path, "--env_kwargs", json.dumps({"n_objectives": 2}), "--sft_warm_start_episodes", "2")
    assert "--env_id memrl/MEM1-v0" in p.stdout
    run = tmp_path / "run"
    assert (run / "sft" / "adapter_model.safetensors").exists()  # the warm start on the scripted expert ran
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [row for row in rows if "reward" in row]  # the last line is the run summary
    assert [row["step"] for row in steps] == [1, 2]
    # Every turn is a rewrite: one segment per turn.
    assert all(row["segments/mean"] == row["turns/mean"] >= 1 for row in steps)
    assert json.loads((run / "checkpoint-2" / "memrl_config.json").read_text())["algorithm"] == "ppo"


def test_bad_env_setting_is_one_line_and_exit_2():
    p = subprocess.run([sys.executable, "recipes/mem1.py", "--env_kwargs", '{"n_objectives": 17}'], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.strip().splitlines()[-1].startswith("recipes/mem1.py: error: n_objectives (17) must be an integer from 1 to 16")
