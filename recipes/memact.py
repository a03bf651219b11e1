"""MemAct: train an agent to prune its own context and keep a written memory (DCPO).

    accelerate launch recipes/memact.py                                  # CPU default, embedded model
    accelerate launch recipes/memact.py --segments_per_group 8           # DCPO's fixed segment sample
    accelerate launch --config_file recipes/accelerate/zero2.yaml recipes/memact.py \\
        --model_name_or_path Qwen/Qwen2.5-7B-Instruct --backend vllm --bf16 true \\
        --env_kwargs '{"n_objectives": 4, "source": "hotpotqa", "hide_prune_fraction": 0.5}' \\
        --train_tasks 1000 --max_new_tokens_per_turn 512 --max_context_tokens 8192 \\
        --max_episode_tokens 16384 --num_generations 8 --per_device_train_batch_size 8 --max_steps 300

Hardware: the default runs on 2 CPU cores with the embedded SmolLM2-135M-Instruct + LoRA on
generated 2-objective tasks with the compact tool prompt: an SFT warm start on 40 episodes of
the scripted expert (``expert_reply``: before each new search it prunes the earlier calls and
results and writes the answers so far as the memory; 120 turns), then 3 DCPO steps, saved to
`runs/memact/final`: 15 minutes on 2 cores (measured: SFT 15 steps, DCPO steps of 89-224 s). The GPU line uses HotpotQA paragraphs (`../shared/data/hotpotqa`).

Expected result: the run prints the `memrl eval` command for the adapter against the untrained
base and the full-context baseline (`memory_mode="full_context"`: no prune tool) on held-out
tasks (`--env-kwargs '{"n_objectives": [1, 2, 4, 8, 16]}'` for EM and peak context by N). Peak
context of the MemAct rule against N is in `bench/results/mem1_memory.txt`. Measured
(bench/results/memact/README.txt, 30 held-out tasks at N = 1/2/4): EM 0.408 [0.267, 0.558] against
0.000 for the untrained base and for full context (SFT alone 0.400); 0.9 at N = 2, the training
size, 0.325 / 0 at N = 4 / 1.

DCPO: turns append to one segment until the model calls `prune_context`, which rewrites the
context and starts the next segment; the advantage is computed once per trajectory over the
unique trajectories of its group (never per segment, so an episode cut five times does not count
five times) and broadcast to every segment. `--segments_per_group K` trains on K segments sampled
per group. `hide_prune_fraction: 0.5` hides the prune tool in half the episodes, as MemAct did,
so the policy also learns to answer without it.
"""

from __future__ import annotations

import sys

from memrl.train.recipe import CPU_COMMON, run_recipe

CPU_DEFAULTS = dict(
    CPU_COMMON,
    env_id="memrl/MemAct-v0",
    env_kwargs={"n_objectives": 2, "source": "synthetic", "hide_prune_fraction": 0.5, "tool_prompt": "compact"},
    algorithm="grpo",
    output_dir="runs/memact",
    # The untrained SmolLM2-135M writes no valid state/search/answer turn (every reward 0: no
    # advantage, no gradient), so RL starts from a short SFT on the env's scripted expert (searches
    # each question once, keeps what it found, answers), as for AgeMem.
    sft_warm_start_episodes=40,
    sft_epochs=1.0,
    sft_learning_rate=1e-3,
    max_steps=3,
    temperature=0.8,
    max_new_tokens_per_turn=96,
    max_context_tokens=1536,
    max_episode_tokens=1024,
    save_steps=2,
)

if __name__ == "__main__":
    sys.exit(run_recipe("recipes/memact.py", CPU_DEFAULTS))
