"""Run a recipe for a few steps under ``accelerate launch`` with a tiny random model (CI smoke tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Small enough for 2 CPU cores: two steps of a tiny model with short turns.
TINY_FLAGS = [
    "--max_steps", "2", "--per_device_train_batch_size", "4", "--num_generations", "2",
    "--max_new_tokens_per_turn", "8", "--max_context_tokens", "1024", "--save_steps", "2",
    "--train_tasks", "8", "--report_to", "none", "--disable_tqdm", "true",
]


def run_recipe(recipe: str, tmp_path: Path, *extra: str, processes: int = 1, timeout: int = 600) -> subprocess.CompletedProcess:
    """``accelerate launch recipes/<recipe>`` on a tiny model saved under ``tmp_path``; asserts exit 0."""
    from memrl.models import tiny_model_path

    model = tiny_model_path(tmp_path)
    config = "recipes/accelerate/cpu.yaml" if processes == 1 else "recipes/accelerate/cpu_2proc.yaml"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config, f"recipes/{recipe}",
           "--model_name_or_path", str(model), "--output_dir", str(tmp_path / "run"), *TINY_FLAGS, *extra]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    run = tmp_path / "run"
    assert (run / "final" / "adapter_model.safetensors").exists(), p.stdout[-2000:]
    assert (run / "checkpoint-2").is_dir()
    assert "memrl eval --policy" in p.stdout
    return p
