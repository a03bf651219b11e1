"""The episode viewer: one self-contained HTML page per trajectory file (``memrl inspect --html``).

Left, the episodes (task, reward, score, answered, turns, segments, peak context, format errors,
how it ended), sortable and filterable; right, one episode as a timeline of segments. Each segment
shows exactly what the model saw: its prompt (a message already shown earlier in the episode, such
as the system prompt, folded to one line that opens on a click), then each reply the model sampled
in it (green) with its format and tool errors, the env text appended after it (blue), and the
memory store after the turn as a diff (added, updated, deleted). No network: CSS and script inline.
"""

from __future__ import annotations

import html
import json
from statistics import fmean
from typing import Any, Sequence

from memrl.rollout.segments import Trajectory
from memrl.rollout.timeline import MemoryRow, MessageView, SegmentView, Step, answered, timeline
from memrl.rollout.viewer_assets import CSS, JS

_esc = html.escape
_COLUMNS = [  # (data key, header, tooltip, text column)
    ("index", "#", "episode number in the file", False),
    ("task", "task", "task id (group / sample)", True),
    ("reward", "reward", "the total reward the advantage is computed from", False),
    ("score", "score", "the env's task score (outcome['score']); - when there is none", False),
    ("answered", "ans", "1 when the episode ended with an answer", False),
    ("turns", "turns", "model calls", False),
    ("segments", "seg", "segments (unbroken contexts)", False),
    ("peak", "peak ctx", "peak context tokens of one model call", False),
    ("fmt", "fmt err", "replies with a format error", False),
    ("end", "end", "how the episode ended: answer, or the truncation reason", True),
]


