"""Show a saved episode readably: policy text and env text told apart, segment boundaries, and
the memory store after each turn. ``render_terminal`` uses rich; ``render_html`` (the viewer,
``memrl.rollout.viewer``) writes a page. Both read the same timeline (``memrl.rollout.timeline``),
so a reply is shown in the segment it was sampled in."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from memrl.rollout.segments import Trajectory
from memrl.rollout.timeline import MessageView, SegmentView, Step, answered, timeline
from memrl.rollout.viewer import render_html

__all__ = ["render_html", "render_terminal"]

_STATUS_STYLE = {"added": "green", "updated": "yellow", "deleted": "red strike", "kept": ""}


def _header(traj: Trajectory, index: int) -> Text:
    m = traj.metrics
    score = traj.outcome.get("score")
    return Text.assemble(
        (f"episode {index} ", "bold"), f"task {traj.task_id} (group {traj.group}, sample {traj.sample})  ",
        ("reward ", "bold"), f"{traj.reward:.3f}  ",
        f"score {score:.3f}  " if isinstance(score, (int, float)) else "",
        f"answered {'yes' if answered(traj) else 'no'}  ",
        f"turns {m.get('turns')}  segments {m.get('segments')}  policy tokens {m.get('policy_tokens')}  ",
        f"peak context {m.get('peak_context_tokens')}  truncated {m.get('truncated') or '-'}",
    )


def _messages(messages: list[MessageView]) -> Group:
    parts = []
    for m in messages:
        role = Text(f"[{m.role}] ", style="bold red" if m.error else "bold cyan")
        if m.repeat_of:
            parts.append(role + Text(f"(same as in {m.repeat_of}, {len(m.content):,} chars)", style="dim"))
        else:
            parts.append(role + Text(m.content, style="red" if m.error else ""))
    return Group(*parts)


def _memory_table(step: Step, when: str) -> Table | Text:
    if not step.memory:
        return Text(f"memory {when}: (empty)", style="magenta")
    table = Table(title=f"memory {when}", show_header=True, header_style="bold magenta", expand=False)
    table.add_column("id", style="magenta")
    table.add_column("content")
    table.add_column("change")
    for row in step.memory:
        content = row.content if row.before is None else f"{row.content}  (was: {row.before})"
        table.add_row(row.id, content, row.status if row.status != "kept" else "", style=_STATUS_STYLE[row.status])
    return table


def _step(console: Console, step: Step, *, memory: bool) -> None:
    if step.reply is not None:
        r = step.reply
        console.print(Panel(Text(r.text), title=f"policy · turn {r.turn}", border_style="green"))
        if r.format_error:
            console.print(Text(f"format error: {r.format_error}", style="red"))
        for error in r.tool_errors:
            console.print(Text(error, style="red"))
    if step.env:
        title = "env (the episode ended: no model call saw this)" if step.unseen else "env"
        console.print(Panel(_messages(step.env), title=title, border_style="dim" if step.unseen else "cyan"))
    if memory:
        console.print(_memory_table(step, "at the start" if step.reply is None else f"after turn {step.reply.turn}"))


def _segment(console: Console, s: SegmentView, *, memory: bool) -> None:
    console.print(Rule(f"{s.title} · prompt {s.prompt_tokens} tokens → {s.total_tokens}", style="yellow"))
    if s.prompt:
        console.print(Panel(_messages(s.prompt), title="prompt: what the model was shown", border_style="cyan"))
    for step in s.steps:
        _step(console, step, memory=memory)
    if s.note:
        console.print(Text(s.note, style="dim italic"))


def render_terminal(traj: Trajectory, index: int = 0, console: Console | None = None, *, memory: bool = True) -> None:
    console = console or Console()
    console.print(_header(traj, index))
    for segment in timeline(traj):
        _segment(console, segment, memory=memory)
    console.print(Text(f"outcome: {traj.outcome}", style="bold"))
