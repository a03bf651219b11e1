"""The episode settings that training, ``memrl rollout`` and ``memrl eval`` share, declared once.

:class:`memrl.train.config.MemRLConfig` inherits :class:`EpisodeSettings` (TRL's parser reads
the fields as ``--max_new_tokens_per_turn`` ...), and the two commands add the same fields to
their parsers with :func:`add_arguments`: the same names, the same defaults, the same help, so
a recipe's settings pass to ``memrl eval`` unchanged. Every name is also accepted with dashes
(``--max-context-tokens``, as TRL's parser does), and the commands' older ``--env`` and
``--max-new-tokens`` stay as aliases everywhere.

This module imports nothing heavy (no torch, no TRL): the commands' ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any


def _setting(default: Any, help: str, *aliases: str) -> Any:
    return field(default=default, metadata={"help": help, "aliases": list(aliases)})


@dataclass
class EpisodeSettings:
    """What an episode is and how much it may cost: the env, its tasks, the backend, the budgets,
    the reward. ``model_name_or_path`` is TRL's ``ModelConfig`` field, under the same name."""

    env_id: str = _setting("memrl/FactRecall-v0", "Environment id (`memrl envs` lists them).", "--env")
    env_kwargs: dict[str, Any] | str | None = _setting(
        None, "Keyword arguments for the environment (a YAML mapping or JSON, e.g. '{\"n_facts\": 6}').")
    task_seed: int = _setting(0, "Seed of the task generator.")
    backend: str = _setting("hf", "Rollout backend: hf | vllm | vllm-server.")
    max_turns: int | None = _setting(None, "Turn cap per episode (default: the environment's).")
    max_new_tokens_per_turn: int = _setting(128, "New tokens the policy may sample in one turn.", "--max-new-tokens")
    max_context_tokens: int = _setting(2048, "Prompt + new tokens of one model call.")
    max_episode_tokens: int = _setting(4096, "Policy tokens summed over one episode.")
    reward_plugins: dict[str, float] | str | None = _setting(
        None, "Reward plugins and weights, e.g. {exact_match: 1.0, format_compliance: 0.1}; default: the environment's "
              "own reward.")


SETTINGS = tuple(f.name for f in dataclasses.fields(EpisodeSettings))
# The one ModelConfig field the commands read (TRL's name; --model is the commands' older spelling).
MODEL_FLAGS = ("--model_name_or_path", "--model")
MODEL_HELP = "HF model id or local path; default: the embedded SmolLM2-135M-Instruct."


def option_strings(name: str) -> list[str]:
    """``--name``, ``--name-with-dashes`` and the aliases: how TRL's parser spells the setting."""
    f = EpisodeSettings.__dataclass_fields__[name]
    return list(dict.fromkeys([f"--{name}", f"--{name.replace('_', '-')}", *f.metadata["aliases"]]))


def add_arguments(parser: argparse.ArgumentParser, names: tuple[str, ...] = SETTINGS, *,
                  repeatable: tuple[str, ...] = ()) -> None:
    """Add ``names`` (fields of :class:`EpisodeSettings`) to an argparse parser, with the field's
    type, default and help; a name in ``repeatable`` collects a list (``memrl eval --env_id A
    --env_id B``; an empty list means the default). Dicts are read as JSON text."""
    hints = typing.get_type_hints(EpisodeSettings)
    for name in names:
        f = EpisodeSettings.__dataclass_fields__[name]
        kwargs: dict[str, Any] = {"dest": name, "help": f.metadata["help"], "type": _scalar(hints[name])}
        if name in repeatable:
            kwargs.update(action="append", default=[], help=f"{f.metadata['help']} Repeatable; default: {f.default}.")
        else:
            kwargs["default"] = f.default
        if kwargs["type"] is str and name.endswith(("_kwargs", "_plugins")):
            kwargs["metavar"] = "JSON"
        parser.add_argument(*option_strings(name), **kwargs)


def add_model_argument(parser: argparse.ArgumentParser) -> None:
    """``--model_name_or_path`` (TRL's ModelConfig name, default None: the embedded model), alias ``--model``."""
    parser.add_argument(*MODEL_FLAGS, dest="model_name_or_path", default=None, help=MODEL_HELP)


def _scalar(hint: Any) -> type:
    """The argparse type of a field: its one non-None type; str where a dict may come as text."""
    args = [a for a in typing.get_args(hint) if a is not type(None)] if isinstance(hint, types.UnionType) else [hint]
    return str if str in args else args[0]
