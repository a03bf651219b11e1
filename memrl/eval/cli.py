"""``memrl eval``: checkpoints, the untrained base and the baselines on the same held-out tasks.

    memrl eval --policy trained=runs/x/final --env_id memrl/FactRecall-v0 --episodes 100 \\
        --split test --task_seed 0 --training-log runs/x/log.jsonl --out runs/x/eval
    memrl eval --compare runs/a/eval/results.json runs/b/eval/results.json
    memrl eval --show runs/x/eval/results.json        # print the tables of a finished run again

Writes ``results.json`` (config, rows, every episode), ``results.csv``, ``score.png``,
``context_vs_size.png`` and, with ``--training-log``, ``learning_curve.png`` into ``--out``.
"""

from __future__ import annotations

import argparse
import math
from functools import partial
from pathlib import Path
from typing import Any

from memrl import checks
from memrl.errors import UserError
from memrl.parsing import json_object
from memrl.settings import EpisodeSettings, add_arguments, add_model_argument

# The episode settings memrl eval shares with the recipes and memrl rollout (memrl.settings): same
# names and defaults, so the line a recipe prints passes its settings unchanged. --env_id repeats.
SHARED = ("env_id", "env_kwargs", "task_seed", "backend", "max_turns", "max_new_tokens_per_turn",
          "max_context_tokens", "max_episode_tokens", "reward_plugins")
EVAL_BACKENDS = ("hf", "vllm")  # eval loads each adapter itself: no vllm-server


def add_eval_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "eval", help="evaluate checkpoints against the untrained base and memory baselines",
        description="Run environments on held-out tasks for checkpoints, the untrained base (same memory tools) and "
                    "baseline agents (no memory, full context, retrieval only, heuristic memory) on the same base model; "
                    "report scores with 95%% bootstrap CIs, paired differences to the base, costs, JSON/CSV and plots.")
    p.add_argument("--policy", action="append", default=[], metavar="[NAME=]PATH_OR_ID",
                   help="a memrl checkpoint-N/ or final/ adapter folder, or a model folder/id; repeatable")
    add_model_argument(p)
    add_arguments(p, SHARED, repeatable=("env_id",))
    p.add_argument("--episodes", type=int, default=100, help="tasks per environment (one episode each)")
    p.add_argument("--split", default="test", help="generator split: train | validation | test")
    p.add_argument("--tasks-file", default=None, metavar="FILE.jsonl", help="tasks from a file (one JSON object per line) instead of the generator")
    p.add_argument("--baselines", default="all", help="comma list of memory modes, 'all' (every one the env supports) or 'none'")
    # Greedy, unlike training's sampling: a score that does not change from run to run.
    p.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (0 = greedy, the default)")
    p.add_argument("--seed", type=int, default=0, help="sampling and env seed")
    p.add_argument("--batch-size", type=int, default=8, help="episodes decoded together (hf: a continuous batch of at most this many)")
    p.add_argument("--training-log", default=None, help="a training run's log.jsonl, for learning_curve.png")
    p.add_argument("--out", default="runs/eval", help="output folder")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--compare", nargs=2, default=None, metavar=("A.json", "B.json"), help="show two results.json side by side and exit")
    p.add_argument("--wide", action="store_true", help="print every column (success, reward parts, costs, memory ops); default: a table within 100 columns")
    p.add_argument("--show", default=None, metavar="RESULTS.json", help="print the tables of a results.json (by category, by task size) and exit")
    p.set_defaults(func=run_eval_command)
    return p


def run_eval_command(args: argparse.Namespace) -> int:
    from memrl.eval.report import compare_table, print_table
    from memrl.eval.result import EvalResult

    if args.show:
        _print_tables(EvalResult.from_json(checks.input_file(args.show, "--show")), wide=args.wide)
        return 0
    if args.compare:
        a, b = (EvalResult.from_json(checks.input_file(path, "--compare")) for path in args.compare)
        print_table(compare_table(a, b, *args.compare, wide=args.wide), wide=args.wide)
        return 0
    return _evaluate(args)


