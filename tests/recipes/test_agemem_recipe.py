"""recipes/agemem.py: two steps under accelerate on a tiny model, with the SFT warm start."""

from __future__ import annotations

import json

import pytest

from tests.recipes.smoke import run_recipe


@pytest.mark.slow
def test_agemem_recipe_two_steps_with_warm_start(tmp_path):
    p = run_recipe("agemem.py", tmp_path, "--sft_warm_start_episodes", "2", "--sft_epochs", "1")
    run = tmp_path / "run"
    assert (run / "sft" / "adapter_model.safetensors").exists()
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    logged = {k for r in rows for k in r}
    assert {"reward/agemem_task/mean", "reward/agemem_memory/mean", "reward/agemem_context/mean"} <= logged
    assert "--env_id memrl/AgeMem-v0" in p.stdout
