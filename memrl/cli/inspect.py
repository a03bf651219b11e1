"""``memrl inspect FILE``: show saved episodes in the terminal or as a browser page."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from memrl import checks
from memrl.errors import UserError


def load(path: str) -> list:
    """The trajectories of ``path``; a file that is no trajectory JSONL is one line."""
    from memrl.rollout.jsonl import load_trajectories

    try:
        trajectories = load_trajectories(path)
    except UnicodeDecodeError as exc:
        raise UserError(f"{path} is not a trajectory JSONL file: byte {exc.start} is not UTF-8 text") from None
    if not trajectories:
        raise UserError(f"{path} holds no episodes; write some with `memrl rollout` or a recipe's --save_rollouts")
    return trajectories


def _cmd_inspect(args: argparse.Namespace) -> int:
    if args.limit is not None:
        checks.at_least(args.limit, 1, "--limit")
    html = checks.output_file(args.html, "--html") if args.html else None
    trajectories = load(args.file)
    if args.episode is not None:
        if not 0 <= args.episode < len(trajectories):
            raise UserError(f"--episode {args.episode} is out of range; {args.file} holds {len(trajectories)} episodes (0..{len(trajectories) - 1})")
        chosen = {args.episode: trajectories[args.episode]}
    else:
        limit = args.limit if args.limit is not None else (None if html is not None else 3)  # a page lists them all
        chosen = dict(enumerate(trajectories[:limit]))
    if html is not None:
        from memrl.rollout.inspect import render_html

        html.parent.mkdir(parents=True, exist_ok=True)
        page = render_html(list(chosen.values()), indices=list(chosen), title=Path(args.file).name)
        html.write_text(page, encoding="utf-8")
        print(f"wrote {args.html} ({len(chosen)} episodes)")
        return 0
    from rich.console import Console

    from memrl.rollout.inspect import render_terminal

    console = Console()
    for i, traj in chosen.items():
        render_terminal(traj, i, console, memory=not args.no_memory)
    return 0


def add_parser(sub: Any) -> None:
    p = sub.add_parser("inspect", help="show saved episodes from a trajectory JSONL file",
                       description="Show saved episodes: policy vs env text, segment boundaries, memory after each turn.")
    p.add_argument("file", help="a trajectory JSONL file (from a recipe's --save-rollouts or save_trajectories)")
    p.add_argument("--episode", type=int, default=None, help="show only this episode (0-based)")
    p.add_argument("--limit", type=int, default=None, help="how many episodes to show when --episode is not given (default: 3, all with --html)")
    p.add_argument("--html", default=None, metavar="OUT.html", help="write a self-contained page (episode list, segment timeline, memory diffs) instead of printing")
    p.add_argument("--no-memory", action="store_true", help="do not print the memory store after each turn")
    p.set_defaults(func=_cmd_inspect)
