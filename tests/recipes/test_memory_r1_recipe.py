"""recipes/memory_r1.py runs end to end under accelerate (both agents, GRPO and PPO) and fails
cleanly on a bad environment argument."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.recipes.smoke import ROOT, run_recipe


@pytest.mark.slow
def test_manager_grpo_two_steps_on_a_tiny_model(tmp_path):
    p = run_recipe("memory_r1.py", tmp_path)
    assert "--env_id memrl/MemoryR1-Manager-v0" in p.stdout


@pytest.mark.slow
def test_answer_agent_ppo_two_steps_on_a_tiny_model(tmp_path):
    p = run_recipe("memory_r1.py", tmp_path, "--env_id", "memrl/MemoryR1-Answer-v0", "--algorithm", "ppo",
                   "--env_kwargs", '{"n_memories": 20}')
    assert "--env_id memrl/MemoryR1-Answer-v0" in p.stdout


@pytest.mark.slow
def test_bad_env_argument_is_one_line_and_exit_2(tmp_path):
    from memrl.models import tiny_model_path

    p = subprocess.run([sys.executable, "recipes/memory_r1.py", "--model_name_or_path", str(tiny_model_path(tmp_path)),
                        "--output_dir", str(tmp_path / "run"), "--env_kwargs", '{"source": "locomoo"}'],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.strip().splitlines()[-1].startswith("recipes/memory_r1.py: error: source 'locomoo'")
