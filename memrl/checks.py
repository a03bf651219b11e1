"""Preflight: everything a user typed, checked before a model loads.

Loading a model takes seconds to minutes, and a run that fails after it (or, worse, after an
evaluation) on a typo loses that time and its results. So ``memrl rollout``, ``memrl eval``,
``memrl inspect`` and the recipes call these first: numbers in range, names that exist, output
paths that can be written, the environment built with the user's settings and one task reset,
reward plugins imported and their signatures checked against the fields they will get, and the
first prompt measured against the context budget. Each failure is a one-line
:class:`~memrl.errors.UserError` naming the flag, the value and the fix.
"""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from memrl.errors import UserError

# What memrl passes a reward plugin besides the task's own columns (trainer and eval alike).
REWARD_FIELDS = ("outcome", "env_reward")


# -- numbers and names ---------------------------------------------------------------------------
def at_least(value: int | float | None, low: int | float, flag: str, hint: str = "") -> None:
    """``flag`` must be >= ``low`` (None = not given, fine)."""
    if value is not None and not value >= low:  # `not >=` also catches NaN
        raise UserError(f"{flag} ({value}) must be at least {low}{hint}")


def one_of(value: str, choices: Iterable[str], flag: str) -> str:
    choices = list(choices)
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"{flag} {value!r} is not one of {', '.join(choices)}.{hint}")
    return value


def split(value: str, flag: str = "--split") -> str:
    from memrl.env.splits import check_split

    try:
        return check_split(value)
    except ValueError as exc:
        raise UserError(f"{flag}: {exc}") from None


def backend(value: str, flag: str = "--backend") -> str:
    from memrl.rollout.backends import BACKENDS

    return one_of(value, BACKENDS, flag)


def context_budget(max_context: int | None, max_new: int, context_flag: str, new_flag: str) -> None:
    """A model call holds the prompt plus the reply: a budget that cannot hold a reply is refused."""
    at_least(max_new, 1, new_flag)
    if max_context is not None and max_context <= max_new:
        raise UserError(f"{context_flag} ({max_context}) must exceed {new_flag} ({max_new}): "
                        f"one model call holds the prompt and the reply")


# -- files ---------------------------------------------------------------------------------------
def input_file(path: str | os.PathLike, flag: str) -> Path:
    """An existing, readable file (not a folder)."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a folder; pass a file")
    if not p.is_file():
        raise UserError(f"{flag} {str(path)!r} does not exist")
    if not os.access(p, os.R_OK):
        raise UserError(f"{flag} {str(path)!r} cannot be read (permission denied)")
    return p


def output_file(path: str | os.PathLike, flag: str) -> Path:
    """A file path that can be written: not a folder, under a folder that exists or can be made."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UserError(f"{flag} {str(path)!r} is a folder; pass a file path in it, e.g. {str(p / 'out.jsonl')!r}")
    if p.exists() and not os.access(p, os.W_OK):
        raise UserError(f"{flag} {str(path)!r} cannot be written (permission denied)")
    _writable_parent(p, str(path), flag)
    return p


def output_folder(path: str | os.PathLike, flag: str) -> Path:
    """A folder path that can be written into: an existing folder, or one that can be made."""
    p = Path(path).expanduser()
    if p.exists() and not p.is_dir():
        raise UserError(f"{flag} {str(path)!r} is an existing file; pass a folder (it will hold several files)")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise UserError(f"{flag} {str(path)!r} cannot be written (permission denied)")
        return p
    _writable_parent(p, str(path), flag)
    return p


def _writable_parent(p: Path, given: str, flag: str) -> None:
    """The nearest existing ancestor must be a folder this process may create entries in."""
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise UserError(f"{flag} {given!r} cannot be made: {str(parent)!r} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{flag} {given!r} cannot be made: {str(parent)!r} is not writable")


# -- environments, rewards, prompts -----------------------------------------------------------------
@dataclass
class Built:
    """An env built with the user's settings, one task of the split, and its first messages
    (``task`` and ``messages`` are None for an env without a task generator)."""

    env: Any
    task: dict[str, Any] | None
    messages: list[dict[str, str]] | None


def env_task(env_id: str, env_kwargs: Mapping[str, Any], *, split_name: str, seed: int,
             flag: str = "--env_kwargs") -> Built:
    """Build ``env_id`` with the user's settings, make one ``split_name`` task and reset on it.

    An env without a generator gets no task (its tasks come from a file, checked by whoever
    reads it). A setting the env refuses is one line naming ``flag``.
    """
    from memrl.env.registry import make, spec

    spec(env_id)  # an unknown id, with the closest registered ones
    settings = f"{flag} {json.dumps(dict(env_kwargs), default=str)}" if env_kwargs else "its default settings"
    # With the user's settings, an env that refuses them is a user error; with the defaults, the
    # same exception is an env bug and keeps its traceback.
    blame = (TypeError, ValueError, KeyError, IndexError) if env_kwargs else ()
    try:
        env = make(env_id, **env_kwargs)
    except UserError:
        raise
    except blame as exc:  # a setting of the wrong type or out of range
        raise UserError(f"{env_id} cannot be made with {settings}: {reason(exc)}") from None
    try:
        tasks = env.make_tasks(split_name, 1, seed)
    except NotImplementedError:
        return Built(env, None, None)
    except UserError:
        raise
    except blame as exc:
        raise UserError(f"{env_id} cannot make a {split_name} task with {settings}: {reason(exc)}") from None
    try:
        messages, _ = env.reset(seed=seed, options={"task": tasks[0]})
    except UserError:
        raise
    except blame as exc:
        raise UserError(f"{env_id} cannot start a task with {settings}: {reason(exc)}") from None
    return Built(env, tasks[0], messages)


def rewards(plugins: Mapping[str, Any], task: Mapping[str, Any] | None, flag: str) -> Any:
    """The RewardSet of ``plugins`` (imported now), each plugin's signature checked against the
    fields it will be called with (``task``'s columns and :data:`REWARD_FIELDS`)."""
    from memrl.scoring import RewardSet

    if not plugins:
        return None
    try:
        reward_set = RewardSet(dict(plugins))
        if task is not None:
            reward_set.check_fields(list(task) + list(REWARD_FIELDS))
    except UserError as exc:
        raise UserError(f"{flag}: {exc}") from None
    return reward_set


def prompt_fits(model: str | None, env_id: str, messages: list[dict[str, str]] | None, max_context: int,
                max_new: int, flag: str) -> None:
    """The env's first prompt, rendered with the model's chat template, must leave room for a
    reply in ``max_context`` tokens. Needs only the tokenizer (fast); skipped if it cannot load
    (the model load right after says why)."""
    from memrl.rollout.engine import ChatRenderer

    tokenizer = _tokenizer(model) if messages else None
    if tokenizer is None:
        return
    chat = ChatRenderer(tokenizer)
    prompt = len(chat.encode(chat.render(messages)))
    if prompt + 1 > max_context:
        raise UserError(f"{flag} ({max_context}) cannot hold {env_id}'s first prompt ({prompt} tokens) and a reply; "
                        f"use at least {prompt + max_new}")


def _tokenizer(model: str | None) -> Any:
    from memrl.models import prepare_tokenizer, resolve_model

    try:
        path = resolve_model(model)
        from transformers import AutoTokenizer

        return prepare_tokenizer(AutoTokenizer.from_pretrained(path))
    except UserError:
        raise
    except Exception:  # noqa: BLE001 - offline hub id, odd tokenizer: the model load reports it
        return None


def reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
