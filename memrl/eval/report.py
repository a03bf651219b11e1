"""Console tables: one evaluation, or two results side by side (``--compare``)."""

from __future__ import annotations

import math
from typing import Any

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from memrl.eval.metrics import metric_name
from memrl.eval.result import EvalResult, episodes_by_size, paired_scores
from memrl.eval.stats import bootstrap_ci, paired_bootstrap_ci


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _ci(mean: Any, low: Any, high: Any) -> str:
    if mean is None:
        return "-"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def _ops(row: dict[str, Any]) -> str:
    ops = {k.removeprefix("memory/ops/"): v for k, v in row.items() if k.startswith("memory/ops/")}
    return " ".join(f"{k}={v:.1f}" for k, v in sorted(ops.items())) or "-"


_TEXT = {"policy", "category", "memory ops / ep"}  # left-aligned columns; numbers are right-aligned


def _table(title: str, columns: list[str]) -> Table:
    """Light borders (no vertical rules): a row of numbers stays within 100 columns."""
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, title_justify="left")
    for name in columns:
        text = name in _TEXT
        table.add_column(escape(name), overflow="fold", no_wrap=not text, justify="left" if text else "right")
    return table


def _env_heading(table: Table, env: str, envs: list[str], previous: str | None) -> None:
    """With several envs in one table, a bold heading row before each env's rows (an env column
    would cost the width of its longest id on every line)."""
    if len(envs) > 1 and env != previous:
        table.add_row(f"[bold]{escape(env.removeprefix('memrl/'))}[/bold]", *[""] * (len(table.columns) - 1))


def results_table(result: EvalResult, *, wide: bool = False) -> Table:
    """Score [95% CI], paired difference to base [95% paired CI], unanswered episodes, reward,
    peak context and format errors per (env, policy), within 100 columns; ``wide`` adds success,
    each reward component, mean context, policy tokens, turns, memory operations and wall time."""
    rows = result.rows
    envs = list(dict.fromkeys(r["env"] for r in rows))
    components = sorted({k for r in rows for k in r if k.startswith("reward/") and k.endswith("/mean") and k != "reward/mean"})
    metrics = list(dict.fromkeys(metric_name(result, r) for r in rows))
    what = f" · {envs[0]}" if len(envs) == 1 else ""
    title = (f"memrl eval{what} · score = {', '.join(metrics) or 'task score'} · {result.config.get('split', '')} split · "
             f"{rows[0]['episodes'] if rows else 0} episodes per row")
    columns = ["policy", "score\n[95% CI]", "Δ vs base\n[95% paired CI]", "no\nanswer", "reward"]
    if wide:
        columns += ["success", *[c.removeprefix("reward/").removesuffix("/mean") for c in components]]
    columns += ["peak\nctx", "fmt\nerr"]
    if wide:
        columns += ["mean\nctx", "policy\ntok", "turns", "memory ops / ep", "wall s"]
    table = _table(title, columns)
    for i, r in enumerate(rows):
        _env_heading(table, r["env"], envs, rows[i - 1]["env"] if i else None)
        cells = [escape(r["policy"]), _ci(r["score"], r["score_ci_low"], r["score_ci_high"]),
                  _ci(r.get("diff_vs_base"), r.get("diff_ci_low"), r.get("diff_ci_high")),
                  f"{r['no_answer']}/{r['episodes']}", _num(r.get("reward/mean"))]
        if wide:
            cells += [_num(r["success_rate"]), *[_num(r.get(c)) for c in components]]
        cells += [_num(r.get("context/peak_tokens"), 0), _num(r.get("format_error_rate"))]
        if wide:
            cells += [_num(r.get("context/mean_tokens"), 0), _num(r.get("tokens/policy_mean"), 1), _num(r.get("turns/mean"), 2),
                      escape(_ops(r)), _num(r.get("time/wall_s"), 1)]
        table.add_row(*cells)
    return table


