"""AgeMem: train one agent to manage long-term memory and its context (step-wise GRPO).

    accelerate launch recipes/agemem.py                                  # CPU default, embedded model
    accelerate launch recipes/agemem.py --sft_warm_start_episodes 0      # RL alone, no warm start
    accelerate launch --config_file recipes/accelerate/zero2.yaml recipes/agemem.py \\
        --model_name_or_path Qwen/Qwen2.5-7B-Instruct --backend vllm --bf16 true \\
        --env_kwargs '{"hops": 2, "distractors": 10, "updates": 2, "tool_prompt": "json"}' \\
        --sft_warm_start_episodes 0 --num_generations 8 --per_device_train_batch_size 8 --max_steps 500

Hardware: the default runs on 2 CPU cores with the embedded SmolLM2-135M-Instruct + LoRA in
about 6 minutes (measured 5 min 24 s on 2 cores, peak memory 3.53 GB: a warm start of 20 SFT
steps on 40 scripted-expert episodes, ~3 min, then 3 GRPO steps of 8 episodes on generated
three-stage tasks, 50-53 s each) and saves `runs/agemem/final`. That warm start is long: the
adapter it leaves already scores 0.80 on held-out tasks and more GRPO steps over it have not
beaten it, with or without `--curriculum` (16 steps: -0.030 [-0.080, +0.010]).

RL over a warm start that shows the format and leaves the decisions to RL (29 min on 2 cores,
peak 4.52 GB; bench/results/agemem/rl_vs_sft/README.txt):

    accelerate launch recipes/agemem.py --num_generations 8 --per_device_train_batch_size 16 \
        --temperature 0.6 --max_steps 12 --eval_every 6 --eval_tasks 16 --reward_plugins \
        '{"agemem_task": 1.0, "agemem_context": 0.1667, "agemem_memory": 0.1667, "agemem_penalty": 1.0}'

The same 40 expert episodes make only 10 SFT steps at batch 16 (the warm start's batch is
`--per_device_train_batch_size`), so the policy still runs out of turns on a quarter of the tasks;
groups of 8 samples near the greedy policy (temperature 0.6) with the answer's F1 weighted most
then teach it to answer, and to answer right: held-out F1 0.380 -> 0.650, paired +0.270
[+0.140, +0.400] over the same adapter before RL on 100 test tasks. Still below the default's
longer warm start alone (0.80), which is why the default stays as it is.
RL that adds over the default's own warm start (35 min on 2 cores of a CPU without AMX, peak 3.60 GB;
bench/results/agemem/rl_vs_sft/dynamic_sampling/README.txt):

    accelerate launch recipes/agemem.py --sft_epochs 2 --num_generations 8 --per_device_train_batch_size 16 \
        --temperature 0.6 --max_steps 10 --dynamic_sampling_rounds 2 --reward_plugins \
        '{"agemem_task": 1.0, "agemem_context": 0.1667, "agemem_memory": 0.1667, "agemem_penalty": 1.0}'

The same 20-step warm start as the default (batch 16, two epochs), then 10 steps of groups of 8. Over it most
groups of 8 samples all score alike (14 of 20 in that run's first rollouts: nothing to compare), so
`--dynamic_sampling_rounds 2` replaces them with fresh tasks' groups: 0.820 -> 0.917, paired +0.097
[+0.037, +0.160] on 100 test tasks (without the refills +0.040 [-0.010, +0.100], not shown); rerun at
--seed 1: +0.087 [+0.000, +0.177], both seeds per task +0.092 [+0.040, +0.142].
The GPU line is AgeMem's setting (K = 8).

Expected result: the run prints the `memrl eval` command to compare the adapter with the untrained
base and the baselines on 100 held-out tasks; the measured table is in the README (Results).

Step-wise GRPO: every stage is a segment (a row); the trajectory's terminal advantage (its reward
minus its group's mean) is broadcast to every policy token of every stage. The reward is AgeMem's
composite (task, context, memory terms, 1/3 each, plus penalties); each term is its own plugin
(`agemem_task`, `agemem_context`, `agemem_memory`, `agemem_penalty`) and is logged separately.
AgeMem's three-stage progressive strategy is this episode structure: each trajectory builds
long-term memory (stage 1), then manages a reset, noisy and budgeted context (stage 2), then
reasons with both (stage 3), and one advantage trains all three.

`--curriculum` adds the progressive schedule across the run: the steps are split evenly between
three kinds of task, easiest first and never shuffled (`curriculum_stages` below): store and
recall (half the facts, no distractors, no corrections), then the full facts with the
distractors (the context budget starts to bind), then the configured task (corrections too).
"""

from __future__ import annotations

import sys

from typing import Any

from memrl.errors import UserError
from memrl.train.recipe import CPU_COMMON, run_recipe

CPU_DEFAULTS = dict(
    CPU_COMMON,
    env_id="memrl/AgeMem-v0",
    # Compact tool list: the JSON schemas would be 720 of every segment's tokens on a CPU.
    env_kwargs={"tool_prompt": "compact"},
    output_dir="runs/agemem",
    reward_plugins={"agemem_task": 1 / 3, "agemem_context": 1 / 3, "agemem_memory": 1 / 3, "agemem_penalty": 1.0},
    # 40 expert episodes (160 turns, 20 SFT steps, ~10 min): with 16 the model still ran past
    # the end of its tool calls and looped on Retrieve_memory instead of answering (measured).
    sft_warm_start_episodes=40,
    sft_epochs=1.0,
    sft_learning_rate=1e-3,
    max_steps=3,
    temperature=0.8,
    max_new_tokens_per_turn=192,
    max_context_tokens=1024,
    max_episode_tokens=1024,
    train_tasks=256,
    save_steps=2,
)


def curriculum_stages(config: Any) -> list[dict[str, Any]]:
    """The difficulty knobs (``memrl.data.worlds.Knobs``) of each curriculum stage, easiest first;
    a stage the configured task makes identical to the next one is dropped."""
    from memrl.data.worlds import Knobs

    kwargs = config.env_kwargs
    if kwargs.get("source", "synthetic") not in ("synthetic", "generated"):
        raise UserError(f"--curriculum needs generated AgeMem tasks (source synthetic), not source {kwargs['source']!r}")
    top = Knobs(**{k: kwargs[k] for k in ("facts", "hops", "distractors", "updates") if k in kwargs})
    stages = [
        dict(facts=max(top.hops, top.facts // 2), hops=top.hops, distractors=0, updates=0),  # store and recall
        dict(facts=top.facts, hops=top.hops, distractors=top.distractors, updates=0),  # + a noisy, budgeted context
        dict(facts=top.facts, hops=top.hops, distractors=top.distractors, updates=top.updates),  # + corrections
    ]
    return [s for i, s in enumerate(stages) if i + 1 == len(stages) or s != stages[i + 1]]


if __name__ == "__main__":
    sys.exit(run_recipe("recipes/agemem.py", CPU_DEFAULTS, curriculum=curriculum_stages))
