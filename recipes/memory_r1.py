"""Memory-R1: train the Memory Manager (or the Answer Agent) with GRPO or PPO, the other one frozen.

    accelerate launch recipes/memory_r1.py                                          # manager, GRPO, CPU
    accelerate launch recipes/memory_r1.py --algorithm ppo                          # manager, PPO
    accelerate launch recipes/memory_r1.py --env_id memrl/MemoryR1-Answer-v0 \\
        --output_dir runs/memory_r1_answer                                          # answer agent

    # The paper's setting on one GPU: LoCoMo's first conversation (152 questions of categories
    # 1-4) cut into 4-session windows for the manager; the whole conversation for the answer agent.
    accelerate launch recipes/memory_r1.py --model_name_or_path meta-llama/Llama-3.1-8B-Instruct \\
        --backend vllm --bf16 true --env_kwargs '{"source": "locomo", "sessions": 4}' \\
        --max_context_tokens 4096 --max_new_tokens_per_turn 256 --max_episode_tokens 16384
    accelerate launch recipes/memory_r1.py --env_id memrl/MemoryR1-Answer-v0 --train_tasks 152 \\
        --model_name_or_path meta-llama/Llama-3.1-8B-Instruct --backend vllm --bf16 true \\
        --env_kwargs '{"source": "locomo"}' --max_context_tokens 4096

Hardware: the CPU default trains a LoRA on the embedded SmolLM2-135M-Instruct over generated
two-session dialogues: an SFT warm start on 120 episodes of the scripted careful manager
(``expert_reply``: 480 decisions, 60 steps), then 16 GRPO steps of 8 episodes: 25 min 36 s on 2
cores, peak memory 3.95 GB (measured at 8174b66: SFT ~10.5 s a step, GRPO steps 47-59 s).
Why 120 episodes and not fewer (a warm start that shows only the format, leaving the decisions to
RL): after 40 episodes the sampled UPDATEs mostly named the wrong memory, so RL learned to stop
updating (ADD only) and stayed 0.080 below the Mem0-style heuristic; after 120 the sampled UPDATEs
name the right memory 13 times in 17 at the start of RL, RL keeps them, and the manager scores
+0.069 [+0.052, +0.086] more on the same held-out dialogues. The paper's setting needs one GPU with
vLLM (and no warm start: add ``--sft_warm_start_episodes 0``, as Memory-R1 trains from the instruct
model).
The manager is rewarded by a frozen answer agent: the deterministic extractive one by default,
or an LLM (``--env_kwargs '{"answerer": "llm", "answerer_model": "<path or hub id>"}'``). The
answer agent reads the Mem0-style heuristic bank (``"bank": "facts"`` for every extracted fact).

Expected result (measured, `bench/results/memory_r1/rl_vs_sft/sft120/README.txt`): on 150 held-out
generated dialogues the trained manager scores 0.922 mean F1 (ADD 3.2, UPDATE 0.6, DELETE 0.1 an
episode) against 0.915 for the warm start alone, 0.346 for the untrained base (which writes no
valid operation) and 0.933 for the Mem0-style heuristic (trained - heuristic -0.010 [-0.029,
+0.007]). RL adds no measurable score over this warm start (+0.007 [-0.009, +0.023]); its gain
over a weaker one is shown with ``--sft_warm_start_episodes 40``: 0.853 against 0.796, paired
+0.057 [+0.036, +0.079] (`bench/results/memory_r1/rl_vs_sft/README.txt`), where RL learned to stop
updating. The answer agent (``--env_id memrl/MemoryR1-Answer-v0 --sft_warm_start_episodes
160 --max_context_tokens 2048``, 3.3 minutes) scores 0.580 F1 against 0.000 on 100 held-out
generated questions and 0.143 against 0.000 on 200 LoCoMo test questions. The frozen extractive
answerer bounds what a manager can reach: on 100 held-out generated dialogues (test split, 3
sessions) the mean F1 is 0.934 for a scripted manager that ADDs, UPDATEs on change and DELETEs
what was given up, 0.774 for one that only ADDs, 0.898 for the Mem0-style heuristic, 0.44 for
retrieval over raw turns and 0.263 with no memory or always NOOP (scripted policies of
tests/envs/test_memory_r1.py). Compare a trained adapter with the printed ``memrl eval`` command (with ``"source": "locomo"`` in its ``--env-kwargs``
for LoCoMo's held-out conversations). ``--help`` lists every option.
"""

from __future__ import annotations

import sys

from memrl.train.recipe import CPU_COMMON, run_recipe

CPU_DEFAULTS = dict(
    CPU_COMMON,
    env_id="memrl/MemoryR1-Manager-v0",
    # About four manager decisions per episode: small enough for a CPU. Compact tool list: the JSON
    # schemas would be most of every decision's prompt.
    env_kwargs={"sessions": 2, "tool_prompt": "compact"},
    output_dir="runs/memory_r1",
    # The base model does not write tool calls, so every GRPO group would score the same (no
    # gradient): a warm start on the scripted careful manager first, as for AgeMem.
    sft_warm_start_episodes=120,  # 40 taught wrong UPDATEs, which RL then dropped (docstring)
    sft_epochs=1.0,
    sft_learning_rate=1e-3,
    max_steps=16,  # 3 changed no greedy reply; 16 beat a 40-episode warm start (bench/results/memory_r1/rl_vs_sft)
    temperature=0.8,
    max_new_tokens_per_turn=96,
    max_context_tokens=1536,
    max_episode_tokens=1024,
    save_steps=2,
)

if __name__ == "__main__":
    sys.exit(run_recipe("recipes/memory_r1.py", CPU_DEFAULTS))
