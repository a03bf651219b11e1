"""The SFT warm start: demonstrations are what the env showed, and SFT makes them likelier."""

from __future__ import annotations

import pytest
import torch

from memrl.env.registry import make
from memrl.errors import UserError
from memrl.models import tiny_model
from memrl.train import MemRLConfig
from memrl.train.warmstart import expert_demonstrations, sft_warm_start

ENV = "memrl/AgeMem-v0"
KW = {"tool_prompt": "compact"}


def test_demonstrations_are_the_messages_the_env_showed():
    tasks = make(ENV, **KW).make_tasks("train", 3, seed=0)
    data = expert_demonstrations(lambda: make(ENV, **KW), tasks)
    assert len(data) == 12  # 4 expert turns per episode
    env = make(ENV, **KW)
    first, _ = env.reset(seed=0, options={"task": tasks[0]})
    assert data[0]["prompt"] == first
    assert data[0]["completion"][0]["content"] == env.expert_reply()


def test_an_env_without_an_expert_is_one_line():
    with pytest.raises(UserError, match="expert_reply"):
        expert_demonstrations(lambda: make("memrl/FactRecall-v0"), [{"facts": [], "question": "q", "answer": "a"}])


def _completion_nll(model, tok, data) -> float:
    losses = []
    for row in data:
        prompt = tok.apply_chat_template(row["prompt"], tokenize=False, add_generation_prompt=True)
        full = tok.apply_chat_template(row["prompt"] + row["completion"], tokenize=False)
        p, f = tok(prompt)["input_ids"], tok(full)["input_ids"]
        ids = torch.tensor([f])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0, len(p) - 1 : -1]
        losses.append(torch.nn.functional.cross_entropy(logits.float(), ids[0, len(p):]).item())
    return sum(losses) / len(losses)


def test_sft_lowers_the_loss_of_expert_replies(tmp_path):
    from peft import LoraConfig

    model, tok = tiny_model(seed=0)
    config = MemRLConfig(output_dir=str(tmp_path), env_id=ENV, env_kwargs=KW, sft_warm_start_episodes=2,
                         sft_epochs=3, sft_learning_rate=3e-3, per_device_train_batch_size=4, num_generations=2,
                         max_context_tokens=1024, report_to=[], disable_tqdm=True)
    factory = lambda: make(ENV, **KW)  # noqa: E731
    tasks = factory().make_tasks("train", 1, seed=1)
    data = expert_demonstrations(factory, tasks)
    before = _completion_nll(model, tok, data)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM")
    trained = sft_warm_start(model, tok, config, lora, factory, tasks)
    after = _completion_nll(trained.eval(), tok, data)
    assert hasattr(trained, "peft_config") and (tmp_path / "sft" / "adapter_model.safetensors").exists()
    assert after < before - 0.1, (before, after)
    import json

    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    sft = [row for row in logged if row.get("phase") == "sft" and "sft/loss" in row]
    assert sft and all(isinstance(row["sft/loss"], float) for row in sft)  # the warm start's loss is in the run's log


@pytest.mark.parametrize("batch, tokens, context, rows", [
    (8, 1024, 1024, 1),  # the AgeMem CPU default (1,024 tokens, #25): 1 row per forward, 8 accumulated
    (8, 2048, 1024, 2),  # the GPU default: 2 rows per forward, 4 accumulated
    (8, 10**6, 1024, 4),  # never more than half the batch per forward (the earlier split)
    (8, 512, 1024, 1),  # a row longer than the budget still gets a forward
    (6, 4096, 1024, 3),  # a divisor of the batch: the step still trains on 6 turns
    (1, 2048, 256, 1),
])
def test_sft_rows_per_forward_fit_the_update_budget(batch, tokens, context, rows):
    from types import SimpleNamespace

    from memrl.train.warmstart import sft_rows_per_forward

    config = SimpleNamespace(per_device_train_batch_size=batch, update_tokens_per_forward=tokens, max_context_tokens=context)
    assert sft_rows_per_forward(config) == rows


def test_warm_start_plays_sft_env_kwargs_and_rl_keeps_env_kwargs(tmp_path, monkeypatch):
    """--sft_env_kwargs: the expert demonstrates on the easy tasks it names (N = 1 here), while
    the RL tasks keep env_kwargs' mix (N = 1, 2, 4)."""
    import json

    import memrl.train.warmstart as warmstart
    from memrl.train.run import build_trainer

    seen = {}

    def record(model, tokenizer, config, peft_config, factory, tasks):
        seen["sizes"] = {len(t["questions"]) for t in tasks}
        seen["env_sizes"] = factory().sizes
        return model

    monkeypatch.setattr(warmstart, "sft_warm_start", record)
    model, tok = tiny_model(seed=0)
    config = MemRLConfig(output_dir=str(tmp_path), env_id="memrl/MemAct-v0",
                         env_kwargs={"n_objectives": [1, 2, 4], "source": "synthetic"}, sft_env_kwargs='{"n_objectives": 1}',
                         sft_warm_start_episodes=6, per_device_train_batch_size=2, num_generations=2, max_steps=1,
                         train_tasks=6, report_to=[], disable_tqdm=True)
    trainer = build_trainer(config, model=model, tokenizer=tok)
    assert seen["sizes"] == {1}
    assert seen["env_sizes"] == [1]
    assert trainer.env_factory().sizes == [1, 2, 4]
    assert {len(json.loads(t)["questions"]) for t in trainer.train_dataset["task"]} == {1, 2, 4}
