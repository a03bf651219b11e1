"""The ``memrl`` command: ``envs``, ``rewards``, ``inspect`` (and ``eval`` when installed).

User errors print one line and exit with code 2; nothing a user typed ends in a traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from memrl.errors import UserError


def _cmd_envs(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from memrl.env.registry import list_envs

    table = Table("id", "description", title="registered environments")
    for s in list_envs():
        table.add_row(escape(s.id), escape(s.description))
    Console().print(table)
    return 0


def _cmd_rewards(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from memrl.scoring import list_rewards

    table = Table("name", "description", title="reward plugins")
    for name, description in list_rewards():
        table.add_row(escape(name), escape(description))
    Console().print(table)
    return 0


def _cmd_inspect(args: argparse.Namespace) -> int:
    from rich.console import Console

    from memrl.rollout.inspect import render_html, render_terminal
    from memrl.rollout.jsonl import load_trajectories

    trajectories = load_trajectories(args.file)
    if args.episode is not None:
        if not 0 <= args.episode < len(trajectories):
            raise UserError(f"--episode {args.episode} is out of range; {args.file} holds {len(trajectories)} episodes (0..{len(trajectories) - 1})")
        chosen = {args.episode: trajectories[args.episode]}
    else:
        limit = args.limit if args.limit is not None else (None if args.html else 3)  # a page lists them all
        chosen = dict(enumerate(trajectories[:limit]))
    if args.html:
        page = render_html(list(chosen.values()), indices=list(chosen), title=Path(args.file).name)
        Path(args.html).write_text(page, encoding="utf-8")
        print(f"wrote {args.html} ({len(chosen)} episodes)")
        return 0
    console = Console()
    for i, traj in chosen.items():
        render_terminal(traj, i, console, memory=not args.no_memory)
    return 0


def _cmd_rollout(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from rich.console import Console
    from rich.table import Table

    from memrl.cli.options import json_object
    from memrl.env.registry import make
    from memrl.models import load_model_and_tokenizer
    from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams, make_backend, save_trajectories
    from memrl.rollout.summary import summarize

    env_kwargs = json_object(args.env_kwargs, "--env-kwargs")
    make(args.env, **env_kwargs)  # fail fast on an unknown id or setting, before loading a model
    adapter = _adapter_spec(args.adapter) if args.adapter else None
    base_label = args.model or "embedded SmolLM2-135M-Instruct"
    model, tokenizer = load_model_and_tokenizer(args.model)
    if adapter is not None:
        from memrl.eval.policies import adapter_policy

        applied = adapter_policy(model, tokenizer, adapter, base_label)
    else:
        applied = nullcontext((model, tokenizer))
    with applied as (policy, tokenizer):
        backend = make_backend(args.backend, model=policy, tokenizer=tokenizer)
        engine = RolloutEngine(
            backend,
            limits=RolloutLimits(max_new_tokens=args.max_new_tokens, max_context_tokens=args.max_context_tokens),
            sampling=SamplingParams(max_new_tokens=args.max_new_tokens, temperature=args.temperature, seed=args.seed),
        )
        tasks = make(args.env, **env_kwargs).make_tasks(args.split, args.tasks, args.seed)
        trajectories = engine.rollout(lambda: make(args.env, **env_kwargs), tasks, group_size=args.group_size, seed=args.seed)
    save_trajectories(args.out, trajectories)
    title = f"{args.env} · {len(trajectories)} episodes · {base_label}" + (f" + {adapter.source}" if adapter else "")
    table = Table("metric", "value", title=title)
    for key, value in summarize(trajectories).items():
        table.add_row(key, f"{value:.3f}")
    stats = engine.stats
    table.add_row("time/rollout_s", f"{stats.total_s:.1f}")
    table.add_row("time/outside_generate_share", f"{stats.outside_generate_s / max(stats.total_s, 1e-9):.4f}")
    Console().print(table)
    print(f"saved {args.out}; look at an episode with: memrl inspect {args.out} --episode 0")
    return 0


def _adapter_spec(path: str):
    """``--adapter``: a LoRA folder (a memrl ``checkpoint-N/`` or ``final/``), checked before any model loads."""
    from memrl.eval.policies import parse_policy, read_adapter_config

    spec = parse_policy(f"adapter={path}")
    if spec.kind != "adapter":
        raise UserError(f"--adapter {path!r} is a model, not a LoRA adapter folder; pass it as --model {path}")
    read_adapter_config(spec.source, spec.name)
    return spec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="memrl", description="RL post-training for LLM agents that manage their own memory.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("envs", help="list registered environments", description="List registered environments.")
    p.set_defaults(func=_cmd_envs)

    p = sub.add_parser("rewards", help="list reward plugins", description="List reward plugins (built-in, entry points).")
    p.set_defaults(func=_cmd_rewards)

    p = sub.add_parser("rollout", help="play episodes of an environment with a model and save them",
                       description="Play G episodes per task on a model (default: the embedded SmolLM2-135M-Instruct) and save the trajectories as JSONL.")
    p.add_argument("--env", default="memrl/FactRecall-v0", help="environment id (see `memrl envs`)")
    p.add_argument("--model", default=None, help="HF model id or local path; default: the embedded SmolLM2-135M-Instruct")
    p.add_argument("--adapter", default=None, metavar="FOLDER", help="a LoRA adapter on --model: a recipe's checkpoint-N/ or final/ folder")
    p.add_argument("--env-kwargs", default=None, metavar="JSON", help='environment settings, e.g. \'{"n_facts": 6}\'')
    p.add_argument("--backend", default="hf", help="hf | vllm | vllm-server")
    p.add_argument("--tasks", type=int, default=2, help="number of tasks")
    p.add_argument("--group-size", type=int, default=4, help="episodes per task (G)")
    p.add_argument("--split", default="validation", help="train | validation | test")
    p.add_argument("--max-new-tokens", type=int, default=96, help="new tokens per turn")
    p.add_argument("--max-context-tokens", type=int, default=2048, help="prompt + new tokens of one model call")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature (0 = greedy)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/rollouts.jsonl", help="where to save the trajectories")
    p.set_defaults(func=_cmd_rollout)

    p = sub.add_parser("inspect", help="show saved episodes from a trajectory JSONL file",
                       description="Show saved episodes: policy vs env text, segment boundaries, memory after each turn.")
    p.add_argument("file", help="a trajectory JSONL file (from a recipe's --save-rollouts or save_trajectories)")
    p.add_argument("--episode", type=int, default=None, help="show only this episode (0-based)")
    p.add_argument("--limit", type=int, default=None, help="how many episodes to show when --episode is not given (default: 3, all with --html)")
    p.add_argument("--html", default=None, metavar="OUT.html", help="write a self-contained page (episode list, segment timeline, memory diffs) instead of printing")
    p.add_argument("--no-memory", action="store_true", help="do not print the memory store after each turn")
    p.set_defaults(func=_cmd_inspect)

    from memrl.cli.data import add_parser as add_data_parser

    add_data_parser(sub)

    if importlib.util.find_spec("memrl.eval") is not None:
        from memrl.eval.cli import add_eval_parser

        add_eval_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except UserError as e:
        print(f"memrl {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
