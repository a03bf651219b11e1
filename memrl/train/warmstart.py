"""A supervised warm start on a scripted expert's demonstrations, before RL (TRL's SFTTrainer).

A small base model that never writes a valid tool call gives GRPO groups whose rewards are all
equal: no advantage, no gradient. MemAct starts from a cold-start SFT for this reason; memrl does
the same with any environment that has an ``expert_reply()`` (what a good agent writes now). The
demonstrations are the expert's turns with exactly the messages the env showed, so SFT trains on
the same rendering the rollouts will use; the adapter it trains is the one RL then continues.
"""

from __future__ import annotations

import os
from typing import Any, Callable

from datasets import Dataset

from memrl.errors import UserError
from memrl.train.logging import SFTLogger


def expert_demonstrations(env_factory: Callable[[], Any], tasks: list[dict[str, Any]]) -> Dataset:
    """One row per expert turn: ``prompt`` (the messages shown) and ``completion`` (its reply),
    TRL's conversational prompt-completion format."""
    env = env_factory()
    if not hasattr(env, "expert_reply"):
        raise UserError(f"{type(env).__name__} has no expert_reply(); the SFT warm start needs a scripted "
                        "expert (set sft_warm_start_episodes 0)")
    rows = []
    for i, task in enumerate(tasks):
        messages, _ = env.reset(seed=i, options={"task": task})
        done = False
        while not done:
            reply = env.expert_reply()
            rows.append({"prompt": list(messages), "completion": [{"role": "assistant", "content": reply}]})
            messages, _, terminated, truncated, _ = env.step(reply)
            done = terminated or truncated
    env.close()
    return Dataset.from_list(rows)


def sft_warm_start(model: Any, tokenizer: Any, config: Any, peft_config: Any, env_factory: Callable[[], Any],
                   tasks: list[dict[str, Any]]) -> Any:
    """Train ``model`` (with a fresh LoRA when ``peft_config`` is given) on expert turns; returns the
    trained model (a PeftModel with LoRA) and saves its adapter to ``<output_dir>/sft``."""
    from trl import SFTConfig, SFTTrainer

    data = expert_demonstrations(env_factory, tasks)
    args = SFTConfig(
        output_dir=os.path.join(config.output_dir, "sft"), num_train_epochs=config.sft_epochs,
        # Half the RL batch per forward, twice accumulated: the same step with half the peak memory
        # (a 49k-token vocabulary's logits dominate it).
        learning_rate=config.sft_learning_rate, per_device_train_batch_size=max(1, config.per_device_train_batch_size // 2),
        gradient_accumulation_steps=2 if config.per_device_train_batch_size > 1 else 1, max_length=config.max_context_tokens, completion_only_loss=True,
        logging_steps=1, save_strategy="no", report_to=[], seed=config.seed, bf16=config.bf16,
        use_cpu=config.use_cpu, disable_tqdm=config.disable_tqdm, lr_scheduler_type="constant",
        gradient_checkpointing=False,
    )
    trainer = SFTTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer, peft_config=peft_config,
                         callbacks=[SFTLogger(config.output_dir)])
    trainer.train()
    trainer.save_model(args.output_dir)
    if trainer.accelerator.is_main_process:
        print(f"SFT warm start: {len(data)} expert turns x {config.sft_epochs} epochs; adapter saved to {args.output_dir}")
    model = trainer.accelerator.unwrap_model(trainer.model)
    model.train()
    return model
