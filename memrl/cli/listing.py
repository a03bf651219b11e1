"""``memrl envs`` and ``memrl rewards``: what is registered."""

from __future__ import annotations

import argparse
from typing import Any


def _table(title: str, columns: tuple[str, str], rows: list[tuple[str, str]]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(*columns, title=title)
    for a, b in rows:
        table.add_row(escape(a), escape(b))
    Console().print(table)


def _cmd_envs(args: argparse.Namespace) -> int:
    from memrl.env.registry import list_envs

    _table("registered environments", ("id", "description"), [(s.id, s.description) for s in list_envs()])
    return 0


def _cmd_rewards(args: argparse.Namespace) -> int:
    from memrl.scoring import list_rewards

    _table("reward plugins", ("name", "description"), list_rewards())
    return 0


def add_envs_parser(sub: Any) -> None:
    p = sub.add_parser("envs", help="list registered environments", description="List registered environments.")
    p.set_defaults(func=_cmd_envs)


def add_rewards_parser(sub: Any) -> None:
    p = sub.add_parser("rewards", help="list reward plugins", description="List reward plugins (built-in, entry points).")
    p.set_defaults(func=_cmd_rewards)
