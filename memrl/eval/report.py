"""Console tables: one evaluation, or two results side by side (``--compare``)."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

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


def results_table(result: EvalResult) -> Table:
    """Score [95% CI], paired difference to base [95% CI] and the cost columns, per (env, policy)."""
    components = sorted({k for r in result.rows for k in r if k.startswith("reward/") and k.endswith("/mean") and k != "reward/mean"})
    table = Table(title=f"memrl eval · {result.config.get('split', '')} · {result.rows[0]['episodes'] if result.rows else 0} episodes per row",
                  show_lines=False)
    for name in ("env", "policy", "score [95% CI]", "Δ vs base [95% paired CI]", "success", "no answer", "reward",
                 *[c.removeprefix("reward/").removesuffix("/mean") for c in components],
                 "peak ctx", "mean ctx", "policy tok", "turns", "fmt err", "memory ops / ep", "wall s"):
        table.add_column(escape(name), overflow="fold")
    for r in result.rows:
        table.add_row(
            escape(r["env"]), escape(r["policy"]), _ci(r["score"], r["score_ci_low"], r["score_ci_high"]),
            _ci(r.get("diff_vs_base"), r.get("diff_ci_low"), r.get("diff_ci_high")),
            _num(r["success_rate"]), str(r["no_answer"]), _num(r.get("reward/mean")),
            *[_num(r.get(c)) for c in components],
            _num(r.get("context/peak_tokens"), 0), _num(r.get("context/mean_tokens"), 0),
            _num(r.get("tokens/policy_mean"), 1), _num(r.get("turns/mean"), 2), _num(r.get("format_error_rate")),
            escape(_ops(r)), _num(r.get("time/wall_s"), 1),
        )
    return table


def category_table(result: EvalResult) -> Table | None:
    """Per-question metrics by category (LoCoMo's F1 / BLEU-1 / EM), one line per (env, policy, category)."""
    rows = [r for r in result.rows if r.get("by_category")]
    if not rows:
        return None
    metrics = sorted({m for r in rows for c in r["by_category"].values() for m in c if m != "n"})
    table = Table(title="per question, by category")
    for name in ("env", "policy", "category", "questions", *metrics):
        table.add_column(escape(name), overflow="fold")
    for r in rows:
        for name, values in sorted(r["by_category"].items(), key=lambda kv: (kv[0] == "all", kv[0])):
            table.add_row(escape(r["env"]), escape(r["policy"]), escape(name), _num(values.get("n"), 0),
                          *[_num(values.get(m)) for m in metrics])
    return table


def size_table(result: EvalResult) -> Table | None:
    """Score and peak context by task size (e.g. MEM1's N objectives), one line per (env, policy, size).

    None unless some row's episodes span more than one size: the main table already says it all.
    """
    rows = [r for r in result.rows if len(episodes_by_size(r)) > 1]
    if not rows:
        return None
    table = Table(title=f"by task size ({rows[0].get('size_key') or 'size'})")
    for name in ("env", "policy", "size", "episodes", "score [95% CI]", "success", "no answer",
                 "peak ctx (max)", "peak ctx (mean)", "turns"):
        table.add_column(escape(name), overflow="fold")
    for r in rows:
        for size, eps in episodes_by_size(r).items():
            scores = [float(e["score"]) for e in eps]
            peaks = [e["peak_context_tokens"] for e in eps]
            mean = sum(scores) / len(scores)
            table.add_row(escape(r["env"]), escape(r["policy"]), _num(size, 0) if float(size).is_integer() else _num(size),
                          str(len(eps)), _ci(mean, *bootstrap_ci(scores)),
                          _num(sum(bool(e["success"]) for e in eps) / len(eps)),
                          str(sum(not e["answered"] for e in eps)), str(max(peaks)), _num(sum(peaks) / len(peaks), 0),
                          _num(sum(e["turns"] for e in eps) / len(eps), 2))
    return table


def compare_table(a: EvalResult, b: EvalResult, name_a: str, name_b: str) -> Table:
    """Scores of both results per (env, policy), and B − A paired over the tasks both played."""
    table = Table(title=f"A = {name_a}   B = {name_b}")
    for col in ("env", "policy", "A score [95% CI]", "B score [95% CI]", "B − A [95% paired CI]", "paired tasks",
                "A peak ctx", "B peak ctx"):
        table.add_column(escape(col), overflow="fold")
    keys = list(dict.fromkeys((r["env"], r["policy"]) for r in a.rows + b.rows))
    rows_a = {(r["env"], r["policy"]): r for r in a.rows}
    rows_b = {(r["env"], r["policy"]): r for r in b.rows}
    for key in keys:
        ra, rb = rows_a.get(key), rows_b.get(key)
        diff, n = "-", 0
        if ra and rb:
            sb, sa = paired_scores(rb, ra)
            n = len(sa)
            if n:
                diff = _ci(*paired_bootstrap_ci(sb, sa))
        table.add_row(escape(key[0]), escape(key[1]),
                      _ci(ra["score"], ra["score_ci_low"], ra["score_ci_high"]) if ra else "-",
                      _ci(rb["score"], rb["score_ci_low"], rb["score_ci_high"]) if rb else "-",
                      diff, str(n), _num(ra.get("context/peak_tokens"), 0) if ra else "-",
                      _num(rb.get("context/peak_tokens"), 0) if rb else "-")
    return table


def print_table(table: Table, console: Console | None = None) -> None:
    (console or Console(width=max(Console().width, 230))).print(table)
