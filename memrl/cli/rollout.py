"""``memrl rollout``: play G episodes per task with a model (and a LoRA adapter) and save them."""

from __future__ import annotations

import argparse
import math
from typing import Any

from memrl import checks
from memrl.errors import UserError
from memrl.parsing import json_object
from memrl.settings import add_arguments, add_model_argument

# The episode settings memrl rollout shares with the recipes and memrl eval (memrl.settings):
# same names, same defaults. Reward plugins are not among them: a rollout keeps the env's reward.
SHARED = ("env_id", "env_kwargs", "task_seed", "backend", "max_turns", "max_new_tokens_per_turn",
          "max_context_tokens", "max_episode_tokens")


def check(args: argparse.Namespace) -> argparse.Namespace:
    """Every flag, the env with its settings, the tasks and the adapter, before a model loads."""
    checks.at_least(args.tasks, 1, "--tasks")
    checks.at_least(args.group_size, 1, "--group-size")
    checks.at_least(args.max_turns, 1, "--max_turns", " (or leave it out for the env's own)")
    checks.at_least(args.max_episode_tokens, 1, "--max_episode_tokens")
    checks.context_budget(args.max_context_tokens, args.max_new_tokens_per_turn, "--max_context_tokens", "--max_new_tokens_per_turn")
    if not (args.temperature >= 0 and math.isfinite(args.temperature)):
        raise UserError(f"--temperature ({args.temperature}) must be a finite number >= 0 (0 = greedy)")
    checks.split(args.split)
    checks.backend(args.backend)
    checks.output_file(args.out, "--out")
    env_kwargs = json_object(args.env_kwargs, "--env_kwargs")
    built = checks.env_task(args.env_id, env_kwargs, split_name=args.split, seed=args.task_seed)
    if built.task is None:
        raise UserError(f"{args.env_id} has no task generator, which memrl rollout needs; evaluate it with memrl eval --tasks-file")
    try:
        tasks = built.env.make_tasks(args.split, args.tasks, args.task_seed)
    except ValueError as exc:  # more distinct tasks than the generator can make
        raise UserError(f"{args.env_id}: {checks.reason(exc)} (--tasks {args.tasks})") from None
    finally:
        built.env.close()
    adapter = adapter_spec(args.adapter) if args.adapter else None
    return argparse.Namespace(env_kwargs=env_kwargs, tasks=tasks, adapter=adapter, messages=built.messages)


def adapter_spec(path: str) -> Any:
    """``--adapter``: a LoRA folder (a memrl ``checkpoint-N/`` or ``final/``) with a readable
    config and an intact safetensors header, checked before any model loads."""
    from memrl.eval.policies import lora_shapes, parse_policy, read_adapter_config

    spec = parse_policy(f"adapter={path}")
    if spec.kind != "adapter":
        raise UserError(f"--adapter {path!r} is a model, not a LoRA adapter folder; pass it as --model {path}")
    read_adapter_config(spec.source, spec.name)
    lora_shapes(spec.source, spec.name)  # a truncated adapter_model.safetensors
    return spec


def _cmd_rollout(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from rich.console import Console
    from rich.table import Table

    from memrl.env.registry import make
    from memrl.models import load_model_and_tokenizer
    from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams, make_backend, save_trajectories
    from memrl.rollout.summary import summarize

    checked = check(args)
    checks.prompt_fits(args.model_name_or_path, args.env_id, checked.messages, args.max_context_tokens,
                       args.max_new_tokens_per_turn, "--max_context_tokens")
    base_label = args.model_name_or_path or "embedded SmolLM2-135M-Instruct"
    model, tokenizer = load_model_and_tokenizer(args.model_name_or_path)
    if checked.adapter is not None:
        from memrl.eval.policies import adapter_policy

        applied = adapter_policy(model, tokenizer, checked.adapter, base_label)
    else:
        applied = nullcontext((model, tokenizer))
    with applied as (policy, tokenizer):
        backend = make_backend(args.backend, model=policy, tokenizer=tokenizer)
        engine = RolloutEngine(
            backend,
            limits=RolloutLimits(args.max_turns, args.max_new_tokens_per_turn, args.max_context_tokens, args.max_episode_tokens),
            sampling=SamplingParams(max_new_tokens=args.max_new_tokens_per_turn, temperature=args.temperature, seed=args.seed),
            progress="rollout",  # episodes finished / running, turns, tokens/s, ETA on stderr
        )
        trajectories = engine.rollout(lambda: make(args.env_id, **checked.env_kwargs), checked.tasks,
                                      group_size=args.group_size, seed=args.seed)
    save_trajectories(args.out, trajectories)
    title = f"{args.env_id} · {len(trajectories)} episodes · {base_label}" + (f" + {checked.adapter.source}" if checked.adapter else "")
    table = Table("metric", "value", title=title)
    for key, value in summarize(trajectories).items():
        table.add_row(key, f"{value:.3f}")
    stats = engine.stats
    table.add_row("time/rollout_s", f"{stats.total_s:.1f}")
    table.add_row("time/outside_generate_share", f"{stats.outside_generate_s / max(stats.total_s, 1e-9):.4f}")
    Console().print(table)
    print(f"saved {args.out}; look at an episode with: memrl inspect {args.out} --episode 0")
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("rollout", help="play episodes of an environment with a model and save them",
                       description="Play G episodes per task on a model (default: the embedded SmolLM2-135M-Instruct) and save the trajectories as JSONL.")
    add_arguments(p, SHARED)
    add_model_argument(p)
    p.add_argument("--adapter", default=None, metavar="FOLDER", help="a LoRA adapter on the model: a recipe's checkpoint-N/ or final/ folder")
    p.add_argument("--tasks", type=int, default=2, help="number of tasks")
    p.add_argument("--group-size", type=int, default=4, help="episodes per task (G; a recipe's --num_generations)")
    p.add_argument("--split", default="validation", help="train | validation | test")
    # Training's default (TRL's GRPOConfig.temperature): the episodes a training step would sample.
    p.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (0 = greedy)")
    p.add_argument("--seed", type=int, default=0, help="sampling and env seed (the task list: --task_seed)")
    p.add_argument("--out", default="runs/rollouts.jsonl", help="where to save the trajectories")
    p.set_defaults(func=_cmd_rollout)
