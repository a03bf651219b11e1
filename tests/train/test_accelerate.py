"""Both trainers run under `accelerate launch` with 1 and with 2 CPU processes (DDP over gloo)."""

from __future__ import annotations

import re
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


def _update(tmp_path, algorithm: str, update_tokens: int) -> dict[str, str]:
    """One fp32 SGD step on 2 processes whose rows differ in length; each process's update printed."""
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", CONFIGS[2], "-m", "tests.train.toy_run",
           str(tmp_path / f"{algorithm}{update_tokens}"), "--steps", "1", "--algorithm", algorithm, "--wordy-rank-1",
           "--fp32", "--optim", "sgd", "--update-tokens", str(update_tokens)]
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    # Anywhere in the output and only the numbers: the two processes share the pipe, and one's
    # Trainer summary has landed right before and right after the other's line, with no newline.
    number = r"-?\d\.\d+e[-+]\d+"
    ranks = dict(re.findall(rf"(rank=\d) (update_norm={number} update_projection={number})", p.stdout))
    assert set(ranks) == {"rank=0", "rank=1"}, p.stdout
    return ranks


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_processes_with_rows_of_other_lengths_cut_the_update_alike(tmp_path, algorithm):
    """Process 1's rows are ~3x longer than process 0's, so at 128 tokens a forward they would cut
    into more micro-batches: the loss's cross-process gathers then failed ('collective mismatch').
    Both run the same number now, and the update is the one of a single forward per process."""
    cut = _update(tmp_path, algorithm, 128)
    assert cut["rank=0"] == cut["rank=1"]  # DDP kept the processes' weights equal
    if algorithm == "grpo":
        whole = _update(tmp_path, algorithm, 100_000)
        a, b = (float(dict(kv.split("=") for kv in r.split())["update_projection"]) for r in (cut["rank=0"], whole["rank=0"]))
        assert abs(a - b) <= 1e-4 * abs(b), (a, b)  # measured: 1e-5 relative (fp32, summation order)
