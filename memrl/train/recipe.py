"""What every method recipe runs: parse the config over the recipe's defaults, train, save, and
print the ``memrl eval`` command to run next.

A recipe is its docstring (the exact commands, hardware, expected result), a dict of CPU defaults,
and optionally a ``prepare`` hook (e.g. an SFT warm start) that may return a model and tokenizer::

    CPU_DEFAULTS = dict(CPU_COMMON, env_id="memrl/AgeMem-v0", max_steps=30, ...)
    if __name__ == "__main__":
        sys.exit(run_recipe("recipes/agemem.py", CPU_DEFAULTS))
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
from typing import TYPE_CHECKING, Any, Callable, Sequence

from memrl import checks
from memrl.env.contract import ScriptedExpert
from memrl.errors import UserError
from memrl.settings import SETTINGS, EpisodeSettings
from memrl.train import resume as checkpoints
from memrl.train.config import MemRLConfig
from memrl.train.curriculum import Stages, ordered_train_tasks
from memrl.train.run import build_trainer, parse_config, shut_down
from memrl.train.validation import held_out_tasks

# What every CPU recipe shares: one group of 4 episodes per 2 tasks, LoRA at 2e-4, no KL (a 135M
# model on 2 cores has no step to spare on a reference pass), a log line every step, local logs.
CPU_COMMON: dict[str, Any] = dict(
    per_device_train_batch_size=8,
    num_generations=4,
    learning_rate=2e-4,
    logging_steps=1,
    save_total_limit=2,
    beta=0.0,
    report_to=[],
)

if TYPE_CHECKING:
    from trl import ModelConfig

Prepare = Callable[[MemRLConfig], "tuple[Any, Any] | None"]


def run_recipe(name: str, defaults: dict[str, Any], argv: Sequence[str] | None = None, *,
               prepare: Prepare | None = None, eval_episodes: int = 100, curriculum: Stages | None = None) -> int:
    """Train with ``defaults`` under the user's YAML/flags; exit code 2 with one line on bad input.

    Every setting is checked before a model loads (:func:`preflight`); ``--resume_from_checkpoint
    true`` continues the newest complete checkpoint (:mod:`memrl.train.resume`). ``curriculum``
    names the recipe's stages for ``--curriculum`` (:mod:`memrl.train.curriculum`).
    """
    try:
        config, model_args = parse_config(argv, defaults=defaults)
        resume = preflight(config, model_args)
        train_tasks = ordered_train_tasks(config, curriculum, name)
        model = tokenizer = None
        if prepare is not None:
            model, tokenizer = prepare(config) or (None, None)
        trainer = build_trainer(config, model_args=model_args, model=model, tokenizer=tokenizer, warm_start=not resume, train_tasks=train_tasks)
        trainer.train(resume_from_checkpoint=resume)
    except UserError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2
    final = os.path.join(config.output_dir, "final")
    trainer.save_model(final)
    if trainer.accelerator.is_main_process:
        print(f"saved the adapter to {final}")
        print("evaluate it against the untrained base and the baselines with:")
        print("  " + eval_command(config, final, eval_episodes, model_args.model_name_or_path))
    shut_down(trainer)
    return 0


def preflight(config: MemRLConfig, model_args: ModelConfig) -> str | None:
    """Check what the config names before a model loads: the step budget, the backend, the env
    built with its settings and one train task reset, the training tasks, the reward plugins
    (imported, signatures checked), the output folder, the model path, the checkpoint to resume,
    and that the first prompt fits the context budget. Returns the checkpoint to resume or None."""
    if config.max_steps == 0 or config.max_steps < -1:
        raise UserError(f"max_steps ({config.max_steps}) must be at least 1 (or -1 to train num_train_epochs over train_tasks)")
    if config.max_steps == -1 and not config.num_train_epochs > 0:
        raise UserError(f"num_train_epochs ({config.num_train_epochs}) must be > 0 when max_steps is -1")
    if not (math.isfinite(config.learning_rate) and config.learning_rate >= 0):
        raise UserError(f"learning_rate ({config.learning_rate}) must be a finite number >= 0")
    checks.at_least(config.max_turns, 1, "max_turns", " (or leave it unset for the env's own)")
    checks.backend(config.backend, "--backend")
    checks.output_folder(config.output_dir, "--output_dir")
    built = checks.env_task(config.env_id, config.env_kwargs, split_name="train", seed=config.task_seed, flag="--env_kwargs")
    try:
        if built.task is None:
            raise UserError(f"{config.env_id} has no task generator; the recipes train on generated tasks")
        if config.sft_env_kwargs:
            try:
                demo = checks.env_task(config.env_id, {**config.env_kwargs, **config.sft_env_kwargs}, split_name="train",
                                       seed=config.task_seed + 1, flag="--sft_env_kwargs")
            except UserError as exc:
                raise UserError(f"--sft_env_kwargs: {exc}") from None
            demo.env.close()
        if config.sft_warm_start_episodes > 0 and not isinstance(built.env, ScriptedExpert):
            raise UserError(f"--sft_warm_start_episodes needs an env with a scripted expert (expert_reply); "
                            f"{config.env_id} has none: pass --sft_warm_start_episodes 0")
        try:
            built.env.make_tasks("train", config.train_tasks, config.task_seed)
        except ValueError as exc:  # more distinct tasks than the generator can make
            raise UserError(f"{config.env_id}: {checks.reason(exc)} (--train_tasks {config.train_tasks})") from None
    finally:
        built.env.close()
    checks.rewards(config.reward_plugins, built.task, "--reward_plugins")
    held_out_tasks(config)  # --eval_every / --eval_tasks
    model = model_args.model_name_or_path
    if model is not None:
        from memrl.models import is_embedded, resolve_model

        if not is_embedded(str(model)):
            resolve_model(model)  # a path that does not exist, a file, no config.json
    resume = checkpoints.resolve(config.resume_from_checkpoint, config.output_dir, say=_say)
    checks.prompt_fits(model, config.env_id, built.messages, config.max_context_tokens,
                       config.max_new_tokens_per_turn, "--max_context_tokens")
    return resume


def _say(line: str) -> None:
    if os.environ.get("RANK", "0") == "0":  # once per run, not once per process
        print(line, flush=True)


def eval_command(config: EpisodeSettings, adapter: str, episodes: int, model: str | None = None) -> str:
    """The ``memrl eval`` line for a trained adapter on held-out tasks of the trained env: every
    episode setting as trained, under the recipe's own flag names (``memrl eval`` reads the same
    :class:`~memrl.settings.EpisodeSettings`), so nothing is translated. The budgets matter most:
    a policy judged under other limits than it was trained under is not the policy that was
    trained. ``config`` also needs ``output_dir``."""
    parts = ["memrl", "eval", "--policy", f"trained={adapter}", "--episodes", str(episodes), "--split", "test"]
    for name in SETTINGS:
        value = getattr(config, name)
        if value is None or value == {} or (name == "backend" and value == "vllm-server"):
            continue  # the env's own turn cap, its own settings and reward; eval loads the adapter itself
        parts += [f"--{name}", json.dumps(value) if isinstance(value, dict) else str(value)]
    if model:
        parts += ["--model_name_or_path", str(model)]
    parts += ["--training-log", os.path.join(config.output_dir, "log.jsonl"), "--out", os.path.join(config.output_dir, "eval")]
    return shlex.join(parts)
