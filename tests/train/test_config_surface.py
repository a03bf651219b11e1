"""The recipes' config surface: ``(MemRLConfig, ModelConfig)`` from TRL's parser, memrl's LoRA
defaults, the ``--use_lora`` alias, and TRL settings memrl does not honour refused in one line
and hidden from ``--help``."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from trl import ModelConfig

from memrl.errors import UserError
from memrl.settings import EpisodeSettings
from memrl.train.config import NOT_HONOURED, MemRLConfig, model_config
from memrl.train.run import parse_config

ROOT = Path(__file__).resolve().parents[2]


def parse(tmp_path, *flags, defaults=None):
    return parse_config(["--output_dir", str(tmp_path), "--report_to", "none", *flags], defaults=defaults)


def names(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def test_no_model_field_is_mirrored_and_no_field_is_dead():
    assert not names(MemRLConfig) & names(ModelConfig)  # the model and LoRA are TRL's ModelConfig's
    assert names(EpisodeSettings) <= names(MemRLConfig)
    assert "rollout_temperature" not in names(MemRLConfig)  # was read nowhere: TRL's temperature samples
    assert set(NOT_HONOURED) <= names(MemRLConfig) | names(ModelConfig)  # every refusal names a real TRL setting


def test_memrl_lora_defaults_and_overrides(tmp_path):
    config, model = parse(tmp_path)
    assert isinstance(config, MemRLConfig) and isinstance(model, ModelConfig)
    assert (model.use_peft, model.lora_r, model.lora_alpha, model.lora_dropout, model.lora_target_modules) == (True, 16, 32, 0.0, "all-linear")
    assert model_config() == model
    _, model = parse(tmp_path, "--lora_r", "8", "--lora_target_modules", "q_proj", "v_proj", "--model_name_or_path", "org/m")
    assert (model.lora_r, model.lora_target_modules, model.model_name_or_path) == (8, ["q_proj", "v_proj"], "org/m")
    # A recipe's defaults may set either dataclass; a misspelt key is the recipe's bug, said at once.
    config, model = parse(tmp_path, defaults={"lora_r": 4, "max_steps": 3})
    assert (model.lora_r, config.max_steps) == (4, 3)
    with pytest.raises(ValueError, match="lora_rank"):
        parse(tmp_path, defaults={"lora_rank": 4})


@pytest.mark.parametrize("flags, use_peft", [
    ([], True),
    (["--use_peft", "false"], False),  # TRL's name
    (["--use_lora", "false"], False),  # memrl's earlier name, which the README showed: still works
    (["--use_lora"], True),
])
def test_use_lora_is_an_alias_of_use_peft(tmp_path, flags, use_peft):
    assert parse(tmp_path, *flags)[1].use_peft is use_peft


def test_use_lora_in_yaml(tmp_path):
    (tmp_path / "c.yaml").write_text("use_lora: false\nlora_r: 4\n")
    _, model = parse(tmp_path, "--config", str(tmp_path / "c.yaml"))
    assert (model.use_peft, model.lora_r) == (False, 4)


def test_the_episode_settings_keep_their_kebab_spellings(tmp_path):
    config, _ = parse(tmp_path, "--env", "memrl/AgeMem-v0", "--max-new-tokens", "64", "--max-context-tokens", "512",
                      "--env-kwargs", '{"facts": 3}', "--task-seed", "2")
    assert (config.env_id, config.max_new_tokens_per_turn, config.max_context_tokens, config.env_kwargs, config.task_seed) == (
        "memrl/AgeMem-v0", 64, 512, {"facts": 3}, 2)


@pytest.mark.parametrize("flags", [
    ["--reward_weights", "1.0"],
    ["--reward_weights=1.0"],
    ["--vllm_mode", "colocate"],
    ["--max_completion_length", "64"],
    ["--repetition_penalty", "1.1"],
    ["--load_in_4bit", "true"],
    ["--dtype", "float32"],  # refused by name, even at TRL's default: memrl does not read it
])
def test_trl_settings_memrl_does_not_honour_are_refused_by_name(tmp_path, flags):
    name = flags[0].split("=")[0]
    with pytest.raises(UserError, match=f"^{name} is a TRL setting memrl does not honour: "):
        parse(tmp_path, *flags)


def test_help_hides_what_memrl_does_not_honour(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit:
        parse(tmp_path, "--help")
    assert exit.value.code == 0
    out = capsys.readouterr().out
    for shown in ("--use_peft", "--use_lora", "--lora_r", "--model_name_or_path", "--max_new_tokens_per_turn", "--max-new-tokens", "--temperature"):
        assert shown in out, shown
    for hidden in ("--reward_weights", "--use_vllm", "--vllm_mode", "--max_completion_length", "--load_in_4bit", "--dtype"):
        assert f"{hidden} " not in out and f"{hidden}\n" not in out, hidden


def test_a_recipe_refuses_reward_weights_with_one_line_and_exit_2(tmp_path):
    """The whole process, as a user runs it: exit code 2 and one line, before any model loads."""
    p = subprocess.run([sys.executable, "recipes/train.py", "--output_dir", str(tmp_path / "run"), "--reward_weights", "1", "2"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert p.returncode == 2, p.stderr
    assert lines == ["recipes/train.py: error: --reward_weights is a TRL setting memrl does not honour: weight memrl's "
                     "reward plugins with --reward_plugins '{\"name\": weight}'"], p.stderr


def test_a_checkpoint_records_the_model_config_beside_the_training_config(tmp_path):
    """memrl_config.json keeps its flat training keys (resume reads 'algorithm') and adds TRL's
    ModelConfig under 'model_config': the base model and the LoRA settings that trained it."""
    import json
    from types import SimpleNamespace

    from memrl.train.grpo import MemoryGRPOTrainer

    trainer = SimpleNamespace(args=SimpleNamespace(to_dict=lambda: {"algorithm": "grpo"}),
                              model_args=model_config(model_name_or_path="org/base", lora_r=4))
    MemoryGRPOTrainer._save_extras(trainer, str(tmp_path))
    saved = json.loads((tmp_path / "memrl_config.json").read_text())
    assert saved["algorithm"] == "grpo"
    assert (saved["model_config"]["model_name_or_path"], saved["model_config"]["lora_r"]) == ("org/base", 4)
