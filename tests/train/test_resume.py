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


# -- which checkpoint --resume_from_checkpoint picks (fast: fabricated checkpoint folders) ----------
def fake_checkpoint(folder: Path, step: int, *, ppo: bool = False) -> Path:
    """The files a memrl LoRA checkpoint holds, with real safetensors and torch archives."""
    import json

    from safetensors.torch import save_file

    folder.mkdir(parents=True)
    save_file({"base_model.model.q_proj.lora_A.weight": torch.zeros(4, 8)}, folder / "adapter_model.safetensors")
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    torch.save({"state": {}}, folder / "optimizer.pt")
    torch.save({"last_epoch": step}, folder / "scheduler.pt")
    (folder / "memrl_config.json").write_text(json.dumps({"algorithm": "ppo" if ppo else "grpo"}))
    if ppo:
        save_file({"weight": torch.zeros(1, 8)}, folder / "value_head.safetensors")
    return folder


def truncate(path: Path, keep: int = -40) -> None:
    path.write_bytes(path.read_bytes()[:keep])


BREAKS = [
    # (what is done to the newest checkpoint, the reason it is skipped)
    (lambda c: truncate(c / "adapter_model.safetensors"), "adapter_model.safetensors is truncated or corrupt"),
    (lambda c: (c / "trainer_state.json").unlink(), "trainer_state.json is missing"),
    (lambda c: (c / "trainer_state.json").write_text('{"global_st'), "trainer_state.json is unreadable"),
    (lambda c: truncate(c / "optimizer.pt", 100), "optimizer.pt is truncated or corrupt"),
    (lambda c: (c / "scheduler.pt").unlink(), "scheduler.pt is missing"),
    (lambda c: (c / "adapter_config.json").unlink(), "adapter_config.json is missing"),
    (lambda c: [p.unlink() for p in c.iterdir()], "it is empty"),
]


@pytest.mark.parametrize("brk, reason", BREAKS)
def test_resume_true_falls_back_to_the_newest_complete_checkpoint(tmp_path, brk, reason):
    from memrl.train.resume import resolve

    for step in (2, 4, 6):
        fake_checkpoint(tmp_path / f"checkpoint-{step}", step)
    brk(tmp_path / "checkpoint-6")
    said = []
    assert resolve("true", tmp_path, say=said.append) == str(tmp_path / "checkpoint-4")
    assert len(said) == 1 and said[0].startswith(f"resuming from {tmp_path / 'checkpoint-4'} (skipped checkpoint-6: {reason}")


def test_resume_skips_several_and_orders_by_step_not_by_name(tmp_path):
    from memrl.train.resume import resolve

    for step in (9, 10, 11):
        fake_checkpoint(tmp_path / f"checkpoint-{step}", step)
    truncate(tmp_path / "checkpoint-11" / "adapter_model.safetensors")
    (tmp_path / "checkpoint-10" / "optimizer.pt").unlink()
    (tmp_path / ".staging").mkdir()  # a save in progress is never a candidate
    said = []
    assert resolve(True, tmp_path, say=said.append).endswith("checkpoint-9")
    assert "skipped checkpoint-11: adapter_model.safetensors is truncated" in said[0]
    assert "checkpoint-10: optimizer.pt is missing" in said[0]


def test_ppo_checkpoints_need_their_value_head(tmp_path):
    from memrl.train.resume import problems

    c = fake_checkpoint(tmp_path / "checkpoint-2", 2, ppo=True)
    assert problems(c) == []
    truncate(c / "value_head.safetensors")
    assert len(problems(c)) == 1 and problems(c)[0].startswith("value_head.safetensors is truncated or corrupt")


@pytest.mark.parametrize("value, fragment", [
    ("true", "no complete checkpoint in"),  # nothing at all
    ("BROKEN", "is not a complete checkpoint: adapter_model.safetensors is truncated or corrupt"),
    ("MISSING", "is not a complete checkpoint: it does not exist"),
])
def test_no_usable_checkpoint_is_one_line(tmp_path, value, fragment):
    from memrl.errors import UserError
    from memrl.train.resume import resolve

    broken = fake_checkpoint(tmp_path / "run" / "checkpoint-3", 3)
    truncate(broken / "adapter_model.safetensors")
    value = {"BROKEN": str(broken), "MISSING": str(tmp_path / "nope")}.get(value, value)
    with pytest.raises(UserError, match=fragment) as info:
        resolve(value, tmp_path / "run", say=print)
    assert "\n" not in str(info.value)
    if value == "true":
        assert "skipped checkpoint-3: adapter_model.safetensors is truncated" in str(info.value)


@pytest.mark.parametrize("value", [None, False, "false", "", "no"])
def test_no_resume_asked(tmp_path, value):
    from memrl.train.resume import resolve

    fake_checkpoint(tmp_path / "checkpoint-2", 2)
    assert resolve(value, tmp_path, say=print) is None


@pytest.mark.slow
def test_a_recipe_resumes_past_a_truncated_newest_checkpoint(tmp_path, capsys):
    """End to end through run_recipe on the tiny model: 4 steps with checkpoints at 2 and 4, the
    newest one's adapter cut short, then --resume_from_checkpoint true trains on from step 2."""
    import json

    from memrl.models import tiny_model_path
    from memrl.train.recipe import CPU_COMMON, run_recipe

    model = tiny_model_path(tmp_path)
    out = tmp_path / "run"
    defaults = dict(CPU_COMMON, output_dir=str(out), model_name_or_path=str(model), max_steps=4, save_steps=2,
                    per_device_train_batch_size=4, num_generations=2, max_new_tokens_per_turn=8, max_context_tokens=1024,
                    train_tasks=8, env_kwargs={"n_facts": 2}, disable_tqdm=True, gradient_checkpointing=False)
    assert run_recipe("recipes/train.py", defaults, []) == 0
    truncate(out / "checkpoint-4" / "adapter_model.safetensors")
    capsys.readouterr()
    assert run_recipe("recipes/train.py", defaults, ["--resume_from_checkpoint", "true"]) == 0
    printed = capsys.readouterr().out
    assert f"resuming from {out / 'checkpoint-2'} (skipped checkpoint-4: adapter_model.safetensors is truncated" in printed
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4 and not __import__("memrl.train.resume", fromlist=["x"]).problems(out / "checkpoint-4")
