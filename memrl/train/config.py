"""The one training config: TRL's GRPOConfig plus what multi-turn memory training needs.

Parsed with TRL's parser, so a YAML file (``--config x.yaml``) sets defaults and CLI flags
override them; unknown keys are rejected. Every field's ``help`` is its ``--help`` line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig

from memrl.errors import UserError


@dataclass
class MemRLConfig(GRPOConfig):
    # -- what to train on ------------------------------------------------------------------
    env_id: str = field(default="memrl/FactRecall-v0", metadata={"help": "Environment id (`memrl envs` lists them)."})
    env_kwargs: dict[str, Any] | str | None = field(default=None, metadata={"help": "Keyword arguments for the environment (YAML mapping or JSON)."})
    model_name_or_path: str | None = field(default=None, metadata={"help": "HF model id or local path; default: the embedded SmolLM2-135M-Instruct."})
    train_tasks: int = field(default=256, metadata={"help": "Number of generated training tasks (train split)."})
    task_seed: int = field(default=0, metadata={"help": "Seed of the task generator."})
    algorithm: str = field(default="grpo", metadata={"help": "grpo (GRPO family: DCPO, multi-conversation DAPO, step-wise GRPO) or ppo (critic + GAE)."})
    curriculum: bool = field(default=False, metadata={"help": "Train on tasks in increasing difficulty (easy stages first, spread over the run's steps, no shuffling); for recipes that define a schedule (AgeMem)."})
    # -- rollout -------------------------------------------------------------------------------
    backend: str = field(default="hf", metadata={"help": "Rollout backend: hf | vllm | vllm-server."})
    max_turns: int | None = field(default=None, metadata={"help": "Turn cap per episode (default: the environment's)."})
    max_new_tokens_per_turn: int = field(default=128, metadata={"help": "New tokens the policy may sample in one turn."})
    max_context_tokens: int = field(default=2048, metadata={"help": "Prompt + new tokens of one model call."})
    max_episode_tokens: int = field(default=4096, metadata={"help": "Policy tokens summed over one episode."})
    rollout_temperature: float | None = field(default=None, metadata={"help": "Sampling temperature for rollouts (default: `temperature`)."})
    save_rollouts: bool = field(default=False, metadata={"help": "Append every step's trajectories to <output_dir>/rollouts.jsonl."})
    # -- held-out evaluation (learning curves; TRL's eval loop scores completions, not episodes) --------
    eval_every: int = field(default=0, metadata={"help": "Play eval_tasks held-out tasks greedily every this many steps, at step 0 and after the last step, into log.jsonl (phase 'eval'); 0 = off. Episodes per batched generate: per_device_eval_batch_size."})
    eval_tasks: int = field(default=16, metadata={"help": "Held-out tasks played at each evaluation (a fixed set: eval_split tasks of task_seed)."})
    eval_split: str = field(default="validation", metadata={"help": "Split of the held-out tasks: validation (default; never trained on, and not the test set a final table reports) or test."})
    # -- warm start ------------------------------------------------------------------------------
    sft_warm_start_episodes: int = field(default=0, metadata={"help": "Episodes of the env's scripted expert to fine-tune on (TRL SFTTrainer) before RL; 0 = off. Needs an env with expert_reply()."})
    sft_epochs: float = field(default=2.0, metadata={"help": "Epochs of the SFT warm start."})
    sft_learning_rate: float = field(default=1e-3, metadata={"help": "Learning rate of the SFT warm start."})
    # -- reward and credit -----------------------------------------------------------------------
    reward_plugins: dict[str, float] | str | None = field(default=None, metadata={"help": "Reward plugins and weights, e.g. {exact_match: 1.0, format_compliance: 0.1}; default: the environment's own reward."})
    advantage_baseline: str = field(default="mean", metadata={"help": "mean (GRPO) or rloo (leave-one-out)."})
    segments_per_group: int | None = field(default=None, metadata={"help": "DCPO (MemAct): train on this many segments sampled per group of num_generations trajectories (all when fewer), after advantages are computed over the unique trajectories; default: every segment. GRPO family only; groups are sampled per process, so keep per_device_train_batch_size a multiple of num_generations."})
    loss_aggregation: str = field(default="token", metadata={"help": "token: a token mean over the batch (with loss_type dapo); trajectory: every trajectory weighs the same, whatever its length or number of segments."})
    update_tokens_per_forward: int = field(default=2048, metadata={"help": "Padded tokens per forward + backward in the update: rows are sorted by length and cut into micro-batches of about this many tokens (each padded only to its own longest row), which bounds activation memory; larger is faster on big machines."})
    logits_chunk_tokens: int = field(default=256, metadata={"help": "Positions whose full-vocabulary logits exist at once when the update and the SFT warm start compute log-probs, entropies and the loss (only on trained tokens; 256 x a 49k vocabulary = 50 MB of float32); lower saves memory, 0 computes every completion position's logits at once."})
    sampling_correction: bool = field(default=True, metadata={"help": "Weight each token's advantage by the truncated importance ratio min(p_train / p_sample, sampling_correction_cap): corrects for the rollout sampling under other numerics (bf16, KV cache, vLLM) than the update. The gap is logged either way (rollout/logp_mismatch_mean)."})
    sampling_correction_cap: float = field(default=3.0, metadata={"help": "Upper bound of the sampling-correction ratio (TRL's vllm_importance_sampling_clip_max)."})
    # -- PPO -------------------------------------------------------------------------------------
    gae_gamma: float = field(default=1.0, metadata={"help": "PPO: discount over policy tokens."})
    gae_lambda: float = field(default=0.95, metadata={"help": "PPO: GAE lambda."})
    vf_coef: float = field(default=0.5, metadata={"help": "PPO: weight of the value loss."})
    cliprange_value: float = field(default=0.2, metadata={"help": "PPO: clip range of the value update."})
    cpu_threads: int | None = field(default=None, metadata={"help": "torch threads per process on a machine without CUDA; default: the cores this process may use divided by the processes on this machine (accelerate launch sets OMP_NUM_THREADS=1 where it counts one physical core, which halves the speed of 2 hyperthreads)."})
    # -- model -----------------------------------------------------------------------------------
    # TRL turns gradient checkpointing on by default; it re-runs every forward in the backward
    # (a third more compute) to save activation memory that a small model does not need.
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in the backward pass to save memory (costs about a third more compute); on for large models."})
    use_lora: bool = field(default=True, metadata={"help": "Train a LoRA adapter (PEFT); false = full fine-tuning."})
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha."})
    lora_dropout: float = field(default=0.0, metadata={"help": "LoRA dropout."})
    lora_target_modules: str = field(default="all-linear", metadata={"help": "Modules to adapt (PEFT's target_modules)."})

    def __post_init__(self) -> None:
        self.env_kwargs = _mapping(self.env_kwargs, "env_kwargs")
        self.reward_plugins = _mapping(self.reward_plugins, "reward_plugins")
        # bf16 where the hardware runs it natively: a CUDA GPU with bf16, or a CPU with AMX-BF16 /
        # AVX512-BF16 (there a bf16 matmul measured ~5x float32's rate). TRL defaults it to True,
        # which fails on other CPUs. The loss stays TRL's "dapo" default: a token mean over the
        # whole batch, so an episode cut into many segments (rows) is not over-weighted.
        import torch

        from memrl.models.loading import cpu_bf16_kind

        if self.bf16 is None:
            cuda = torch.cuda.is_available()
            self.bf16 = bool(torch.cuda.is_bf16_supported()) if cuda else cpu_bf16_kind() is not None
        if not torch.cuda.is_available():
            # Several processes on a CPU-only machine join over gloo only in accelerate's CPU mode.
            self.use_cpu = True
            os.environ.setdefault("ACCELERATE_USE_CPU", "true")
            torch.set_num_threads(self.cpu_threads if (self.cpu_threads or 0) > 0 else cpu_threads_per_process())
        if self.gradient_checkpointing and self.gradient_checkpointing_kwargs is None:
            # Non-reentrant checkpointing: the reentrant kind marks shared parameters ready twice
            # under DDP when one forward feeds two heads (PPO's policy and value).
            self.gradient_checkpointing_kwargs = {"use_reentrant": False}
        if self.ddp_find_unused_parameters is None:
            # Every trainable parameter takes part in every step (LoRA, PPO's value head, which is
            # read beside the model output where DDP's unused-parameter search cannot see it).
            self.ddp_find_unused_parameters = False
        super().__post_init__()
        rules = [
            (self.cpu_threads is None or self.cpu_threads >= 1, f"cpu_threads ({self.cpu_threads}) must be at least 1"),
            (self.algorithm in ("grpo", "ppo"), f"algorithm ({self.algorithm!r}) must be 'grpo' or 'ppo'"),
            (self.loss_type in ("dapo", "bnpo", "cispo"), f"loss_type ({self.loss_type!r}) must be a token-normalised loss (dapo, bnpo, cispo): per-row losses (grpo, dr_grpo, sapo, luspo) over-weight episodes with many segments and are skewed by the zero-mask padding rows"),
            (self.loss_aggregation in ("token", "trajectory"), f"loss_aggregation ({self.loss_aggregation!r}) must be 'token' or 'trajectory'"),
            (self.loss_aggregation == "token" or self.loss_type == "dapo", f"loss_aggregation 'trajectory' needs loss_type 'dapo' (got {self.loss_type!r})"),
            (self.advantage_baseline in ("mean", "rloo"), f"advantage_baseline ({self.advantage_baseline!r}) must be 'mean' or 'rloo'"),
            (self.segments_per_group is None or self.segments_per_group >= 1, f"segments_per_group ({self.segments_per_group}) must be at least 1, or unset to train on every segment"),
            (self.segments_per_group is None or self.algorithm == "grpo", f"segments_per_group needs algorithm 'grpo' (got {self.algorithm!r}): PPO's GAE runs over every segment of a trajectory in order"),
            (self.update_tokens_per_forward >= 1, f"update_tokens_per_forward ({self.update_tokens_per_forward}) must be at least 1"),
            (self.logits_chunk_tokens >= 0, f"logits_chunk_tokens ({self.logits_chunk_tokens}) must be >= 0 (0 = unchunked)"),
            (self.sampling_correction_cap >= 1.0, f"sampling_correction_cap ({self.sampling_correction_cap}) must be at least 1"),
            (self.num_generations >= 2, f"num_generations ({self.num_generations}) must be at least 2: a group of one has no baseline"),
            (self.max_new_tokens_per_turn >= 1, f"max_new_tokens_per_turn ({self.max_new_tokens_per_turn}) must be at least 1"),
            (self.max_context_tokens > self.max_new_tokens_per_turn, f"max_context_tokens ({self.max_context_tokens}) must exceed max_new_tokens_per_turn ({self.max_new_tokens_per_turn})"),
            (self.train_tasks >= 1, f"train_tasks ({self.train_tasks}) must be at least 1"),
            (self.sft_warm_start_episodes >= 0, f"sft_warm_start_episodes ({self.sft_warm_start_episodes}) must be >= 0"),
            (0 <= self.gae_lambda <= 1, f"gae_lambda ({self.gae_lambda}) must be in [0, 1]"),
        ]
        for ok, message in rules:
            if not ok:
                raise UserError(message)


    @property
    def model_dtype(self) -> str:
        """The dtype the policy's weights are loaded in: bf16 when ``bf16`` is on (the LoRA
        weights PEFT adds stay float32, so the optimizer keeps full-precision masters)."""
        return "bfloat16" if self.bf16 else ("float16" if self.fp16 else "float32")


def _mapping(value: Any, name: str) -> dict[str, Any]:
    """A setting given as a mapping (YAML, Python) or as a JSON object on the command line."""
    if value is None:
        return {}
    if isinstance(value, str):
        from memrl.parsing import json_object

        return json_object(value, name)
    if not isinstance(value, dict):
        raise UserError(f"{name} must be a mapping, got {type(value).__name__}")
    return dict(value)


def cpu_threads_per_process() -> int:
    """The cores this process may use, shared evenly by the processes on this machine."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1"))))
