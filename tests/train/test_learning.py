"""Proof of learning: a tiny model on a toy memory task goes from chance to clearly above it,
with GRPO and with PPO (seeded; asserts the gain, not merely that weights moved)."""

from __future__ import annotations

import statistics

import pytest
import torch

from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams
from memrl.rollout.backends.hf import HFBackend
from memrl.train import MemRLConfig, build_trainer
from memrl.train.config import model_config
from tests.train.toy import OpChoiceEnv, prime_operation_words


SHARPEN = 12.0


def held_out_reward(model, tokenizer, tasks) -> float:
    engine = RolloutEngine(HFBackend(model, tokenizer), limits=RolloutLimits(max_new_tokens=1),
                           sampling=SamplingParams(max_new_tokens=1, temperature=1.0, seed=123))
    trajs = engine.rollout(lambda: OpChoiceEnv(tokenizer), tasks, group_size=4, seed=99)
    return statistics.fmean(t.reward for t in trajs)


def train(tmp_path, algorithm: str, steps: int, **overrides):
    from memrl.models import tiny_model

    model, tok = tiny_model(seed=0)
    prime_operation_words(model, tok)
    env = OpChoiceEnv(tok)
    held_out = env.make_tasks("test", 32, seed=1)
    config = MemRLConfig(
        output_dir=str(tmp_path / algorithm), algorithm=algorithm, max_steps=steps, learning_rate=3e-3,
        per_device_train_batch_size=32, num_generations=8, max_new_tokens_per_turn=1, max_context_tokens=128,
        temperature=1.0, logging_steps=5, save_strategy="no",
        report_to=[], seed=0, beta=0.0, disable_tqdm=True, gradient_checkpointing=False,
    )
    for key, value in overrides.items():
        setattr(config, key, value)
    trainer = build_trainer(config, model_args=model_config(lora_r=8, lora_alpha=16), model=model, tokenizer=tok,
                            env_factory=lambda: OpChoiceEnv(tok), train_tasks=env.make_tasks("train", 256, seed=0))
    before = held_out_reward(trainer.model, tok, held_out)
    trainer.train()
    after = held_out_reward(trainer.model, tok, held_out)
    return before, after


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["grpo", "ppo"])
def test_tiny_model_learns_the_toy_memory_task(tmp_path, algorithm):
    # 80 steps, not 40: at 40 the gain depended on the seed and on float noise (thread count, test
    # order): +0.145 to +0.469 over seeds 0-4, and CI once saw PPO at +0.246. At 80 steps the eight
    # runs (GRPO and PPO, seeds 0-4 with gaps) gained +0.449 to +0.703, so 0.3 is a margin, not a coin.
    before, after = train(tmp_path, algorithm, steps=80)
    print(f"{algorithm}: held-out reward {before:.3f} -> {after:.3f}")
    assert before < 0.4  # about chance (1/4)
    assert after - before > 0.3, (before, after)


def toy_trainer(tmp_path, *, steps: int, tasks: int, **overrides):
    """A trainer for the toy task on the primed tiny model (short runs for option tests)."""
    from memrl.models import tiny_model

    model, tok = tiny_model(seed=0)
    prime_operation_words(model, tok)
    config = MemRLConfig(
        output_dir=str(tmp_path), max_steps=steps, learning_rate=5e-2, per_device_train_batch_size=16, num_generations=8,
        max_new_tokens_per_turn=1, max_context_tokens=128, save_strategy="no", report_to=[], seed=0, beta=0.0,
        logging_steps=1, disable_tqdm=True, gradient_checkpointing=False,
    )
    model_args = model_config()
    for key, value in overrides.items():
        setattr(model_args if hasattr(model_args, key) else config, key, value)  # use_peft: TRL's ModelConfig
    trainer = build_trainer(config, model_args=model_args, model=model, tokenizer=tok, env_factory=lambda: OpChoiceEnv(tok),
                            train_tasks=OpChoiceEnv(tok).make_tasks("train", tasks, seed=0))
    return trainer, tok


def test_backend_samples_from_the_new_weights_after_a_step(tmp_path):
    """The rollout backend must see each optimizer step (a sync bug looks like "RL does nothing")."""
    from memrl.rollout.backends.base import SamplingParams as SP

    trainer, tok = toy_trainer(tmp_path, steps=1, tasks=16)
    prompt = tok.apply_chat_template([{"role": "user", "content": "Situation: Nothing new was said. Which memory operation?"}],
                                     add_generation_prompt=True, tokenize=False)
    ids = [tok(prompt, add_special_tokens=False)["input_ids"]]
    before = trainer.engine.backend.generate(ids, SP(max_new_tokens=1, temperature=0))[0].logprobs
    trainer.train()
    after = trainer.engine.backend.generate(ids, SP(max_new_tokens=1, temperature=0))[0].logprobs
    assert after != before
    import json

    logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert logged and {"reward", "entropy", "time/rollout_s", "tokens/policy"} <= set(logged[0])


@pytest.mark.parametrize(
    "overrides",
    [
        {"beta": 0.05},  # KL to the reference: the base with the LoRA adapter disabled
        {"use_peft": False, "learning_rate": 1e-3},  # full fine-tuning (no PEFT)
        {"loss_aggregation": "trajectory", "advantage_baseline": "rloo", "scale_rewards": "none", "epsilon_high": 0.28},  # Dr.GRPO-style options
        {"reward_plugins": {"tests.train.toy:outcome_score": 1.0, "format_compliance": 0.0}},  # plugins instead of the env reward
    ],
)
def test_trainer_options_run_a_step_and_move_the_weights(tmp_path, overrides):
    trainer, _ = toy_trainer(tmp_path, steps=2, tasks=32, **overrides)
    config = trainer.args
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train()
    moved = [n for n, p in trainer.model.named_parameters() if p.requires_grad and not torch.equal(before[n], p.detach())]
    assert moved
    assert ("lora_" in moved[0]) == trainer.model_args.use_peft
    if config.reward_plugins:
        import json

        logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
        assert any("reward/outcome_score/mean" in row and "reward/format_compliance/mean" in row for row in logged)
    if config.beta:
        import json

        logged = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
        assert any("kl" in row for row in logged)
