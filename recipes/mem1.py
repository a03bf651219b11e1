"""MEM1: train an agent that keeps a constant-size context by rewriting its internal state (PPO).

    accelerate launch recipes/mem1.py                                    # CPU default, embedded model
    accelerate launch recipes/mem1.py --algorithm grpo                   # GRPO instead of PPO
    accelerate launch --config_file recipes/accelerate/zero2.yaml recipes/mem1.py \\
        --model_name_or_path Qwen/Qwen2.5-7B-Instruct --backend vllm --bf16 true \\
        --env_kwargs '{"n_objectives": 2, "source": "hotpotqa"}' --train_tasks 1000 \\
        --max_new_tokens_per_turn 512 --max_context_tokens 4096 --max_episode_tokens 8192 \\
        --num_generations 8 --per_device_train_batch_size 8 --max_steps 300

Hardware: the default runs on 2 CPU cores with the embedded SmolLM2-135M-Instruct + LoRA on
generated 2-objective tasks (fictional people, BM25 search over their documents; no data needed):
an SFT warm start on 40 episodes of the scripted expert (``expert_reply``: searches each question
once, keeps the answers found in its internal state, answers; 120 turns), then 3 PPO steps, saved
to `runs/mem1/final`: 16 minutes on 2 cores (measured: SFT 15 steps, PPO steps of 160-224 s). The GPU line is MEM1's setting: train on
2-objective HotpotQA (`../shared/data/hotpotqa`), evaluate up to 16 objectives.

Expected result: the run prints the `memrl eval` command for the adapter against the untrained
base and the full-context baseline (`memory_mode="full_context"`) on held-out tasks; for EM and
peak context by N in one table and plot, give it `--env-kwargs '{"n_objectives": [1, 2, 4, 8, 16],
"source": "synthetic"}'` (task k has N = n_objectives[k % 5]). Peak context against N for the three context
rules is in `bench/results/mem1_memory.txt` (a scripted agent: full context / MEM1 = 5.8 at N=16).
Measured (bench/results/mem1/README.txt, 30 held-out tasks at N = 1/2/4): EM 0.292 [0.158, 0.450]
against 0.000 for the untrained base and for full context (SFT alone 0.267); 0.75 at N = 2, the
training size, and 0.125 / 0 at N = 4 / 1.

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
    env_kwargs={"n_objectives": 2, "source": "synthetic"},
    algorithm="ppo",
    output_dir="runs/mem1",
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
    sys.exit(run_recipe("recipes/mem1.py", CPU_DEFAULTS))
