"""MemAct: train an agent to prune its own context and keep a written memory (DCPO).

    accelerate launch recipes/memact.py                                  # CPU default, embedded model
    accelerate launch recipes/memact.py --segments_per_group 8           # DCPO's fixed segment sample
    accelerate launch --config_file recipes/accelerate/zero2.yaml recipes/memact.py \\
        --model_name_or_path Qwen/Qwen2.5-7B-Instruct --backend vllm --bf16 true \\
        --env_kwargs '{"n_objectives": 4, "source": "hotpotqa", "hide_prune_fraction": 0.5}' \\
        --train_tasks 1000 --max_new_tokens_per_turn 512 --max_context_tokens 8192 \\
        --max_episode_tokens 16384 --num_generations 8 --per_device_train_batch_size 8 --max_steps 300

Hardware: the default runs on 2 CPU cores with the embedded SmolLM2-135M-Instruct + LoRA on
generated tasks of mixed size (N = 1, 2, 4 questions) with the compact tool prompt: an SFT warm
start on 40 episodes of the scripted expert on N = 2 tasks only (``--sft_env_kwargs``;
``expert_reply``: before each new search it prunes the earlier calls and results and writes the
answers so far as the memory), then 12 DCPO steps on the mixed sizes, saved to `runs/memact/final`:
26 minutes on 2 cores (measured: SFT 15 steps in 3 min, DCPO steps of 72-113 s). The GPU line uses
HotpotQA paragraphs (`../shared/data/hotpotqa`).

Why the warm start shows N = 2 only: it teaches the tool-call, prune and answer format; how many
questions to search before answering is the decision left to RL (an expert shown every size would
leave nothing to learn, and 40 expert episodes spread over three sizes taught no answer turn at
all: `bench/results/memact/README.txt`, "Mixed-size training").

Measured (bench/results/memact/rl_vs_sft/README.txt, 51 held-out test tasks, 17 each at N = 1, 2,
4, greedy): EM 0.348 [0.235, 0.471] against 0.152 [0.088, 0.225] for the warm start alone (paired
+0.196 [+0.049, +0.348]) and 0.000 for the untrained base. What RL changed: it answers after one
search (2.8 turns; the warm start 3.5-4.2): N = 1 goes 0.000 -> 0.824, while N = 2 (0.235 -> 0.118)
and N = 4 (0.221 -> 0.103) lose. `memrl eval --baselines full_context` adds the base model without
the prune tool (0.000 on 30 tasks, `bench/results/memact/README.txt`).

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
    env_kwargs={"n_objectives": [1, 2, 4], "source": "synthetic", "hide_prune_fraction": 0.5, "tool_prompt": "compact"},
    # The expert demonstrates N = 2 only: the format; how long to search is left to RL (docstring).
    sft_env_kwargs={"n_objectives": 2},
    algorithm="grpo",
    output_dir="runs/memact",
    # The untrained SmolLM2-135M writes no valid state/search/answer turn (every reward 0: no
    # advantage, no gradient), so RL starts from a short SFT on the env's scripted expert (searches
    # each question once, keeps what it found, answers), as for AgeMem.
    sft_warm_start_episodes=40,
    sft_epochs=1.0,
    sft_learning_rate=1e-3,
    max_steps=12,
    temperature=0.8,
    max_new_tokens_per_turn=96,
    max_context_tokens=1536,
    max_episode_tokens=1024,
    save_steps=2,
)

if __name__ == "__main__":
    sys.exit(run_recipe("recipes/memact.py", CPU_DEFAULTS))
