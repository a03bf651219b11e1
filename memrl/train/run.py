"""Build a trainer from the config: what every recipe calls."""

from __future__ import annotations

import sys
import warnings
from typing import Any, Callable, Sequence

from memrl.errors import UserError
from memrl.train.config import MemRLConfig


def parse_config(argv: Sequence[str] | None = None, defaults: dict[str, Any] | None = None) -> MemRLConfig:
    """TRL's parser: ``--config file.yaml`` sets defaults, flags override; unknown keys fail.

    Every problem is one UserError line: a missing or unparsable YAML file (with its line), a flag
    argparse refuses (instead of the whole usage block), an unknown key, a value a rule refuses.
    """
    from trl import TrlParser

    class OneLineTrlParser(TrlParser):
        def error(self, message: str) -> Any:
            raise UserError(f"{message} (see --help)")

    args = list(sys.argv[1:] if argv is None else argv)
    _check_yaml(args)
    parser = OneLineTrlParser((MemRLConfig,))
    if defaults:
        parser.set_defaults(**defaults)
    try:
        with warnings.catch_warnings():
            # transformers 5 renames gradient_checkpointing*, which TRL's config still sets: a
            # warning the user cannot act on, printed before every recipe's own output or error.
            warnings.filterwarnings("ignore", r"`gradient_checkpointing\w*` is deprecated", FutureWarning)
            (config,) = parser.parse_args_and_config(args)
    except ValueError as e:  # unknown YAML keys, bad values
        raise UserError(str(e).strip().splitlines()[0]) from None
    return config


def _check_yaml(args: list[str]) -> None:
    """``--config FILE``: a file that exists and parses as a YAML mapping (TRL would raise raw)."""
    import yaml

    from memrl.checks import input_file

    if "--config" not in args:
        return
    at = args.index("--config")
    if at + 1 >= len(args):
        raise UserError("--config needs a YAML file, e.g. --config my.yaml")
    path = input_file(args[at + 1], "--config")
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise UserError(f"--config {str(path)!r} is not a YAML text file (byte {exc.start} is not UTF-8)") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        raise UserError(f"--config {str(path)!r} is not valid YAML: {problem}{where}") from None
    if not isinstance(config, dict):
        raise UserError(f"--config {str(path)!r} must hold a YAML mapping of settings (key: value), got {type(config).__name__}")


def build_trainer(
    config: MemRLConfig,
    *,
    model: Any = None,
    tokenizer: Any = None,
    env_factory: Callable[[], Any] | None = None,
    train_tasks: list[dict[str, Any]] | None = None,
    rewards: Any = None,
    callbacks: list | None = None,
    warm_start: bool = True,
) -> Any:
    """A GRPO-family or PPO trainer for ``config`` (LoRA by default), after the optional SFT warm
    start (``config.sft_warm_start_episodes``; skipped with ``warm_start=False``, e.g. on resume,
    where the checkpoint's adapter already holds it)."""
    from memrl.models import load_model_and_tokenizer
    from memrl.models.threads import use_all_cores
    from memrl.train.grpo import MemoryGRPOTrainer
    from memrl.train.ppo import MemoryPPOTrainer
    from memrl.train.validation import add_held_out_eval, held_out_tasks

    refuse_sharding_without_gpus()
    if (line := use_all_cores()) is not None:
        print(line, file=sys.stderr)
    held_out = held_out_tasks(config, env_factory)  # checked before the model loads
    if model is None:
        model, tokenizer = load_model_and_tokenizer(config.model_name_or_path, dtype=config.model_dtype)
        print(f"policy weights in {config.model_dtype} ({precision_reason(config)})", file=sys.stderr)
    elif tokenizer is None:
        raise UserError("build_trainer got a model but no tokenizer; pass tokenizer=...")
    peft_config = None
    if config.use_lora:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
            target_modules=config.lora_target_modules, task_type="CAUSAL_LM",
        )
    model = frozen_weights_in_bf16(model, config)
    if warm_start and config.sft_warm_start_episodes > 0:
        from memrl.env.registry import make
        from memrl.train.warmstart import sft_warm_start

        factory = env_factory or (lambda: make(config.env_id, **config.env_kwargs))
        # Demonstrations come from the train split, seeded apart from the RL tasks' seed.
        demos = factory().make_tasks("train", config.sft_warm_start_episodes, config.task_seed + 1)
        model = sft_warm_start(model, tokenizer, config, peft_config, factory, demos)
    if hasattr(model, "peft_config"):
        peft_config = None  # RL continues the adapter the model already has
    model = frozen_weights_in_bf16(model, config)
    cls = MemoryPPOTrainer if config.algorithm == "ppo" else MemoryGRPOTrainer
    trainer = cls(
        model, config, processing_class=tokenizer, train_tasks=train_tasks, env_factory=env_factory,
        rewards=rewards, peft_config=peft_config, callbacks=callbacks,
    )
    add_held_out_eval(trainer, held_out)  # --eval_every: learning curves on held-out tasks
    return trainer


def frozen_weights_in_bf16(model: Any, config: MemRLConfig) -> Any:
    """On a CPU with ``bf16``: the weights that will not be trained in bf16, the trained ones
    (LoRA, PPO's value head) in float32, so the optimizer keeps full-precision masters. A float32
    model under bf16 autocast is not an option on a CPU: transformers' attention then mixes
    float32 keys with bf16 values. Full fine-tuning keeps float32 (no master copy) and bf16 off."""
    import torch

    if not config.bf16 or torch.cuda.is_available():
        return model
    if not config.use_lora and not hasattr(model, "peft_config"):
        config.bf16 = False  # read by the Trainer: no autocast over float32 weights
        print("bf16 off: full fine-tuning on a CPU keeps float32 weights", file=sys.stderr)
        return model
    lora = hasattr(model, "peft_config")
    for name, param in model.named_parameters():
        if param.is_floating_point() and not (lora and param.requires_grad):
            param.data = param.data.to(torch.bfloat16)
    return model


def precision_reason(config: MemRLConfig) -> str:
    """Why the policy runs in the precision it does, for the start-of-run line."""
    import torch

    from memrl.models.loading import cpu_bf16_kind

    if torch.cuda.is_available():
        return "CUDA"
    kind = cpu_bf16_kind()
    if config.bf16:
        return f"CPU with {kind}" if kind else "bf16 asked for on a CPU without native bf16: slow"
    return f"--bf16 false on a CPU with {kind}" if kind else "this CPU has no native bf16"


def refuse_sharding_without_gpus() -> None:
    """One line instead of a quiet fallback: accelerate (1.15) turns FSDP and DeepSpeed on only
    for GPU-like devices. On a machine without CUDA, where memrl sets ``use_cpu``, a launch with
    recipes/accelerate/fsdp*.yaml or zero*.yaml joins the processes as MULTI_CPU (DDP over gloo)
    and drops the sharding settings, so every process would hold the whole model and optimizer."""
    import os

    import torch

    if torch.cuda.is_available():
        return
    for variable, name in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")):
        if os.environ.get(variable, "false").lower() == "true":
            raise UserError(f"{name} needs CUDA GPUs: without them accelerate runs the processes as plain DDP over "
                            f"gloo and ignores the {name} settings; launch with recipes/accelerate/cpu_2proc.yaml "
                            f"for several CPU processes, or on GPUs")


def shut_down(trainer: Any) -> None:
    """End trackers and leave the process group cleanly: a gloo group left to the interpreter's
    exit can abort a rank ("terminate called without an active exception")."""
    import torch.distributed as dist

    trainer.accelerator.wait_for_everyone()
    trainer.accelerator.end_training()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
