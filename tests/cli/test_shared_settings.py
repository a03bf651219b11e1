"""One config surface: the recipes, ``memrl rollout`` and ``memrl eval`` spell every shared episode
setting the same way, with the same default, and the line a recipe prints passes its settings to
``memrl eval`` unchanged. Flags the README and the recipe docstrings show still parse."""

from __future__ import annotations

import argparse
import json
import re
import shlex
from pathlib import Path

import pytest

from memrl.cli import rollout
from memrl.cli.main import build_parser
from memrl.eval import cli as eval_cli
from memrl.settings import SETTINGS, EpisodeSettings
from memrl.train.recipe import eval_command
from memrl.train.run import config_parser, parse_config

ROOT = Path(__file__).resolve().parents[2]


def actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {a.dest: a for a in parser._actions}


def subcommand(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


@pytest.mark.parametrize("command, shared", [("rollout", rollout.SHARED), ("eval", eval_cli.SHARED)])
def test_commands_share_the_recipes_names_and_defaults(command, shared):
    recipe, cli = actions(config_parser()), actions(subcommand(command))
    for name in shared:
        assert set(cli[name].option_strings) == set(recipe[name].option_strings), name
        default = cli[name].default
        if isinstance(cli[name], argparse._AppendAction):
            assert default == [] and EpisodeSettings.env_id == recipe[name].default  # none given = the default
        else:
            assert default == recipe[name].default == getattr(EpisodeSettings(), name), name
    # The model: TRL's ModelConfig name and default (None = the embedded model) everywhere.
    assert "--model_name_or_path" in cli["model_name_or_path"].option_strings
    assert cli["model_name_or_path"].default is recipe["model_name_or_path"].default is None


def test_eval_takes_every_shared_setting_and_rollout_all_but_the_reward():
    assert set(eval_cli.SHARED) == set(SETTINGS)
    assert set(rollout.SHARED) == set(SETTINGS) - {"reward_plugins"}  # a rollout keeps the env's reward


def test_rollout_samples_as_training_does_and_eval_is_greedy():
    from trl import GRPOConfig

    assert actions(subcommand("rollout"))["temperature"].default == GRPOConfig.temperature
    assert actions(subcommand("eval"))["temperature"].default == 0.0


def test_the_printed_eval_line_passes_every_setting_unchanged(tmp_path):
    flags = ["--output_dir", str(tmp_path / "run"), "--report_to", "none", "--env_id", "memrl/AgeMem-v0",
             "--env_kwargs", '{"tool_prompt": "compact"}', "--task_seed", "3", "--max_turns", "9",
             "--max_new_tokens_per_turn", "192", "--max_context_tokens", "1024", "--max_episode_tokens", "1000",
             "--reward_plugins", '{"agemem_task": 0.5}', "--model_name_or_path", "Qwen/Qwen2.5-0.5B-Instruct"]
    config, model_args = parse_config(flags)
    line = eval_command(config, "runs/x/final", 50, model_args.model_name_or_path)
    args = build_parser().parse_args(shlex.split(line)[1:])
    for name in SETTINGS:
        got = args.__dict__[name]
        got = got[0] if name == "env_id" else json.loads(got) if name in ("env_kwargs", "reward_plugins") else got
        assert got == getattr(config, name), name
    assert args.model_name_or_path == "Qwen/Qwen2.5-0.5B-Instruct" and args.policy == ["trained=runs/x/final"]
    for name in SETTINGS:  # the recipe's own flag names, nothing translated
        assert f"--{name} " in line or getattr(config, name) in (None, {}), name


def test_the_eval_line_leaves_out_what_eval_takes_from_the_env(tmp_path):
    config, _ = parse_config(["--output_dir", str(tmp_path), "--report_to", "none", "--backend", "vllm-server"])
    line = eval_command(config, "runs/x/final", 10)
    assert "--max_turns" not in line and "--env_kwargs" not in line and "--reward_plugins" not in line
    assert "--backend" not in line  # eval loads the adapter itself: hf by default
    assert "--model_name_or_path" not in line  # the embedded model


def documented_flags(text: str, start: str) -> set[str]:
    """The --flags of every command line in ``text`` that begins with ``start`` (with its
    backslash-continued lines)."""
    flags, command = set(), ""
    for line in text.splitlines():
        line = line.strip()
        if command or line.startswith(start):
            command += " " + line.rstrip("\\")
            if not line.endswith("\\"):
                flags |= set(re.findall(r"(?<![\w-])(--[a-z][\w-]*)", command.split("#")[0]))
                command = ""
    return flags


def docstrings() -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((ROOT / "recipes").glob("*.py"))}


@pytest.mark.parametrize("name", sorted(docstrings()))
def test_the_flags_recipe_docstrings_show_still_parse(name):
    flags = documented_flags(docstrings()[name], "accelerate launch") - {"--config_file"}  # accelerate's own
    assert flags  # the docstring shows its command
    known = {s for a in config_parser()._actions for s in a.option_strings} | {"--config"}
    assert flags <= known, sorted(flags - known)


@pytest.mark.parametrize("command", ["rollout", "eval"])
def test_the_flags_the_readme_shows_still_parse(command):
    flags = documented_flags((ROOT / "README.md").read_text(), f"memrl {command}")
    assert flags
    known = {s for a in subcommand(command)._actions for s in a.option_strings}
    assert flags <= known, sorted(flags - known)
