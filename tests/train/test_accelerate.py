"""Both trainers run under `accelerate launch` with 1 and with 2 CPU processes (DDP over gloo)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = {1: "recipes/accelerate/cpu.yaml", 2: "recipes/accelerate/cpu_2proc.yaml"}


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_accelerate_launch(tmp_path, processes, algorithm):
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", CONFIGS[processes],
           "-m", "tests.train.toy_run", str(tmp_path), "--steps", "2", "--algorithm", algorithm]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert f"world_size={processes} steps=2" in p.stdout
    assert (tmp_path / "final" / "adapter_model.safetensors").exists()
    assert (tmp_path / "checkpoint-2" / "optimizer.pt").exists()
