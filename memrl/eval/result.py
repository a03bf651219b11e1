"""``EvalResult``: rows per (policy, env), saved as JSON (with every episode) and CSV."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from memrl.errors import UserError
from memrl.eval.stats import paired_bootstrap_ci

FORMAT = "memrl-eval/1"
COUNTED = ("memory/ops/", "truncated/")
LEAD = ["policy", "kind", "memory_mode", "env", "episodes", "score", "score_ci_low", "score_ci_high",
        "diff_vs_base", "diff_ci_low", "diff_ci_high", "success_rate", "no_answer", "metric"]


@dataclass
class EvalResult:
    config: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    def row(self, policy: str, env: str) -> dict[str, Any]:
        for r in self.rows:
            if r["policy"] == policy and r["env"] == env:
                return r
        raise KeyError(f"no result for policy {policy!r} on {env!r}")

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"format": FORMAT, "config": self.config, "rows": self.rows}, indent=1, default=str) + "\n",
                              encoding="utf-8")

    def to_csv(self, path: str | Path) -> None:
        """One line per (policy, env); per-episode detail stays in the JSON."""
        flat = [{k: v for k, v in r.items() if k not in ("episodes_detail", "by_category")} | _category_columns(r) for r in self.rows]
        extra = sorted({k for r in flat for k in r} - set(LEAD))
        for r in flat:
            # A policy that never deleted (or was never truncated) did so 0 times: write 0, not a
            # blank that reads as "not measured". Reward plugins that were not run stay blank.
            r.update({k: 0.0 for k in extra if k.startswith(COUNTED) and k not in r})
        with open(path, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=LEAD + extra)
            writer.writeheader()
            writer.writerows(flat)

    @classmethod
    def from_json(cls, path: str | Path) -> "EvalResult":
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError(f"results file {str(path)!r} does not exist") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserError(f"results file {str(path)!r} is unreadable or not JSON ({str(exc).splitlines()[0]})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("rows"), list):
            raise UserError(f"{str(path)!r} is not a memrl eval results.json (written by `memrl eval --out DIR`)")
        return cls(config=data.get("config", {}), rows=data["rows"])


def paired_scores(a: dict[str, Any], b: dict[str, Any]) -> tuple[list[float], list[float]]:
    """Scores of the tasks both rows played, in one order (pairs by task id)."""
    sa = {e["task_id"]: e["score"] for e in a.get("episodes_detail", [])}
    sb = {e["task_id"]: e["score"] for e in b.get("episodes_detail", [])}
    common = [t for t in sa if t in sb]
    return [sa[t] for t in common], [sb[t] for t in common]


def episodes_by_size(row: dict[str, Any]) -> dict[float, list[dict[str, Any]]]:
    """A row's episodes grouped by task size (``size``; episodes without one are left out), sizes ascending."""
    groups: dict[float, list[dict[str, Any]]] = {}
    for e in row.get("episodes_detail", []):
        if e.get("size") is not None:
            groups.setdefault(e["size"], []).append(e)
    return dict(sorted(groups.items()))


def add_paired_differences(rows: list[dict[str, Any]], base: str) -> None:
    """``diff_vs_base`` and its paired 95% CI for every row of an env that has a ``base`` row."""
    bases = {r["env"]: r for r in rows if r["policy"] == base}
    for r in rows:
        ref = bases.get(r["env"])
        if ref is None or r is ref:
            continue
        mine, theirs = paired_scores(r, ref)
        if mine:
            r["diff_vs_base"], r["diff_ci_low"], r["diff_ci_high"] = paired_bootstrap_ci(mine, theirs)


def _category_columns(row: dict[str, Any]) -> dict[str, float]:
    """``by_category`` flattened for the CSV: ``<metric>/<category>`` columns (``n/<category>``: questions)."""
    return {f"{metric}/{name}": value for name, metrics in row.get("by_category", {}).items()
            for metric, value in metrics.items()}
