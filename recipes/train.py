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

import sys

from memrl.train.recipe import CPU_COMMON, run_recipe

CPU_DEFAULTS = dict(
    CPU_COMMON,
    output_dir="runs/train",
    max_steps=20,
    max_new_tokens_per_turn=96,
    max_context_tokens=1536,
    save_steps=10,
)

if __name__ == "__main__":
    sys.exit(run_recipe("recipes/train.py", CPU_DEFAULTS))
