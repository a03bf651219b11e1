"""The training config: TRL's GRPOConfig plus what multi-turn memory training needs, parsed
beside TRL's own ModelConfig (the model and its LoRA adapter) as TRL's example scripts do.

Parsed with TRL's parser (:func:`memrl.train.run.parse_config`), so a YAML file (``--config
x.yaml``) sets defaults and CLI flags override them; unknown keys are rejected. Every field's
``help`` is its ``--help`` line. The episode settings (env, budgets, reward plugins) come from
:class:`memrl.settings.EpisodeSettings`, which ``memrl rollout`` and ``memrl eval`` read too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from trl import GRPOConfig, ModelConfig

from memrl.errors import UserError
from memrl.settings import EpisodeSettings

# memrl's defaults for TRL's ModelConfig: a LoRA adapter on every linear layer, no dropout (TRL
# defaults to full fine-tuning and 0.05). `model_config()` and the recipes' parser apply them.
MODEL_DEFAULTS: dict[str, Any] = dict(use_peft=True, lora_dropout=0.0, lora_target_modules="all-linear")


def model_config(**overrides: Any) -> ModelConfig:
    """TRL's ModelConfig with memrl's defaults (:data:`MODEL_DEFAULTS`) under ``overrides``."""
    return ModelConfig(**{**MODEL_DEFAULTS, **overrides})


# TRL settings memrl does not honour (its rollouts, rewards and model loading are its own), each
# with what to use instead. The parser refuses them in one line and hides them from --help: left
# in, they were silently ignored or crashed inside TRL (--reward_weights).
_REWARDS = "weight memrl's reward plugins with --reward_plugins '{\"name\": weight}'"
_VLLM = "memrl's rollouts pick vLLM with --backend vllm (in-process) or --backend vllm-server"
_IS = "memrl corrects for the sampling gap with --sampling_correction and --sampling_correction_cap"
_SAMPLING = "memrl's rollouts sample with --temperature, --top_p and --top_k only"
_LOGS = "--save_rollouts true writes every episode to <output_dir>/rollouts.jsonl"
_QUANT = "memrl does not load quantized base models"
NOT_HONOURED: dict[str, str] = {
    "reward_weights": _REWARDS, "multi_objective_aggregation": _REWARDS,
    "max_completion_length": "memrl's budgets are --max_new_tokens_per_turn and --max_episode_tokens",
    "max_tool_calling_iterations": "memrl's turn cap is --max_turns",
    **dict.fromkeys(("use_vllm", "vllm_mode", "vllm_model_impl", "vllm_server_base_url", "vllm_server_host",
                     "vllm_server_port", "vllm_server_timeout", "vllm_group_port", "vllm_gpu_memory_utilization",
                     "vllm_tensor_parallel_size", "vllm_enable_sleep_mode", "vllm_max_model_length",
                     "vllm_structured_outputs_regex"), _VLLM),
    **dict.fromkeys(("vllm_importance_sampling_correction", "vllm_importance_sampling_mode",
                     "vllm_importance_sampling_cap", "vllm_importance_sampling_clip_min",
                     "vllm_importance_sampling_clip_max"), _IS),
    **dict.fromkeys(("generation_kwargs", "min_p", "repetition_penalty", "cache_implementation",
                     "use_transformers_paged", "use_transformers_continuous_batching",
                     "transformers_continuous_batching_config"), _SAMPLING),
    **dict.fromkeys(("log_completions", "log_completions_hub_repo", "num_completions_to_print", "log_unique_prompts"), _LOGS),
    "chat_template_kwargs": "memrl's envs render their prompts with the tokenizer's own chat template",
    "model_init_kwargs": "memrl loads the model itself; --bf16 sets its dtype",
    # ModelConfig
    "dtype": "memrl loads the policy in bf16 with --bf16 true, else in float32",
    "model_revision": "pass a local folder or a hub id at the revision you want",
    "attn_implementation": "memrl loads the model with transformers' default attention",
    "lora_task_type": "memrl trains causal LMs (CAUSAL_LM)",
    **dict.fromkeys(("load_in_8bit", "load_in_4bit", "bnb_4bit_quant_type", "use_bnb_nested_quant",
                     "bnb_4bit_quant_storage"), _QUANT),
}


@dataclass
class MemRLConfig(GRPOConfig, EpisodeSettings):
    # The env, its tasks' seed, the backend, the token and turn budgets and the reward plugins are
    # EpisodeSettings' fields (shared with memrl rollout / memrl eval); the model and LoRA are
    # TRL's ModelConfig, parsed beside this config.
    # -- what to train on ------------------------------------------------------------------
    train_tasks: int = field(default=256, metadata={"help": "Number of generated training tasks (train split)."})
    algorithm: str = field(default="grpo", metadata={"help": "grpo (GRPO family: DCPO, multi-conversation DAPO, step-wise GRPO) or ppo (critic + GAE)."})
    curriculum: bool = field(default=False, metadata={"help": "Train on tasks in increasing difficulty (easy stages first, spread over the run's steps, no shuffling); for recipes that define a schedule (AgeMem)."})
    # -- rollout (sampling: TRL's temperature, top_p, top_k) -------------------------------------
    save_rollouts: bool = field(default=False, metadata={"help": "Append every step's trajectories to <output_dir>/rollouts.jsonl."})
    continuous_batching: bool = field(default=True, metadata={"help": "hf backend: an episode whose turn ended takes its env step at once and its next turn joins the running decode batch, instead of every turn decoding until the batch's longest reply ends (same tokens and log-probs, tested; 1.5x the sampled tokens/s on the AgeMem CPU default, bench/results/step_time.txt). false: turn-synchronous generate. vLLM batches continuously by itself."})
    merge_lora_rollouts: bool | None = field(default=None, metadata={"help": "hf backend: sample from LoRA merged into copies of the base weights (W + scale*B@A, rebuilt every rollout, originals untouched) instead of running the adapters at every decode step. Default: on where the weights are on a CPU (1.23x the sampled tokens/s there, bench/results/step_time.txt), off on GPUs, where the copy would cost a model's size of GPU memory; true/false to choose."})
    # -- held-out evaluation (learning curves; TRL's eval loop scores completions, not episodes) --------
    eval_every: int = field(default=0, metadata={"help": "Play eval_tasks held-out tasks greedily every this many steps, at step 0 and after the last step, into log.jsonl (phase 'eval'); 0 = off. Episodes per batched generate: per_device_eval_batch_size."})
    eval_tasks: int = field(default=16, metadata={"help": "Held-out tasks played at each evaluation (a fixed set: eval_split tasks of task_seed)."})
    eval_split: str = field(default="validation", metadata={"help": "Split of the held-out tasks: validation (default; never trained on, and not the test set a final table reports) or test."})
    # -- warm start ------------------------------------------------------------------------------
    sft_warm_start_episodes: int = field(default=0, metadata={"help": "Episodes of the env's scripted expert to fine-tune on (TRL SFTTrainer) before RL; 0 = off. Needs an env with expert_reply()."})
    sft_epochs: float = field(default=2.0, metadata={"help": "Epochs of the SFT warm start."})
    sft_learning_rate: float = field(default=1e-3, metadata={"help": "Learning rate of the SFT warm start."})
    sft_env_kwargs: dict[str, Any] | str | None = field(default=None, metadata={"help": "JSON merged over env_kwargs for the warm start's expert episodes only, e.g. '{\"n_objectives\": 2}': demonstrate the format on easy tasks and leave the harder ones (env_kwargs) to RL."})
    # -- reward and credit -----------------------------------------------------------------------
    advantage_baseline: str = field(default="mean", metadata={"help": "mean (GRPO) or rloo (leave-one-out)."})
    segments_per_group: int | None = field(default=None, metadata={"help": "DCPO (MemAct): train on this many segments sampled per group of num_generations trajectories (all when fewer), after advantages are computed over the unique trajectories; default: every segment. GRPO family only; groups are sampled per process, so keep per_device_train_batch_size a multiple of num_generations."})
    loss_aggregation: str = field(default="token", metadata={"help": "token: a token mean over the batch (with loss_type dapo); trajectory: every trajectory weighs the same, whatever its length or number of segments."})
    update_tokens_per_forward: int | None = field(default=None, metadata={"help": "Padded tokens per forward + backward in the update (and the SFT warm start's rows per forward): rows are sorted by length and cut into micro-batches of about this many tokens (each padded only to its own longest row), which bounds activation memory (~1.3 MB per token on the embedded 135M model). Default: 512 on a CPU (bounds the RAM of the main command, #25), 2048 on GPUs; larger is faster where memory allows."})
    logits_chunk_tokens: int = field(default=256, metadata={"help": "Positions whose full-vocabulary logits exist at once when the update and the SFT warm start compute log-probs, entropies and the loss (only on trained tokens; 256 x a 49k vocabulary = 50 MB of float32); lower saves memory, 0 computes every completion position's logits at once."})
    dynamic_sampling_rounds: int = field(default=0, metadata={"help": "GRPO family: after a step's rollout, replace each group whose num_generations samples all scored the same (advantage 0 everywhere: nothing to learn from) with a group of a fresh training task, for at most this many extra rollouts a step (DAPO's dynamic sampling, verl's filter_groups); a group still flat after the last round stays in the batch. 0 = off. Each round costs a rollout of the replaced groups; sampling/flat_groups and sampling/refill_rounds are logged."})
    skip_zero_advantage_rows: bool = field(default=True, metadata={"help": "Leave out of the update the rows whose trained tokens all have advantage 0 (e.g. every sample of a GRPO group scored the same): with beta 0, a token-normalised loss (dapo, cispo) and no entropy bonus their gradient is exactly zero, so the update is the same, only cheaper; the loss's entropy and clip metrics then cover the rows that were trained (update/skipped_row_share logs the share left out). PPO never skips (its value loss trains on every row)."})
    sampling_correction: bool = field(default=True, metadata={"help": "Weight each token's advantage by the truncated importance ratio min(p_train / p_sample, sampling_correction_cap): corrects for the rollout sampling under other numerics (bf16, KV cache, vLLM) than the update. The gap is logged either way (rollout/logp_mismatch_mean)."})
    sampling_correction_cap: float = field(default=3.0, metadata={"help": "Upper bound of the sampling-correction ratio (TRL's vllm_importance_sampling_clip_max)."})
    # -- PPO -------------------------------------------------------------------------------------
    gae_gamma: float = field(default=1.0, metadata={"help": "PPO: discount over policy tokens."})
    gae_lambda: float = field(default=0.95, metadata={"help": "PPO: GAE lambda."})
    vf_coef: float = field(default=0.5, metadata={"help": "PPO: weight of the value loss."})
    cliprange_value: float = field(default=0.2, metadata={"help": "PPO: clip range of the value update."})
    # -- compute ---------------------------------------------------------------------------------
    cpu_threads: int | None = field(default=None, metadata={"help": "torch threads per process on a machine without CUDA; default: the cores this process may use divided by the processes on this machine (accelerate launch sets OMP_NUM_THREADS=1 where it counts one physical core, which halves the speed of 2 hyperthreads)."})
    # TRL turns gradient checkpointing on by default; it re-runs every forward in the backward
    # (a third more compute) to save activation memory that a small model does not need.
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in the backward pass to save memory (costs about a third more compute); on for large models."})

    def __post_init__(self) -> None:
        self.env_kwargs = _mapping(self.env_kwargs, "env_kwargs")
        self.sft_env_kwargs = _mapping(self.sft_env_kwargs, "sft_env_kwargs")
        self.reward_plugins = _mapping(self.reward_plugins, "reward_plugins")
        # bf16 where the hardware runs it natively: a CUDA GPU with bf16, or a CPU with AMX-BF16 /
        # AVX512-BF16 (there a bf16 matmul measured ~5x float32's rate). TRL defaults it to True,
        # which fails on other CPUs. The loss stays TRL's "dapo" default: a token mean over the
        # whole batch, so an episode cut into many segments (rows) is not over-weighted.
        import torch
        from accelerate.utils import parse_flag_from_env

        from memrl.models.loading import cpu_bf16_kind

        # The CPU also where a GPU is present but the run asks for the CPU: --use_cpu, or
        # accelerate's use_cpu (recipes/accelerate/cpu.yaml sets ACCELERATE_USE_CPU). Missing
        # that, a cpu.yaml launch on a GPU machine loaded the model on the GPU while accelerate
        # ran on the CPU ("Calculated loss must be on the original device: cuda:0", on an H200).
        cuda = torch.cuda.is_available() and not (self.use_cpu or parse_flag_from_env("ACCELERATE_USE_CPU"))
        if self.bf16 is None:
            self.bf16 = bool(torch.cuda.is_bf16_supported()) if cuda else cpu_bf16_kind() is not None
        if not cuda:
            # Several processes on a CPU-only machine join over gloo only in accelerate's CPU mode.
            self.use_cpu = True
            os.environ.setdefault("ACCELERATE_USE_CPU", "true")
            torch.set_num_threads(self.cpu_threads if (self.cpu_threads or 0) > 0 else cpu_threads_per_process())
        if self.update_tokens_per_forward is None:
            # On a CPU the update's activations set the peak of RAM: a forward + backward of the
            # embedded model grows it by 2.7 GB at 2,048 tokens, 1.2 GB at 1,024 (bench/
            # activation_memory.py). The main command at 512 against 1,024, run after run: peak
            # 3.53 vs 4.09 GB, 5:24 vs 5:17 (its GRPO updates ~2.5 s slower a step; bench/results/
            # peak_memory.txt, #25); gradient checkpointing would cost ~22%. A GPU's memory is its own.
            self.update_tokens_per_forward = 2048 if cuda else 512
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
            (self.dynamic_sampling_rounds >= 0, f"dynamic_sampling_rounds ({self.dynamic_sampling_rounds}) must be >= 0 (0 = off)"),
            (not self.dynamic_sampling_rounds or self.algorithm == "grpo", f"dynamic_sampling_rounds needs algorithm 'grpo' (got {self.algorithm!r}): PPO's advantages do not come from groups"),
            (not self.dynamic_sampling_rounds or (self.per_device_train_batch_size * self.steps_per_generation) % self.num_generations == 0,
             f"dynamic_sampling_rounds needs whole groups on every process: per_device_train_batch_size ({self.per_device_train_batch_size}) x steps_per_generation ({self.steps_per_generation}) must be a multiple of num_generations ({self.num_generations})"),
            (not self.dynamic_sampling_rounds or not self.curriculum, "dynamic_sampling_rounds cannot be combined with --curriculum: refills draw tasks from the whole train set, not the current stage"),
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
