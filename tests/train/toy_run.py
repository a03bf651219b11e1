"""Train the toy task in a process of its own (for the resume and multi-process tests).

    python -m tests.train.toy_run OUTPUT_DIR --steps N [--resume] [--algorithm grpo|ppo]
"""

from __future__ import annotations

import argparse

from memrl.models import tiny_model
from memrl.train import MemRLConfig, build_trainer
from memrl.train.config import model_config
from memrl.train.run import shut_down
from tests.train.toy import OpChoiceEnv, prime_operation_words


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("output_dir")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--save-steps", type=int, default=2)
    ap.add_argument("--algorithm", default="grpo")
    ap.add_argument("--resume", action="store_true")
    args = ap.parse_args()
    model, tok = tiny_model(seed=0)
    prime_operation_words(model, tok)
    env = OpChoiceEnv(tok)
    config = MemRLConfig(
        output_dir=args.output_dir, algorithm=args.algorithm, max_steps=args.steps, save_steps=args.save_steps,
        learning_rate=3e-3, per_device_train_batch_size=16, num_generations=8, max_new_tokens_per_turn=1,
        max_context_tokens=128, temperature=1.0, logging_steps=1, report_to=[],
        seed=0, beta=0.0, disable_tqdm=True, gradient_checkpointing=False,
    )
    trainer = build_trainer(config, model_args=model_config(lora_r=8, lora_alpha=16), model=model, tokenizer=tok,
                            env_factory=lambda: OpChoiceEnv(tok),
                            train_tasks=env.make_tasks("train", 64, seed=0))
    trainer.train(resume_from_checkpoint=True if args.resume else None)
    trainer.save_model(f"{args.output_dir}/final")
    if trainer.accelerator.is_main_process:
        print(f"world_size={trainer.accelerator.num_processes} steps={trainer.state.global_step}")
    shut_down(trainer)


if __name__ == "__main__":
    main()
