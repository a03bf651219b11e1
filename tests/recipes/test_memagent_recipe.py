"""recipes/memagent.py: two GRPO steps on a tiny model under accelerate; bad settings exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.recipes.smoke import ROOT, run_recipe

# Needle documents need no data, so CI runs this without ../shared/data.
TINY_ENV = {"source": "needle", "doc_tokens": 384, "chunk_tokens": 128, "memory_tokens": 16}


@pytest.mark.slow
def test_memagent_recipe_two_steps_on_a_tiny_model(tmp_path):
    p = run_recipe("memagent.py", tmp_path, "--env_kwargs", json.dumps(TINY_ENV), "--sft_warm_start_episodes", "2")
    assert "SFT warm start:" in p.stdout and (tmp_path / "run" / "sft" / "adapter_model.safetensors").exists()
    assert "--env_id memrl/MemAgent-v0" in p.stdout
    run = tmp_path / "run"
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    steps = [row for row in rows if "reward" in row]  # the last row is the run summary
    assert [row["step"] for row in steps] == [1, 2]
    # Every conversation (one per section, then the answer) is its own segment: no appending.
    assert all(row["segments/mean"] == row["turns/mean"] >= 3 for row in steps)
    assert json.loads((run / "checkpoint-2" / "memrl_config.json").read_text())["scale_rewards"] == "none"


def test_bad_env_setting_is_one_line_and_exit_2():
    p = subprocess.run([sys.executable, "recipes/memagent.py", "--env_kwargs", '{"source": "wiki"}'], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 2, p.stderr[-2000:]
    assert p.stderr.strip().splitlines()[-1].startswith("recipes/memagent.py: error: source 'wiki'")
