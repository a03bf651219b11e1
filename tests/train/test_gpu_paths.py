"""What runs differently where CUDA is present, checked on a CPU (bench/gpu_check.sh runs the real
thing on a GPU machine; bench/results/gpu_check.txt has what it found)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from memrl.models import tiny_model
from memrl.train.run import frozen_weights_in_bf16, parse_config, precision_reason


def lora(model):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))


def forward_under_bf16_autocast(model, tokenizer):
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return model(**tokenizer("Remember: the key is under the mat.", return_tensors="pt")).logits


def test_frozen_weights_go_bf16_on_a_gpu_too(monkeypatch):
    # On the H200 a float32 model under CUDA's bf16 autocast failed in attention: "Expected query,
    # key, and value to have the same dtype, but got query.dtype: float ... value.dtype: BFloat16"
    # (rotary embeddings keep queries and keys in float32). CPU autocast runs it, so this checks
    # the cast itself, with CUDA pretended.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    model, tok = tiny_model(seed=0)
    model = frozen_weights_in_bf16(lora(model), SimpleNamespace(bf16=True, use_cpu=False))
    frozen = {p.dtype for p in model.parameters() if not p.requires_grad}
    trained = {p.dtype for p in model.parameters() if p.requires_grad}
    assert frozen == {torch.bfloat16} and trained == {torch.float32}  # LoRA keeps float32 masters
    assert forward_under_bf16_autocast(model, tok).isfinite().all()


def test_full_fine_tuning_on_a_gpu_keeps_the_loaded_weights(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    model, _ = tiny_model(seed=0)
    config = SimpleNamespace(bf16=True, use_cpu=False)
    assert frozen_weights_in_bf16(model, config, use_peft=False) is model
    assert config.bf16 and {p.dtype for p in model.parameters()} == {torch.float32}


def test_accelerates_use_cpu_on_a_gpu_machine_means_the_cpu(monkeypatch, tmp_path):
    # recipes/accelerate/cpu.yaml on a machine with CUDA: accelerate runs on the CPU, so the
    # config (and with it the model's device and bf16) must too.
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("ACCELERATE_USE_CPU", "True")
    threads = torch.get_num_threads()
    try:
        config, _ = parse_config(["--output_dir", str(tmp_path), "--report_to", "none"])
    finally:
        torch.set_num_threads(threads)
    assert config.use_cpu
    assert precision_reason(config) != "CUDA"