def render_html(trajectories: Sequence[Trajectory], *, indices: Sequence[int] | None = None,
                title: str = "memrl episodes") -> str:
    """The page for ``trajectories``; ``indices`` are their numbers in the file (default 0..n-1)."""
    numbers = list(indices) if indices is not None else list(range(len(trajectories)))
    if len(numbers) != len(trajectories):
        raise ValueError(f"{len(numbers)} indices for {len(trajectories)} trajectories")
    pairs = list(zip(numbers, trajectories))
    body = [_header(title, trajectories), '<div id=layout>', _episode_list(pairs), '<main id=view>']
    body += [_episode(i, t) for i, t in pairs] or ['<p class=note>no episodes</p>']
    body += ['</main></div>']
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><title>{_esc(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(body)}<script>{JS}</script></body></html>")


# -- the page header and the episode list ------------------------------------------------------
def _header(title: str, trajs: Sequence[Trajectory]) -> str:
    n = len(trajs)
    facts = [f"{n} episodes"]
    if trajs:
        scores = [t.outcome["score"] for t in trajs if _is_number(t.outcome.get("score"))]
        facts.append(f"mean reward {fmean(t.reward for t in trajs):.3f}")
        if scores:
            facts.append(f"mean score {fmean(scores):.3f}")
        facts.append(f"answered {sum(answered(t) for t in trajs)}/{n}")
        facts.append(f"with format errors {sum(bool(t.metrics.get('format_errors')) for t in trajs)}/{n}")
    legend = ("<span class=legend><span class=p>■ policy reply</span><span class=e>■ env text</span>"
              "<span class=s>■ segment</span><span class=x>■ error</span> · j/k: next/previous episode</span>")
    return f"<header><h1>{_esc(title)}</h1><div class=meta>{' · '.join(facts)} {legend}</div></header>"


def _episode_list(pairs: list[tuple[int, Trajectory]]) -> str:
    filters = (
        "<div class=filters>"
        "<label>reward <select id=f-reward><option value=all>all</option><option value=pos>&gt; 0</option>"
        "<option value=zero>= 0</option><option value=neg>&lt; 0</option></select></label>"
        "<label>format errors <select id=f-fmt><option value=all>all</option><option value=with>with</option>"
        "<option value=without>without</option></select></label>"
        "<label>answer <select id=f-answer><option value=all>all</option><option value=yes>answered</option>"
        "<option value=no>unanswered</option></select></label>"
        "<label>task <input id=f-q type=search placeholder='id contains'></label>"
        "<span id=shown class=meta></span></div>"
    )
    head = "".join(f"<th data-key={k} title='{_esc(tip)}'{' class=text' if text else ''}>{_esc(name)}</th>"
                   for k, name, tip, text in _COLUMNS)
    rows = "".join(_list_row(i, t) for i, t in pairs)
    return f"<nav id=list>{filters}<table id=episodes><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></nav>"


def _list_row(i: int, t: Trajectory) -> str:
    m, score = t.metrics, t.outcome.get("score")
    values = {
        "index": i, "task": t.task_id, "reward": t.reward, "score": score if _is_number(score) else "",
        "answered": int(answered(t)), "turns": m.get("turns", ""), "segments": m.get("segments", len(t.segments)),
        "peak": m.get("peak_context_tokens", ""), "fmt": int(m.get("format_errors") or 0), "end": _end(t),
    }
    data = " ".join(f"data-{k}='{_esc(str(v))}'" for k, v in values.items())
    shown = {**values, "task": f"{t.task_id} ({t.group}/{t.sample})", "reward": f"{t.reward:.3f}",
             "score": f"{score:.3f}" if _is_number(score) else "-", "answered": "yes" if values["answered"] else "no"}
    cells = []
    for key, _, _, text in _COLUMNS:
        bad = (key == "fmt" and values["fmt"]) or (key == "answered" and not values["answered"])
        cls = " ".join(c for c in ("text" if text else "", "bad" if bad else "") if c)
        cells.append(f"<td{f' class={cls!r}' if cls else ''}>{_esc(str(shown[key]))}</td>")
    return f"<tr {data}>{''.join(cells)}</tr>"


# -- one episode --------------------------------------------------------------------------------
def _episode(i: int, t: Trajectory) -> str:
    segments = timeline(t)
    m = t.metrics
    facts = [("task", f"{t.task_id} (group {t.group}, sample {t.sample})"), ("reward", f"{t.reward:.3f}")]
    if _is_number(t.outcome.get("score")):
        facts.append(("score", f"{t.outcome['score']:.3f}"))
    facts += [("answered", "yes" if answered(t) else "no"), ("turns", m.get("turns")), ("segments", len(segments)),
              ("policy tokens", m.get("policy_tokens")), ("peak context", m.get("peak_context_tokens")),
              ("format errors", m.get("format_errors")), ("ended", _end(t))]
    facts += [(f"reward/{k}", f"{v:.3f}") for k, v in t.rewards.items() if _is_number(v)]
    summary = "".join(f"<div><dt>{_esc(k)}</dt><dd>{_esc(str(v))}</dd></div>" for k, v in facts)
    outcome = json.dumps(t.outcome, indent=1, ensure_ascii=False, default=str)
    nav = "".join(_nav_chip(i, s) for s in segments)
    notes = "" if t.turns else "<p class=note>no turn log in this file (recorded with record_turns=False): token counts only</p>"
    return (f"<section class=episode id=ep{i} data-ep={i}><h2>episode {i} · {_esc(t.task_id)}</h2>"
            f"<dl class=summary>{summary}</dl><details><summary>outcome</summary><pre class=text>{_esc(outcome)}</pre></details>"
            f"<nav class=segnav>{nav}</nav>{notes}{''.join(_segment(i, s) for s in segments)}</section>")


def _nav_chip(i: int, s: SegmentView) -> str:
    turns = [step.reply.turn for step in s.steps if step.reply is not None]
    span = f"turn {turns[0]}" if len(turns) == 1 else f"turns {turns[0]}-{turns[-1]}" if turns else "no reply"
    errors = any(step.reply is not None and (step.reply.format_error or step.reply.tool_errors) for step in s.steps)
    return f"<a href='#ep{i}-seg{s.index}'{' class=err' if errors else ''}>segment {s.index} · {span}</a>"


def _segment(i: int, s: SegmentView) -> str:
    tokens = f"prompt {s.prompt_tokens} tokens → {s.total_tokens} at the end · {s.policy_tokens} policy tokens"
    parts = [f"<section class=seg id=ep{i}-seg{s.index} data-segment={s.index}>",
             f"<h3>{_esc(s.title)}<span class=tok>{tokens}</span></h3>"]
    if s.prompt:
        parts.append("<div class=label>prompt: what the model was shown</div>")
        parts += [_message(m) for m in s.prompt]
    parts += [_step(s.index, step) for step in s.steps]
    if s.note:
        parts.append(f"<p class=note>{_esc(s.note)}</p>")
    elif s.prompt and not any(step.reply for step in s.steps):
        parts.append("<p class=note>the episode ended before the model replied to this context</p>")
    parts.append("</section>")
    return "".join(parts)


def _step(segment: int, step: Step) -> str:
    parts = []
    if step.reply is not None:
        r = step.reply
        reward = f"<span class=reward>reward {r.reward:+.3f}</span>" if r.reward else ""
        errors = f"<div class='err format'>format error: {_esc(r.format_error)}</div>" if r.format_error else ""
        errors += "".join(f"<div class='err tool'>{_esc(e)}</div>" for e in r.tool_errors)
        parts.append(f"<div class=policy data-turn={r.turn} data-segment={segment}><div class=head>policy · turn {r.turn}{reward}</div>"
                     f"<pre class=text>{_esc(r.text)}</pre>{errors}</div>")
    if step.env and step.unseen:
        messages = "".join(_message(m) for m in step.env)
        parts.append(f"<div class=unseen><div class=label>the env's last messages: the episode ended, no model call saw them</div>{messages}</div>")
    elif step.env:
        parts.append("<div class=label>env, appended to this context</div>")
        parts += [_message(m) for m in step.env]
    parts.append(_memory(step))
    return "".join(parts)


def _message(m: MessageView) -> str:
    classes = f"msg env role-{_esc(m.role)}" + (" error" if m.error else "")
    role = f"<span class=role>{_esc(m.role)}</span>"
    if m.repeat_of:
        preview = _esc(" ".join(m.content.split())[:90])
        return (f"<details class='{classes} repeat'><summary>{role}same as in {_esc(m.repeat_of)} · {len(m.content):,} chars · "
                f"<span class=preview>{preview}…</span></summary><pre class=text>{_esc(m.content)}</pre></details>")
    return f"<div class='{classes}'>{role}<pre class=text>{_esc(m.content)}</pre></div>"


def _memory(step: Step) -> str:
    when = "at the start" if step.reply is None else f"after turn {step.reply.turn}"
    rows = step.memory
    if not rows:
        return f"<div class=memory data-state=empty><span class=head>memory {when}</span> (empty)</div>"
    changed = [r for r in rows if r.status != "kept"]
    counts = ", ".join(f"{sum(r.status == s for r in rows)} {s}" for s in ("added", "updated", "deleted") if any(r.status == s for r in rows))
    table = "<table><tr><th>id</th><th>content</th><th>change</th></tr>" + "".join(_memory_row(r) for r in rows) + "</table>"
    live = sum(r.status != "deleted" for r in rows)
    if not changed:
        return f"<details class=memory data-state=kept><summary><span class=head>memory {when}</span>: {live} entries, unchanged</summary>{table}</details>"
    return f"<div class=memory data-state=changed><span class=head>memory {when}</span>: {live} entries ({counts}){table}</div>"


def _memory_row(r: MemoryRow) -> str:
    content = _esc(r.content) if r.before is None else f"<span class=old>{_esc(r.before)}</span><br>{_esc(r.content)}"
    return f"<tr class={r.status}><td>{_esc(r.id)}</td><td>{content}</td><td class=status>{r.status}</td></tr>"


def _end(t: Trajectory) -> str:
    reason = t.metrics.get("truncated")
    if reason:
        return str(reason)
    return "answer" if answered(t) else "no answer"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
