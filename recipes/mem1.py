"""MEM1: train an agent that keeps a constant-size context by rewriting its internal state (PPO).

    accelerate launch recipes/mem1.py                                    # CPU default, embedded model
    accelerate launch recipes/mem1.py --algorithm grpo                   # GRPO instead of PPO
    accelerate launch --config_file recipes/accelerate/zero2.yaml recipes/mem1.py \\
        --model_name_or_path Qwen/Qwen2.5-7B-Instruct --backend vllm --bf16 true \\
        --env_kwargs '{"n_objectives": 2, "source": "hotpotqa"}' --train_tasks 1000 \\
        --max_new_tokens_per_turn 512 --max_context_tokens 4096 --max_episode_tokens 8192 \\
        --num_generations 8 --per_device_train_batch_size 8 --max_steps 300

Hardware: the default runs on 2 CPU cores with the embedded SmolLM2-135M-Instruct + LoRA on
generated tasks of mixed size (N = 1, 2, 4 objectives; fictional people, BM25 search over their
documents; no data needed): an SFT warm start on 40 episodes of the scripted expert on N = 2 tasks
only (``--sft_env_kwargs``; ``expert_reply``: searches each question once, keeps the answers found
in its internal state, answers; 120 turns), then 18 PPO steps on the mixed sizes, saved to
`runs/mem1/final`: 28 minutes on 2 cores (measured: SFT 15 steps in 134 s, PPO steps of 39-168 s).
The warm start shows one size so that it teaches the format and leaves when to answer to RL (as for
MemAct). The GPU line is MEM1's setting: train on 2-objective HotpotQA (`../shared/data/hotpotqa`),
evaluate up to 16 objectives.

Expected result: the run prints the `memrl eval` command for the adapter; add `--policy
sft_only=runs/mem1/sft` for the warm start alone and `--baselines full_context` for the untrained
base with nothing dropped. Peak context against N for the three context rules is in
`bench/results/mem1_memory.txt` (a scripted agent: full context / MEM1 = 5.8 at N=16). Measured
(bench/results/mem1/rl_vs_sft/README.txt, 150 held-out tasks, 50 each at N = 1, 2, 4, greedy): EM
0.410 [0.352, 0.472] against 0.000 for the untrained base and 0.368 for the warm start alone:
trained - SFT only +0.042 [+0.020, +0.065] (a first evaluation on 51 tasks: +0.064 [-0.010, +0.132]).
RL made the policy answer the 4-question tasks at turn 3 instead of running out of turns (N = 4:
0.315 -> 0.360, none unanswered against 8 of 50) and get more 2-question tasks fully right; the
1-question tasks stay at EM 0 for both.

Every turn is a rewrite ([task, the latest reply with its internal state, the latest
observation]), so every turn is one segment and its prompt holds exactly the state the model
wrote the turn before: the loss is on what the model saw (the released MEM1 mask hid that state).
PPO as in MEM1: a value head and GAE over the policy tokens of all segments in order, so credit
reaches early turns; `--algorithm grpo` broadcasts one trajectory advantage instead. The reward
is the sum of per-objective EM (0..N; `outcome["score"]` is the fraction).
"""

from __future__ import annotations

import sys

from memrl.train.recipe import CPU_COMMON, run_recipe

CPU_DEFAULTS = dict(
    CPU_COMMON,
    env_id="memrl/MEM1-v0",
    env_kwargs={"n_objectives": [1, 2, 4], "source": "synthetic"},
    # The expert demonstrates N = 2 only: the format; when to answer is left to RL (docstring).
    sft_env_kwargs={"n_objectives": 2},
    algorithm="ppo",
    output_dir="runs/mem1",
    # The untrained SmolLM2-135M writes no valid state/search/answer turn (every reward 0: no
    # advantage, no gradient), so RL starts from a short SFT on the env's scripted expert (searches
    # each question once, keeps what it found, answers), as for AgeMem.
    sft_warm_start_episodes=40,
    sft_epochs=1.0,
    sft_learning_rate=1e-3,
    max_steps=18,
    temperature=0.8,
    max_new_tokens_per_turn=96,
    max_context_tokens=1536,
    max_episode_tokens=1024,
    save_steps=2,
)

if __name__ == "__main__":
    sys.exit(run_recipe("recipes/mem1.py", CPU_DEFAULTS))
