"""Train the toy task in a process of its own (for the resume and multi-process tests).

    python -m tests.train.toy_run OUTPUT_DIR --steps N [--resume] [--algorithm grpo|ppo]
"""

from __future__ import annotations

import argparse
import os

import torch

from memrl.models import tiny_model
from memrl.train import MemRLConfig, build_trainer
from memrl.train.config import model_config
from memrl.train.run import shut_down
from tests.train.toy import SITUATIONS, OpChoiceEnv, prime_operation_words


class WordyOpChoiceEnv(OpChoiceEnv):
    """The toy task with a long preamble before each situation (longer rows, the same choice)."""

    def _show(self, k: int) -> None:
        self.start_stage(("user", "Read this carefully. " * 12 + f"Situation: {SITUATIONS[self.task['situations'][k]]} Which memory operation?"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("output_dir")
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--save-steps", type=int, default=2)
    ap.add_argument("--algorithm", default="grpo")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--optim", default="adamw_torch", help="the Trainer's optimizer (sgd: the update is lr x gradient)")
    ap.add_argument("--fp32", action="store_true", help="bf16 false (exact comparisons)")
    ap.add_argument("--update-tokens", type=int, default=None, help="update_tokens_per_forward")
    ap.add_argument("--wordy-rank-1", action="store_true",
                    help="process 1 shows longer situations: its rows cut into more micro-batches than process 0's")
    args = ap.parse_args()
    model, tok = tiny_model(seed=0)
    prime_operation_words(model, tok)
    env = OpChoiceEnv(tok)
    make_env = lambda: OpChoiceEnv(tok)  # noqa: E731
    if args.wordy_rank_1 and int(os.environ.get("RANK", "0")) == 1:
        make_env = lambda: WordyOpChoiceEnv(tok)  # noqa: E731
    config = MemRLConfig(
        output_dir=args.output_dir, algorithm=args.algorithm, max_steps=args.steps, save_steps=args.save_steps,
        learning_rate=3e-3, per_device_train_batch_size=16, num_generations=8, max_new_tokens_per_turn=1,
        max_context_tokens=128, temperature=1.0, logging_steps=1, report_to=[],
        seed=0, beta=0.0, disable_tqdm=True, gradient_checkpointing=False,
        update_tokens_per_forward=args.update_tokens, optim=args.optim,
        **({"bf16": False} if args.fp32 else {}),
    )
    trainer = build_trainer(config, model_args=model_config(lora_r=8, lora_alpha=16), model=model, tokenizer=tok,
                            env_factory=make_env,
                            train_tasks=env.make_tasks("train", 64, seed=0))
    start = {n: p.detach().clone() for n, p in trainer.model.named_parameters() if p.requires_grad}
    trainer.train(resume_from_checkpoint=True if args.resume else None)
    trainer.save_model(f"{args.output_dir}/final")
    if trainer.accelerator.is_main_process:
        print(f"world_size={trainer.accelerator.num_processes} steps={trainer.state.global_step}")
    # The update as two numbers (its norm, its projection on a fixed random direction), to compare
    # across processes and runs.
    delta = [(p.detach() - start[n]).double().flatten() for n, p in trainer.model.named_parameters() if n in start]
    delta = torch.cat(delta)
    direction = torch.randn(delta.numel(), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    print(f"rank={trainer.accelerator.process_index} update_norm={float(delta.norm()):.12e} "
          f"update_projection={float(delta @ direction):.12e}", flush=True)
    shut_down(trainer)


if __name__ == "__main__":
    main()
