"""Console tables fit 100 columns by default; ``--wide`` shows every column."""

from __future__ import annotations

import io

from rich.console import Console

from memrl.eval import EvalResult
from memrl.eval.report import compare_table, print_table, results_table, size_table
from tests.eval.test_plots import result, row


def rendered(table, width: int = 100) -> list[str]:
    console = Console(width=width, file=io.StringIO())
    console.print(table)
    return console.file.getvalue().splitlines()


def two_envs() -> EvalResult:
    extra = {"reward/mean": -1.384, "context/peak_tokens": 1024.0, "format_error_rate": 0.993, "success_rate": 0.0,
             "memory/ops/add": 3.6, "reward/agemem_context/mean": 0.198, "time/wall_s": 2249.8}
    rows = [row(p, env=e, score=0.5, no_answer=2, metric="F1", diff_vs_base=0.1, diff_ci_low=-0.05, diff_ci_high=0.25, **extra)
            for e in ("memrl/AgeMem-v0", "memrl/MemoryR1-Manager-v0") for p in ("base", "full_context", "a_long_policy_name")]
    return result(*rows)


def test_the_default_tables_fit_100_columns_without_folding_numbers():
    res = two_envs()
    for table in (results_table(res), size_table(res), compare_table(res, res, "runs/a/eval/results.json", "runs/b/eval/results.json")):
        lines = rendered(table)
        assert max(len(line.rstrip()) for line in lines) <= 100
        assert all(line.count("[") == line.count("]") for line in lines)  # a CI is never cut in two
    text = "\n".join(rendered(results_table(res)))
    assert "0.500 [0.400, 0.600]" in text
    assert "2/6" in text and "AgeMem-v0" in text and "MemoryR1-Manager" in text and "memrl/AgeMem" not in text
    assert "a_long_policy_name" in text  # not folded: the env is a heading row, not a column
    assert "F1" in text.splitlines()[0]


def test_wide_adds_the_cost_and_component_columns():
    narrow = "\n".join(rendered(results_table(two_envs()), width=300))
    wide = "\n".join(rendered(results_table(two_envs(), wide=True), width=300))
    for column in ("success", "agemem_context", "memory ops / ep", "wall s", "add=3.6"):
        assert column in wide and column not in narrow


def test_one_env_goes_to_the_title_not_a_column():
    lines = rendered(results_table(result(row("base", metric="EM"), row("trained", metric="EM"))))
    assert "memrl/AgeMem-v0" in lines[0] and not any(line.lstrip().startswith("env") for line in lines)


def test_print_table_into_a_file_uses_100_columns(capsys):
    print_table(results_table(two_envs()))
    out = capsys.readouterr().out
    assert 90 <= max(len(line.rstrip()) for line in out.splitlines()) <= 100


def test_eval_show_wide(tmp_path, capsys):
    from memrl.cli.main import main

    path = tmp_path / "results.json"
    two_envs().to_json(path)
    assert main(["eval", "--show", str(path)]) == 0
    narrow = capsys.readouterr().out
    assert main(["eval", "--show", str(path), "--wide"]) == 0
    wide = capsys.readouterr().out
    assert max(map(len, narrow.splitlines())) <= 100 < max(map(len, wide.splitlines())) and "wall s" in wide
