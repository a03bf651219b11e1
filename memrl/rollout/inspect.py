"""Show a saved episode readably: policy text and env text told apart, segment boundaries, and
the memory store after each turn. ``render_terminal`` uses rich; ``render_html`` writes a page."""

from __future__ import annotations

import html
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from memrl.rollout.segments import Trajectory


def _memory_table(entries: list[dict[str, Any]]) -> Table:
    table = Table(title="memory", show_header=True, header_style="bold magenta", expand=False)
    table.add_column("id", style="magenta")
    table.add_column("content")
    for entry in entries:
        table.add_row(str(entry.get("id")), str(entry.get("content")))
    return table


def _header(traj: Trajectory, index: int) -> Text:
    m = traj.metrics
    return Text.assemble(
        (f"episode {index} ", "bold"), f"task {traj.task_id} (group {traj.group}, sample {traj.sample})  ",
        ("reward ", "bold"), f"{traj.reward:.3f}  ",
        f"turns {m.get('turns')}  segments {m.get('segments')}  policy tokens {m.get('policy_tokens')}  ",
        f"peak context {m.get('peak_context_tokens')}  truncated {m.get('truncated') or '-'}",
    )


def render_terminal(traj: Trajectory, index: int = 0, console: Console | None = None, *, memory: bool = True) -> None:
    console = console or Console()
    console.print(_header(traj, index))
    for turn in traj.turns:
        if turn["context"] == "rewrite":
            console.print(Rule(f"segment {turn['segment']} (context rewritten)", style="yellow"))
        if turn.get("policy_text") is not None:
            console.print(Panel(Text(turn["policy_text"]), title=f"policy · turn {turn['turn']}", border_style="green"))
        parts = [Text(f"[{m['role']}] ", style="bold cyan") + Text(m["content"]) for m in turn["env_messages"]]
        if parts:
            console.print(Panel(Group(*parts), title="env", border_style="cyan"))
        if turn.get("format_error"):
            console.print(Text(f"format error: {turn['format_error']}", style="red"))
        if memory and turn.get("memory"):
            console.print(_memory_table(turn["memory"]))
    console.print(Text(f"outcome: {traj.outcome}", style="bold"))


_CSS = """
body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#222}
.policy{background:#e9f7ef;border-left:4px solid #2e7d32;padding:.5em;white-space:pre-wrap}
.env{background:#eef4fb;border-left:4px solid #1565c0;padding:.5em;white-space:pre-wrap}
.seg{border-top:2px dashed #f9a825;margin:1em 0;color:#a36b00}
.err{color:#c62828} table{border-collapse:collapse;margin:.3em 0} td,th{border:1px solid #ccc;padding:2px 6px}
.role{font-weight:bold;color:#1565c0}
"""


def render_html(trajectories: list[Trajectory]) -> str:
    esc = html.escape
    body = []
    for i, traj in enumerate(trajectories):
        body.append(f"<h2>{esc(_header(traj, i).plain)}</h2>")
        for turn in traj.turns:
            if turn["context"] == "rewrite":
                body.append(f"<div class=seg>segment {turn['segment']} (context rewritten)</div>")
            if turn.get("policy_text") is not None:
                body.append(f"<div class=policy><b>policy · turn {turn['turn']}</b>\n{esc(turn['policy_text'])}</div>")
            for m in turn["env_messages"]:
                body.append(f"<div class=env><span class=role>[{esc(m['role'])}]</span> {esc(m['content'])}</div>")
            if turn.get("format_error"):
                body.append(f"<div class=err>format error: {esc(turn['format_error'])}</div>")
            if turn.get("memory"):
                rows = "".join(f"<tr><td>{esc(str(e['id']))}</td><td>{esc(str(e['content']))}</td></tr>" for e in turn["memory"])
                body.append(f"<table><tr><th>id</th><th>memory</th></tr>{rows}</table>")
        body.append(f"<p><b>outcome</b> {esc(str(traj.outcome))}</p>")
    return f"<!doctype html><meta charset=utf-8><title>memrl episodes</title><style>{_CSS}</style>{''.join(body)}"
