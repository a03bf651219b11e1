"""FSDP (and DeepSpeed ZeRO) under `accelerate launch`: what runs where.

On CPU processes it cannot: accelerate 1.15 turns FSDP and DeepSpeed on only for GPU-like
devices. Launched with an FSDP config on a machine without CUDA (memrl sets ``use_cpu``), the
processes join as ``DistributedType.MULTI_CPU`` (DDP over gloo) with no ``fsdp_plugin``, and the
run trains plain DDP: every process holds the whole model (measured: recipes/accelerate/
fsdp_cpu_2proc.yaml finished 2 toy steps with an unsharded optimizer.pt). torch itself can
(``fully_shard`` over a gloo CPU mesh runs a step); accelerate does not route there. DeepSpeed
0.19.8 installs here and picks its CPU accelerator, but through accelerate it is dropped the same
way, and with ``use_cpu`` off transformers sizes the batch for one process:
``AssertionError: ... train_batch_size is not equal to micro_batch_per_gpu * gradient_acc_step *
world_size 4 != 4 * 1 * 2``. So memrl refuses both in one line on a CPU-only machine, and the
FSDP path is tested on GPUs (two steps, a sharded checkpoint, a resume to step 4).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memrl.errors import UserError
from memrl.train.run import refuse_sharding_without_gpus

ROOT = Path(__file__).resolve().parents[2]


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


@pytest.mark.parametrize("variable, name", [("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")])
def test_sharding_without_gpus_is_one_line_not_a_quiet_ddp_run(monkeypatch, variable, name):
    monkeypatch.setattr("torch.cuda.is_available", lambda: False)
    monkeypatch.setenv(variable, "true")
    with pytest.raises(UserError, match=f"^{name} needs CUDA GPUs: .*cpu_2proc.yaml") as e:
        refuse_sharding_without_gpus()
    assert "\n" not in str(e.value)
    monkeypatch.setenv(variable, "false")
    refuse_sharding_without_gpus()


def _launch(config: str, out: Path, *args: str, processes: int | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", config,
           *(["--num_processes", str(processes)] if processes else []),
           "-m", "tests.train.toy_run", str(out), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
@pytest.mark.skipif(_cuda_devices() > 0, reason="the refusal is for machines without CUDA")
def test_fsdp_on_two_cpu_processes_is_refused(tmp_path):
    p = _launch("recipes/accelerate/fsdp_cpu_2proc.yaml", tmp_path, "--steps", "2")
    assert p.returncode != 0
    assert "FSDP needs CUDA GPUs" in p.stderr, p.stderr[-3000:]
    assert not (tmp_path / "checkpoint-2").exists()


@pytest.mark.slow
@pytest.mark.skipif(_cuda_devices() == 0, reason="accelerate runs FSDP on GPUs only (module docstring)")
def test_fsdp_trains_saves_and_resumes_on_gpus(tmp_path):
    processes = min(_cuda_devices(), 2)
    first = _launch("recipes/accelerate/fsdp.yaml", tmp_path, "--steps", "2", processes=processes)
    assert first.returncode == 0, (first.stdout + first.stderr)[-4000:]
    assert f"world_size={processes} steps=2" in first.stdout
    checkpoint = tmp_path / "checkpoint-2"
    assert (checkpoint / "adapter_model.safetensors").exists()  # the adapter, loadable by peft and vLLM
    assert any(checkpoint.glob("optimizer*")), sorted(p.name for p in checkpoint.iterdir())
    again = _launch("recipes/accelerate/fsdp.yaml", tmp_path, "--steps", "4", "--resume", processes=processes)
    assert again.returncode == 0, (again.stdout + again.stderr)[-4000:]
    assert f"world_size={processes} steps=4" in again.stdout
    assert (tmp_path / "checkpoint-4").exists() and (tmp_path / "final" / "adapter_model.safetensors").exists()
