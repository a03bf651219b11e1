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
import os
import shlex
import sys
from typing import Any, Callable, Sequence

from memrl.errors import UserError
from memrl.train.config import MemRLConfig
from memrl.train.run import build_trainer, parse_config, shut_down

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

Prepare = Callable[[MemRLConfig], "tuple[Any, Any] | None"]


def run_recipe(name: str, defaults: dict[str, Any], argv: Sequence[str] | None = None, *,
               prepare: Prepare | None = None, eval_episodes: int = 100) -> int:
    """Train with ``defaults`` under the user's YAML/flags; exit code 2 with one line on bad input."""
    try:
        config = parse_config(argv, defaults=defaults)
        resume = config.resume_from_checkpoint
        if isinstance(resume, str) and resume.lower() in ("true", "last"):
            resume = True
        model = tokenizer = None
        if prepare is not None:
            model, tokenizer = prepare(config) or (None, None)
        trainer = build_trainer(config, model=model, tokenizer=tokenizer, warm_start=not resume)
        trainer.train(resume_from_checkpoint=resume or None)
    except UserError as e:
        print(f"{name}: error: {e}", file=sys.stderr)
        return 2
    final = os.path.join(config.output_dir, "final")
    trainer.save_model(final)
    if trainer.accelerator.is_main_process:
        print(f"saved the adapter to {final}")
        print("evaluate it against the untrained base and the baselines with:")
        print("  " + eval_command(config, final, eval_episodes))
    shut_down(trainer)
    return 0


def eval_command(config: MemRLConfig, adapter: str, episodes: int) -> str:
    """The ``memrl eval`` line for a trained adapter on held-out tasks of the trained env."""
    parts = ["memrl", "eval", "--policy", f"trained={adapter}", "--env", config.env_id,
             "--episodes", str(episodes), "--split", "test", "--task-seed", str(config.task_seed),
             "--training-log", os.path.join(config.output_dir, "log.jsonl"),
             "--out", os.path.join(config.output_dir, "eval"),
             # The same per-turn and per-call budgets as training: a policy judged under other
             # limits than it was trained under is not the policy that was trained.
             "--max-new-tokens", str(config.max_new_tokens_per_turn), "--max-context-tokens", str(config.max_context_tokens)]
    if config.model_name_or_path:
        parts += ["--model", str(config.model_name_or_path)]
    if config.env_kwargs:
        parts += ["--env-kwargs", json.dumps(config.env_kwargs)]
    if config.reward_plugins:
        parts += ["--reward-plugins", json.dumps(config.reward_plugins)]
    return shlex.join(parts)
