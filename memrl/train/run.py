"""Build a trainer from the config: what every recipe calls."""

from __future__ import annotations

import argparse
import gc
import sys
import warnings
from typing import TYPE_CHECKING, Any, Callable, Sequence

from memrl.errors import UserError
from memrl.train.config import MODEL_DEFAULTS, NOT_HONOURED, MemRLConfig, model_config

if TYPE_CHECKING:
    from trl import ModelConfig


def parse_config(argv: Sequence[str] | None = None, defaults: dict[str, Any] | None = None) -> tuple[MemRLConfig, ModelConfig]:
    """``(MemRLConfig, ModelConfig)`` from TRL's parser, as TRL's example scripts parse theirs:
    ``--config file.yaml`` sets defaults, flags override; unknown keys fail. ``defaults`` (a
    recipe's) may set fields of either. ``--use_lora`` is kept as memrl's older name of TRL's
    ``--use_peft``.

    Every problem is one UserError line: a missing or unparsable YAML file (with its line), a flag
    argparse refuses (instead of the whole usage block), a TRL setting memrl does not honour, an
    unknown key, a value a rule refuses.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    yaml_keys = _check_yaml(args)
    _refuse_not_honoured([a.split("=", 1)[0][2:] for a in args if a.startswith("--")] + yaml_keys)
    parser = config_parser(defaults)
    try:
        with warnings.catch_warnings():
            # transformers 5 renames gradient_checkpointing*, which TRL's config still sets: a
            # warning the user cannot act on, printed before every recipe's own output or error.
            warnings.filterwarnings("ignore", r"`gradient_checkpointing\w*` is deprecated", FutureWarning)
            config, model_args, extra = parser.parse_args_and_config(args)
    except ValueError as e:  # unknown YAML keys, bad values
        raise UserError(str(e).strip().splitlines()[0]) from None
    if extra.use_lora is not None:
        model_args.use_peft = extra.use_lora
    # An abbreviated flag (argparse accepts --reward_w) or a recipe default: caught by its value.
    _refuse_not_honoured([name for name in NOT_HONOURED if _differs(config, model_args, name)])
    return config, model_args


def config_parser(defaults: dict[str, Any] | None = None) -> argparse.ArgumentParser:
    """TRL's parser over ``(MemRLConfig, ModelConfig)`` with memrl's defaults (``MODEL_DEFAULTS``,
    then a recipe's ``defaults``), ``--use_lora``, and the TRL settings memrl does not honour
    hidden from ``--help``. Its errors are one UserError line."""
    from transformers.hf_argparser import string_to_bool
    from trl import ModelConfig, TrlParser

    class OneLineTrlParser(TrlParser):
        def error(self, message: str) -> Any:
            raise UserError(f"{message} (see --help)")

    parser = OneLineTrlParser((MemRLConfig, ModelConfig))
    parser.add_argument("--use_lora", type=string_to_bool, nargs="?", const=True, default=None,
                        help="Same as --use_peft (memrl's earlier name for it).")
    for action in parser._actions:
        if action.dest in NOT_HONOURED:
            action.help = argparse.SUPPRESS
    _check_defaults(parser, defaults or {})
    parser.set_defaults(**{**MODEL_DEFAULTS, **(defaults or {})})
    return parser


def _refuse_not_honoured(names: list[str]) -> None:
    for name in names:
        if name in NOT_HONOURED:
            raise UserError(f"--{name} is a TRL setting memrl does not honour: {NOT_HONOURED[name]}")


def _differs(config: MemRLConfig, model_args: Any, name: str) -> bool:
    import dataclasses

    from trl import ModelConfig

    owner = config if hasattr(config, name) else model_args
    cls = MemRLConfig if owner is config else ModelConfig
    f = cls.__dataclass_fields__[name]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    return getattr(owner, name) != default


def _check_defaults(parser: argparse.ArgumentParser, defaults: dict[str, Any]) -> None:
    """A recipe's defaults name real settings: a misspelt key would otherwise be dropped silently."""
    known = {action.dest for action in parser._actions}
    unknown = sorted(set(defaults) - known)
    if unknown:
        raise ValueError(f"recipe defaults name unknown settings: {', '.join(unknown)}")


def _check_yaml(args: list[str]) -> list[str]:
    """``--config FILE``: a file that exists and parses as a YAML mapping (TRL would raise raw).
    Returns its keys."""
    import yaml

    from memrl.checks import input_file

    if "--config" not in args:
        return []
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
    return [str(key) for key in config]


def build_trainer(
    config: MemRLConfig,
    *,
    model_args: ModelConfig | None = None,
    model: Any = None,
    tokenizer: Any = None,
    env_factory: Callable[[], Any] | None = None,
    train_tasks: list[dict[str, Any]] | None = None,
    rewards: Any = None,
    callbacks: list | None = None,
    warm_start: bool = True,
) -> Any:
    """A GRPO-family or PPO trainer for ``config`` and TRL's ``model_args`` (default: memrl's,
    :func:`memrl.train.config.model_config`: the embedded model with a LoRA adapter), after the
    optional SFT warm start (``config.sft_warm_start_episodes``; skipped with ``warm_start=False``,
    e.g. on resume, where the checkpoint's adapter already holds it). A ``model`` given here
    replaces ``model_args.model_name_or_path``; its LoRA settings still apply."""
    from trl import get_peft_config

    from memrl.models import load_model_and_tokenizer
    from memrl.models.threads import use_all_cores
    from memrl.train.grpo import MemoryGRPOTrainer
    from memrl.train.ppo import MemoryPPOTrainer
    from memrl.train.validation import add_held_out_eval, held_out_tasks

    refuse_sharding_without_gpus()
    if (line := use_all_cores()) is not None:
        print(line, file=sys.stderr)
    held_out = held_out_tasks(config, env_factory)  # checked before the model loads
    model_args = model_args if model_args is not None else model_config()
    if model is None:
        model, tokenizer = load_model_and_tokenizer(model_args.model_name_or_path, dtype=config.model_dtype,
                                                    device="cpu" if config.use_cpu else None,
                                                    trust_remote_code=config.trust_remote_code)
        print(f"policy weights in {config.model_dtype} ({precision_reason(config)})", file=sys.stderr)
    elif tokenizer is None:
        raise UserError("build_trainer got a model but no tokenizer; pass tokenizer=...")
    peft_config = get_peft_config(model_args)  # None without --use_peft: full fine-tuning
    model = frozen_weights_in_bf16(model, config, model_args.use_peft)
    if warm_start and config.sft_warm_start_episodes > 0:
        from memrl.env.registry import make
        from memrl.train.warmstart import sft_warm_start

        factory = env_factory or (lambda: make(config.env_id, **{**config.env_kwargs, **config.sft_env_kwargs}))
        # Demonstrations come from the train split, seeded apart from the RL tasks' seed;
        # --sft_env_kwargs may make them easier than the RL tasks (the format, not the decisions).
        demos = factory().make_tasks("train", config.sft_warm_start_episodes, config.task_seed + 1)
        model = sft_warm_start(model, tokenizer, config, peft_config, factory, demos)
    if hasattr(model, "peft_config"):
        peft_config = None  # RL continues the adapter the model already has
    model = frozen_weights_in_bf16(model, config, model_args.use_peft)
    cls = MemoryPPOTrainer if config.algorithm == "ppo" else MemoryGRPOTrainer
    trainer = cls(
        model, config, processing_class=tokenizer, train_tasks=train_tasks, env_factory=env_factory,
        rewards=rewards, peft_config=peft_config, callbacks=callbacks,
    )
    trainer.model_args = model_args  # the run's model and LoRA settings, for whoever reads the trainer
    add_held_out_eval(trainer, held_out)  # --eval_every: learning curves on held-out tasks
    return trainer


def frozen_weights_in_bf16(model: Any, config: MemRLConfig, use_peft: bool = True) -> Any:
    """With ``bf16``: the weights that will not be trained in bf16, the trained ones (LoRA, PPO's
    value head) in float32, so the optimizer keeps full-precision masters. A float32 model under
    bf16 autocast is not an option: on a CPU transformers' attention mixes float32 keys with bf16
    values, and on a GPU SDPA refused float32 queries and keys (rotary embeddings keep them in
    float32) beside bf16 values (an H200, a float32 model given to build_trainer). On a CPU, full
    fine-tuning keeps float32 (no master copy) and bf16 off; on a GPU it keeps the weights as
    they were loaded (bf16 from load_model_and_tokenizer)."""
    import torch

    if not config.bf16:
        return model
    cuda = torch.cuda.is_available() and not config.use_cpu
    if not use_peft and not hasattr(model, "peft_config"):
        if cuda:
            return model
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

    if torch.cuda.is_available() and not config.use_cpu:
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
    # The DDP wrapper's reducer holds the gloo group: free it while the group and every rank are
    # still here (end_training destroys the group). Left to the interpreter's exit, its destructor
    # joined gloo's threads and waited for a rank that had left (seen: rank 0 hung in
    # ~ProcessGroupGloo after the run had saved).
    trainer.model_wrapped = trainer.model
    trainer.accelerator.free_memory()
    gc.collect()
    trainer.accelerator.wait_for_everyone()
    trainer.accelerator.end_training()
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