def category_table(result: EvalResult) -> Table | None:
    """Per-question metrics by category (LoCoMo's F1 / BLEU-1 / EM), one line per (env, policy, category)."""
    rows = [r for r in result.rows if r.get("by_category")]
    if not rows:
        return None
    envs = list(dict.fromkeys(r["env"] for r in rows))
    metrics = sorted({m for r in rows for c in r["by_category"].values() for m in c if m != "n"})
    table = _table("per question, by category" + (f" · {envs[0]}" if len(envs) == 1 else ""),
                   ["policy", "category", "questions", *metrics])
    for i, r in enumerate(rows):
        _env_heading(table, r["env"], envs, rows[i - 1]["env"] if i else None)
        for name, values in sorted(r["by_category"].items(), key=lambda kv: (kv[0] == "all", kv[0])):
            table.add_row(escape(r["policy"]), escape(name), _num(values.get("n"), 0), *[_num(values.get(m)) for m in metrics])
    return table


def size_table(result: EvalResult) -> Table | None:
    """Score and peak context by task size (e.g. MEM1's N objectives), one line per (env, policy, size).

    None unless some row's episodes span more than one size: the main table already says it all.
    """
    rows = [r for r in result.rows if len(episodes_by_size(r)) > 1]
    if not rows:
        return None
    envs = list(dict.fromkeys(r["env"] for r in rows))
    title = f"by task size ({rows[0].get('size_key') or 'size'})" + (f" · {envs[0]}" if len(envs) == 1 else "")
    table = _table(title, [
        "policy", "size", "n", "score\n[95% CI]", "success", "no\nanswer", "peak ctx\n(max)", "peak ctx\n(mean)", "turns"])
    for i, r in enumerate(rows):
        _env_heading(table, r["env"], envs, rows[i - 1]["env"] if i else None)
        for size, eps in episodes_by_size(r).items():
            scores = [float(e["score"]) for e in eps]
            peaks = [e["peak_context_tokens"] for e in eps]
            mean = sum(scores) / len(scores)
            table.add_row(escape(r["policy"]), _num(size, 0) if float(size).is_integer() else _num(size),
                          str(len(eps)), _ci(mean, *bootstrap_ci(scores)),
                          _num(sum(bool(e["success"]) for e in eps) / len(eps)),
                          str(sum(not e["answered"] for e in eps)), str(max(peaks)), _num(sum(peaks) / len(peaks), 0),
                          _num(sum(e["turns"] for e in eps) / len(eps), 2))
    return table


def compare_table(a: EvalResult, b: EvalResult, name_a: str, name_b: str, *, wide: bool = False) -> Table:
    """Scores of both results per (env, policy), and B − A paired over the tasks both played
    (``wide``: with both peak contexts)."""
    keys = list(dict.fromkeys((r["env"], r["policy"]) for r in a.rows + b.rows))
    envs = list(dict.fromkeys(env for env, _ in keys))
    title = f"A = {name_a}\nB = {name_b}" + (f"\n{envs[0]}" if len(envs) == 1 else "")
    table = _table(title, [
        "policy", "A score\n[95% CI]", "B score\n[95% CI]", "B − A\n[95% paired CI]", "paired\ntasks",
        *(["A peak\nctx", "B peak\nctx"] if wide else [])])
    rows_a = {(r["env"], r["policy"]): r for r in a.rows}
    rows_b = {(r["env"], r["policy"]): r for r in b.rows}
    for i, key in enumerate(keys):
        _env_heading(table, key[0], envs, keys[i - 1][0] if i else None)
        ra, rb = rows_a.get(key), rows_b.get(key)
        diff, n = "-", 0
        if ra and rb:
            sb, sa = paired_scores(rb, ra)
            n = len(sa)
            if n:
                diff = _ci(*paired_bootstrap_ci(sb, sa))
        table.add_row(escape(key[1]),
                      _ci(ra["score"], ra["score_ci_low"], ra["score_ci_high"]) if ra else "-",
                      _ci(rb["score"], rb["score_ci_low"], rb["score_ci_high"]) if rb else "-",
                      diff, str(n), *([_num(ra.get("context/peak_tokens"), 0) if ra else "-",
                                       _num(rb.get("context/peak_tokens"), 0) if rb else "-"] if wide else []))
    return table


def print_table(table: Table, console: Console | None = None, *, wide: bool = False) -> None:
    """At the terminal's width; into a file or pipe at 100 columns (``wide``: 230), rather than
    rich's 80, which would fold every number."""
    if console is None:
        console = Console()
        if wide or not console.is_terminal:
            console = Console(width=max(console.width, 230) if wide else 100)
    console.print(table)