def _evaluate(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from memrl.eval.policies import adapter_policy, check_adapter_fits, model_policy
    from memrl.eval.runner import BASE, evaluate
    from memrl.models import load_model_and_tokenizer, resolve_model

    checked = _check_inputs(args)
    for env_id, messages in checked.first_messages.items():
        checks.prompt_fits(args.model_name_or_path, env_id, messages, args.max_context_tokens, args.max_new_tokens_per_turn,
                           "--max_context_tokens")
    base_label = resolve_model(args.model_name_or_path)
    hf_logging.disable_progress_bar()  # one progress bar (episodes), not one per weight file
    base = load_model_and_tokenizer(args.model_name_or_path)
    for s in checked.specs:  # a bad adapter fails now, not after the base and the baselines have run
        if s.kind == "adapter":
            check_adapter_fits(base[0], s.source, checked.adapters[s.name], s.name, base_label)
    policies: dict[str, Any] = {BASE: base}
    for s in checked.specs:
        policies[s.name] = partial(adapter_policy, *base, s, base_label) if s.kind == "adapter" else partial(model_policy, s)
    config = {"model": args.model_name_or_path or "embedded", "model_path": base_label,
              "policies": {s.name: {"source": s.source, "kind": s.kind} for s in checked.specs}}
    result = evaluate(
        policies, checked.env_ids, episodes=args.episodes, split=args.split, task_seed=args.task_seed,
        tasks_file=args.tasks_file, tasks=checked.tasks, env_kwargs=checked.env_kwargs, baselines=args.baselines,
        backend=args.backend, temperature=args.temperature, seed=args.seed, max_new_tokens=args.max_new_tokens_per_turn,
        max_context_tokens=args.max_context_tokens, max_turns=args.max_turns, max_episode_tokens=args.max_episode_tokens,
        batch_size=args.batch_size,
        reward_plugins=checked.reward_plugins, config=config,
    )
    _write_outputs(result, Path(args.out), plots=not args.no_plots, log_rows=checked.log_rows, wide=args.wide)
    return 0


def _check_inputs(args: argparse.Namespace) -> argparse.Namespace:
    """Everything a user typed, checked before a model loads (loading can take minutes)."""
    from memrl.eval.policies import lora_shapes, parse_policy, read_adapter_config
    from memrl.eval.runner import load_tasks, resolve_baselines

    _check_numbers(args)
    checks.output_folder(args.out, "--out")  # before the run: a bad --out must not lose its results
    env_ids = args.env_id or [EpisodeSettings.env_id]
    env_kwargs = json_object(args.env_kwargs, "--env_kwargs")
    reward_plugins = json_object(args.reward_plugins, "--reward_plugins")
    for env_id in env_ids:  # the env built with the settings, one task reset (an env that cannot even start)
        checks.env_task(env_id, env_kwargs, split_name=args.split, seed=args.task_seed).env.close()
    specs = [parse_policy(text) for text in args.policy]
    names = [s.name for s in specs]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UserError(f"--policy name(s) {', '.join(map(repr, twice))} used twice; name them, e.g. --policy a=PATH --policy b=PATH")
    adapters = {s.name: read_adapter_config(s.source, s.name) for s in specs if s.kind == "adapter"}
    for s in specs:
        if s.kind == "adapter":
            lora_shapes(s.source, s.name)  # a corrupt weights file
    log_rows = _training_log(args.training_log) if args.training_log else None
    tasks = {e: load_tasks(e, env_kwargs, episodes=args.episodes, split=args.split, task_seed=args.task_seed,
                           tasks_file=args.tasks_file) for e in env_ids}
    for env_id in env_ids:
        resolve_baselines(env_id, env_kwargs, args.baselines)
        checks.rewards(reward_plugins, tasks[env_id][0], "--reward_plugins")  # import and signature
    return argparse.Namespace(env_ids=env_ids, env_kwargs=env_kwargs, reward_plugins=reward_plugins, specs=specs,
                              adapters=adapters, log_rows=log_rows, tasks=tasks,
                              first_messages={e: _first_messages(e, env_kwargs, tasks[e][0]) for e in env_ids})


def _check_numbers(args: argparse.Namespace) -> None:
    checks.at_least(args.episodes, 1, "--episodes")
    checks.at_least(args.batch_size, 1, "--batch-size")
    checks.at_least(args.max_turns, 1, "--max_turns", " (or leave it out for each env's own)")
    checks.at_least(args.max_episode_tokens, 1, "--max_episode_tokens")
    checks.context_budget(args.max_context_tokens, args.max_new_tokens_per_turn, "--max_context_tokens", "--max_new_tokens_per_turn")
    checks.one_of(args.backend, EVAL_BACKENDS, "--backend")
    if not (args.temperature >= 0 and math.isfinite(args.temperature)):
        raise UserError(f"--temperature ({args.temperature}) must be a finite number >= 0 (0 = greedy)")
    checks.split(args.split)


def _training_log(path: str) -> list:
    from memrl.eval.plots import read_training_log

    checks.input_file(path, "--training-log")
    try:
        return read_training_log(path)
    except UnicodeDecodeError as exc:
        raise UserError(f"--training-log {path!r} is not a log.jsonl: byte {exc.start} is not UTF-8 text") from None
    except OSError as exc:
        raise UserError(f"--training-log {path!r} cannot be read ({exc.strerror or exc})") from None


def _first_messages(env_id: str, env_kwargs: dict[str, Any], task: dict[str, Any]) -> list[dict[str, str]]:
    from memrl.env.registry import make

    env = make(env_id, **env_kwargs)
    try:
        return env.reset(seed=0, options={"task": task})[0]
    finally:
        env.close()


def _write_outputs(result: Any, out: Path, *, plots: bool, log_rows: list | None, wide: bool = False) -> None:
    from memrl.eval.plots import model_label, plot_context_vs_size, plot_learning_curve, plot_scores

    out.mkdir(parents=True, exist_ok=True)
    result.to_json(out / "results.json")
    result.to_csv(out / "results.csv")
    written = ["results.json", "results.csv"]
    if plots:
        plot_scores(result, out / "score.png")
        plot_context_vs_size(result, out / "context_vs_size.png")
        written += ["score.png", "context_vs_size.png"]
        title = f"learning curve · {', '.join(result.config.get('env_ids', []))} · model {model_label(result)}"
        if log_rows is not None and plot_learning_curve(log_rows, out / "learning_curve.png", title=title):
            written.append("learning_curve.png")
    _print_tables(result, wide=wide)
    print(f"wrote {', '.join(written)} to {out}")


def _print_tables(result: Any, *, wide: bool = False) -> None:
    from memrl.eval.report import category_table, print_table, results_table, size_table

    print_table(results_table(result, wide=wide), wide=wide)
    for table in (category_table(result), size_table(result)):
        if table is not None:
            print_table(table, wide=wide)

