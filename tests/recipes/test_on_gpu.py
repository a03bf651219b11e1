"""The recipes on one CUDA GPU, launched the way the README says for a GPU: plain ``accelerate
launch recipes/X.py``, no config file, so accelerate picks the GPU and memrl picks bf16. Skipped
without CUDA (CI has none; bench/gpu_check.sh runs them on a lent GPU machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.recipes.smoke import TINY_FLAGS

ROOT = Path(__file__).resolve().parents[2]


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


pytestmark = [pytest.mark.slow, pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")]


def launch(*args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", *args]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    return p


def recipe(name: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    from memrl.models import tiny_model_path

    p = launch(f"recipes/{name}", "--model_name_or_path", str(tiny_model_path(tmp_path)),
               "--output_dir", str(tmp_path / "run"), *TINY_FLAGS, *extra)
    assert (tmp_path / "run" / "final" / "adapter_model.safetensors").exists(), p.stdout[-2000:]
    assert "policy weights in bfloat16 (CUDA)" in p.stderr, p.stderr[-2000:]
    return p


def test_train_recipe_on_a_gpu(tmp_path):
    p = recipe("train.py", tmp_path, "--env_id", "memrl/FactRecall-v0")
    assert "saved the adapter to" in p.stdout, p.stdout[-2000:]


def test_agemem_recipe_with_its_sft_warm_start_on_a_gpu(tmp_path):
    recipe("agemem.py", tmp_path, "--sft_warm_start_episodes", "2", "--sft_epochs", "1")
    assert (tmp_path / "run" / "sft" / "adapter_model.safetensors").exists()


@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_both_trainers_on_a_gpu(tmp_path, algorithm):
    p = launch("-m", "tests.train.toy_run", str(tmp_path), "--steps", "2", "--algorithm", algorithm)
    assert "world_size=1 steps=2" in p.stdout
    assert (tmp_path / "checkpoint-2" / "optimizer.pt").exists()
