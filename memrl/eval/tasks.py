"""Where eval tasks come from: the env's seeded generator (a held-out split) or a JSONL file.

Every policy and baseline of one evaluation plays exactly this task list, in this order, so
their scores can be compared task by task (the paired intervals in ``stats``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memrl.env.registry import make
from memrl.env.splits import check_split
from memrl.errors import UserError


def generated_tasks(env_id: str, env_kwargs: dict[str, Any], *, split: str, episodes: int, task_seed: int) -> list[dict[str, Any]]:
    """``episodes`` tasks of ``split`` from the env's generator (disjoint from the training split)."""
    try:
        check_split(split)
    except ValueError as exc:
        raise UserError(str(exc)) from None
    env = make(env_id, **env_kwargs)
    try:
        return env.make_tasks(split, episodes, task_seed)
    except NotImplementedError:
        raise UserError(f"environment {env_id!r} has no task generator; pass --tasks-file FILE.jsonl") from None
    except ValueError as exc:  # e.g. more distinct tasks asked for than the generator can make
        raise UserError(f"{env_id}: {_reason(exc)}") from None
    finally:
        env.close()


def read_tasks_file(path: str | Path, episodes: int | None = None) -> list[dict[str, Any]]:
    """Task dicts from a JSONL file (one per line; blank lines skipped), the first ``episodes`` of them.

    A task without an ``id`` gets ``<file stem>-<line>`` so episodes can be paired across policies.
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise UserError(f"tasks file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise UserError(f"tasks file {str(path)!r} is a folder; pass a .jsonl file with one task per line") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read tasks file {str(path)!r}: {_reason(exc)}") from None
    tasks = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            task = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"{path}:{number}: not valid JSON ({exc.msg}); write one task object per line") from None
        if not isinstance(task, dict):
            raise UserError(f"{path}:{number}: a task must be a JSON object, got {type(task).__name__}")
        task.setdefault("id", f"{path.stem}-{number}")
        task["_line"] = number
        tasks.append(task)
        if episodes is not None and len(tasks) >= episodes:
            break
    if not tasks:
        raise UserError(f"tasks file {str(path)!r} holds no tasks; write one JSON object per line")
    return tasks


def check_tasks(env_id: str, env_kwargs: dict[str, Any], tasks: list[dict[str, Any]], source: str) -> None:
    """Play every task once with empty replies and a final answer, before any model runs, so a
    task missing a field the env needs (at any stage) is one line naming the task, not a
    traceback halfway through an evaluation."""
    env = make(env_id, **env_kwargs)
    answer = env.protocol.answer_form().replace("...", "x")
    try:
        for task in tasks:
            line = task.pop("_line", None)  # only for this message; the task itself stays the user's
            where = f"{source}:{line}" if line is not None else f"{source} task {task.get('id')!r}"
            try:
                _dry_run(env, task, answer)
            except KeyError as exc:
                raise UserError(f"{where}: the task has no field {exc.args[0]!r}, which {env_id} needs") from None
            except (TypeError, ValueError, AttributeError, IndexError) as exc:
                raise UserError(f"{where}: {env_id} cannot start this task ({_reason(exc)})") from None
    finally:
        env.close()


def _dry_run(env: Any, task: dict[str, Any], answer: str) -> None:
    """Empty replies walk through every stage; the last turn answers, so ``finish`` runs too."""
    env.reset(seed=0, options={"task": task})
    for turn in range(1, env.max_turns + 1):
        _, _, terminated, truncated, _ = env.step(answer if turn == env.max_turns else "")
        if terminated or truncated:
            return


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
