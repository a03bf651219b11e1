"""Checkpoints are atomic and --resume continues exactly: N steps straight equal k steps,
SIGKILL, resume to N (same adapter weights)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

ROOT = Path(__file__).resolve().parents[2]


def run(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tests.train.toy_run", str(out), *extra], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def adapter(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "adapter_model.safetensors")


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_sigkill_then_resume_matches_a_straight_run(tmp_path, algorithm):
    straight, broken = tmp_path / "straight", tmp_path / "broken"
    steps = ["--steps", "6", "--save-steps", "2", "--algorithm", algorithm]
    p = run(straight, *steps)
    out = p.communicate(timeout=600)[0]
    assert p.returncode == 0, out[-3000:]
    # The same run, killed with SIGKILL as soon as its second checkpoint is complete.
    p = run(broken, *steps)
    deadline = time.time() + 600
    while not (broken / "checkpoint-4").exists():
        assert p.poll() is None, p.communicate()[0][-3000:]
        assert time.time() < deadline
        time.sleep(0.01)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert not (broken / "final").exists() and not (broken / "checkpoint-6").exists(), "killed too late to test resume"
    assert not any(x.name.startswith(".staging") for x in broken.iterdir() if (x / "checkpoint-6").exists())
    p = run(broken, *steps, "--resume")
    out = p.communicate(timeout=600)[0]
    assert p.returncode == 0, out[-3000:]
    a, b = adapter(straight / "final"), adapter(broken / "final")
    first = adapter(straight / "checkpoint-2")
    assert any(not torch.equal(first[k], a[k]) for k in a), "weights never moved: the test would prove nothing"
    for key in a:
        assert torch.equal(a[key], b[key]), key
    # The checkpoint's adapter loads with plain PEFT onto the base model.
    from peft import PeftModel

    from memrl.models import tiny_model

    loaded = PeftModel.from_pretrained(tiny_model(seed=0)[0], straight / "checkpoint-4")
    assert any("lora_" in n for n, _ in loaded.named_parameters())
    assert (straight / "checkpoint-4" / "adapter_config.json").exists()
