"""Train any registered memory environment with the GRPO family or PPO.

    accelerate launch recipes/train.py --env_id memrl/FactRecall-v0 --algorithm grpo
    accelerate launch recipes/train.py --config my.yaml --max_steps 50          # YAML + overrides
    accelerate launch --config_file recipes/accelerate/cpu_2proc.yaml recipes/train.py ...  # 2 CPU processes (DDP/gloo)
    accelerate launch recipes/train.py ... --resume_from_checkpoint true        # continue the last checkpoint

Hardware: a 2-core CPU with the embedded SmolLM2-135M-Instruct + LoRA by default (a few minutes a
step); on GPUs pass --model_name_or_path Qwen/Qwen2.5-7B-Instruct --backend vllm and an accelerate
config from recipes/accelerate/. `--help` lists every option.
"""

from __future__ import annotations

import os
import sys

from memrl.errors import UserError
from memrl.train import build_trainer, parse_config
from memrl.train.run import shut_down

CPU_DEFAULTS = dict(
    output_dir="runs/train",
    max_steps=20,
    per_device_train_batch_size=8,
    num_generations=4,
    learning_rate=2e-4,
    max_new_tokens_per_turn=96,
    max_context_tokens=1536,
    logging_steps=1,
    save_steps=10,
    save_total_limit=2,
    beta=0.0,
    report_to=[],
)


def main(argv: list[str] | None = None) -> int:
    try:
        config = parse_config(argv, defaults=CPU_DEFAULTS)
        resume = config.resume_from_checkpoint
        if isinstance(resume, str) and resume.lower() in ("true", "last"):
            resume = True
        trainer = build_trainer(config)
        trainer.train(resume_from_checkpoint=resume or None)
    except UserError as e:
        print(f"recipes/train.py: error: {e}", file=sys.stderr)
        return 2
    final = os.path.join(config.output_dir, "final")
    trainer.save_model(final)
    if trainer.accelerator.is_main_process:
        print(f"saved the adapter to {final}")
    shut_down(trainer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
