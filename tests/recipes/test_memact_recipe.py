"""recipes/memact.py: two DCPO steps on a tiny model under accelerate; bad settings exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.recipes.smoke import ROOT, run_recipe


@pytest.mark.slow
def test_memact_recipe_two_steps_with_sampled_segments_on_a_tiny_model(tmp_path):
    p = run_recipe("memact.py", tmp_path, "--segments_per_group", "1", "--sft_warm_start_episodes", "2")
    assert "--env_id memrl/MemAct-v0" in p.stdout
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [row for row in rows if "reward" in row]  # the last line is the run summary
    assert [row["step"] for row in steps] == [1, 2]
    config = json.loads((run / "checkpoint-2" / "memrl_config.json").read_text())
    assert config["segments_per_group"] == 1 and config["env_kwargs"]["hide_prune_fraction"] == 0.5


def test_bad_env_setting_is_one_line_and_exit_2():
    p = subprocess.run([sys.executable, "recipes/memact.py", "--env_kwargs", '{"hide_prune_fraction": 2}'], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.strip().splitlines()[-1].startswith("recipes/memact.py: error: hide_prune_fraction (2) must be in [0, 1]")


def test_bad_warm_start_env_setting_is_one_line_and_exit_2():
    p = subprocess.run([sys.executable, "recipes/memact.py", "--sft_env_kwargs", '{"hide_prune_fraction": 2}'], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    last = p.stderr.strip().splitlines()[-1]
    assert "--sft_env_kwargs" in last and "hide_prune_fraction (2) must be in [0, 1]" in last
