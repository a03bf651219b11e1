"""--curriculum: the trainer draws AgeMem's training tasks easy to hard, every stage within the
run's steps, in the order TRL's sampler really yields them (no training: the dataloader is read)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from memrl.errors import UserError
from memrl.train import MemRLConfig, build_trainer
from memrl.train.curriculum import ordered_train_tasks

ROOT = Path(__file__).resolve().parents[2]


def agemem_recipe():
    spec = importlib.util.spec_from_file_location("agemem_recipe", ROOT / "recipes" / "agemem.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def config(tmp_path, **overrides) -> MemRLConfig:
    settings = dict(output_dir=str(tmp_path), env_id="memrl/AgeMem-v0", env_kwargs={"tool_prompt": "compact"}, max_steps=6,
                    per_device_train_batch_size=4, num_generations=2, train_tasks=8, curriculum=True, report_to=[],
                    save_strategy="no", disable_tqdm=True, seed=0)
    return MemRLConfig(**{**settings, **overrides})


def drawn_tasks(trainer) -> list[dict]:
    """The tasks the run's generation batches hold, in order: one dataloader batch per micro-step,
    a generation every steps_per_generation x num_iterations micro-steps (TRL's GRPOTrainer)."""
    args = trainer.args
    micro_steps = args.max_steps * args.gradient_accumulation_steps
    every = args.steps_per_generation * trainer.num_iterations
    seen: list[dict] = []
    for k, batch in zip(range(micro_steps), trainer.get_train_dataloader()):
        if k % every == 0:
            for row in batch:
                task = json.loads(row["task"])
                if not seen or seen[-1]["id"] != task["id"]:  # each task comes num_generations times in a row
                    seen.append(task)
    return seen


@pytest.mark.parametrize("overrides", [
    {},  # one optimizer step per generation batch
    {"gradient_accumulation_steps": 2},  # a generation batch twice the size, two micro-steps per step
])
def test_the_trainer_draws_every_curriculum_task_in_non_decreasing_difficulty(tmp_path, overrides):
    from memrl.models import tiny_model

    cfg = config(tmp_path, **overrides)
    tasks = ordered_train_tasks(cfg, agemem_recipe().curriculum_stages, "recipes/agemem.py")
    assert cfg.shuffle_dataset is False
    model, tok = tiny_model(seed=0)
    trainer = build_trainer(cfg, model=model, tokenizer=tok, train_tasks=tasks, warm_start=False)
    drawn = drawn_tasks(trainer)
    sizes = [t["n_items"] for t in drawn]
    assert [t["id"] for t in drawn] == [t["id"] for t in tasks]  # every stage within the run's steps, in order
    assert sizes == sorted(sizes), sizes
    assert len(set(sizes)) == 3 and sizes[0] == 2 and sizes[-1] == 4 + 6 + 1  # 2 facts; then 4 facts + 6 distractors (+1 correction)


def test_stages_split_the_run_evenly_and_the_rest_is_the_full_task(tmp_path):
    cfg = config(tmp_path, max_steps=7, train_tasks=20)
    tasks = ordered_train_tasks(cfg, agemem_recipe().curriculum_stages, "recipes/agemem.py")
    sizes = [t["n_items"] for t in tasks]
    # 7 batches of 2 tasks: 3 + 2 + 2 batches, then full tasks up to train_tasks (never drawn in 7 steps).
    assert sizes == [2] * 6 + [10] * 4 + [11] * 10
    assert len({t["id"] for t in tasks}) == len(tasks)


def test_a_configured_task_without_distractors_has_no_empty_stage(tmp_path):
    cfg = config(tmp_path, env_kwargs={"tool_prompt": "compact", "distractors": 0, "updates": 0})
    assert agemem_recipe().curriculum_stages(cfg) == [dict(facts=2, hops=1, distractors=0, updates=0),
                                                      dict(facts=4, hops=1, distractors=0, updates=0)]


@pytest.mark.parametrize("overrides, stages, message", [
    ({}, None, "recipes/x.py has no curriculum; drop --curriculum"),
    ({"max_steps": 2}, "agemem", "--curriculum has 3 stages but the run draws 2 generation batch(es)"),
    ({"env_kwargs": {"source": "hotpotqa"}}, "agemem", "--curriculum needs generated AgeMem tasks"),
])
def test_a_curriculum_that_cannot_run_is_one_line(tmp_path, overrides, stages, message):
    cfg = config(tmp_path, **overrides)
    hook = agemem_recipe().curriculum_stages if stages == "agemem" else None
    with pytest.raises(UserError) as info:
        ordered_train_tasks(cfg, hook, "recipes/x.py")
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_without_the_flag_nothing_changes(tmp_path):
    cfg = config(tmp_path, curriculum=False)
    assert ordered_train_tasks(cfg, agemem_recipe().curriculum_stages, "recipes/agemem.py") is None
    assert cfg.shuffle_dataset is True
