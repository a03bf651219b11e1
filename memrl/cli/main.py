"""The ``memrl`` command: ``envs``, ``rewards``, ``rollout``, ``inspect``, ``eval``.

Each subcommand is a module with an ``add_parser``-style function; :func:`subcommands` lists
them in ``memrl --help`` order, so a new one is a module and one line there.

User errors print one line and exit with code 2; nothing a user typed ends in a traceback, and
every command checks all of its input before it loads a model (:mod:`memrl.checks`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

from memrl.errors import UserError


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (the error and where to read the usage) and exit 2,
    like every other user error, instead of the whole usage block."""

    def error(self, message: str) -> Any:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def subcommands() -> list[Callable[[Any], Any]]:
    """The functions that add each subcommand's parser, in ``memrl --help`` order."""
    from memrl.cli import data, inspect, listing, rollout
    from memrl.eval.cli import add_eval_parser

    return [listing.add_envs_parser, listing.add_rewards_parser, rollout.add_parser, inspect.add_parser, add_eval_parser,
            data.add_parser]


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="memrl", description="RL post-training for LLM agents that manage their own memory.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in subcommands():
        add(sub)
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
