"""recipes/train.py runs end to end under accelerate and fails cleanly on bad flags."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.recipes.smoke import ROOT, run_recipe


@pytest.mark.slow
def test_train_recipe_two_steps_on_a_tiny_model(tmp_path):
    p = run_recipe("train.py", tmp_path, "--env_id", "memrl/FactRecall-v0")
    assert "--env_id memrl/FactRecall-v0" in p.stdout


def test_bad_flag_is_one_line_and_exit_2():
    p = subprocess.run([sys.executable, "recipes/train.py", "--algorithm", "sarsa"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2
    assert p.stderr.strip().splitlines()[-1].startswith("recipes/train.py: error: algorithm ('sarsa')")
