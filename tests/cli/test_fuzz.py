"""Bad input to every subcommand and recipe: exit code 2, one line on stderr, no traceback, and
no model loaded (the loaders are replaced by a tripwire, so "early" is checked, not timed)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from memrl.cli.main import main
from memrl.train.recipe import run_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(p.name for p in (ROOT / "recipes").glob("*.py"))


class ModelLoaded(BaseException):
    """Raised by the tripwire; a BaseException so no `except Exception` can swallow it."""


@pytest.fixture(autouse=True)
def tripwire(monkeypatch):
    """Every way a model reaches memory raises ModelLoaded (tokenizers may load: they are cheap)."""
    import transformers
    from peft import PeftModel

    import memrl.models
    import memrl.models.loading

    def loaded(*args, **kwargs):
        raise ModelLoaded(args[:1])

    for owner in (memrl.models, memrl.models.loading):
        monkeypatch.setattr(owner, "load_model_and_tokenizer", loaded)
    for cls in (transformers.AutoModelForCausalLM, transformers.AutoModel, PeftModel):
        monkeypatch.setattr(cls, "from_pretrained", loaded)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Hostile files: binary, a folder, an existing file, a broken YAML, a reward module that fails
    on import, a truncated adapter, a half-written checkpoint."""
    d = tmp_path_factory.mktemp("fuzz")
    (d / "binary.jsonl").write_bytes(b"a\x00\xff\xfe\x80 not text")
    (d / "latin1.log").write_bytes("schön\n".encode("latin-1"))
    (d / "folder").mkdir()
    (d / "existing.txt").write_text("{}\n")
    (d / "empty.jsonl").write_text("\n")
    (d / "bad.yaml").write_text("max_steps: [1\n  bad")
    (d / "list.yaml").write_text("- 1\n- 2\n")
    (d / "reward_weights.yaml").write_text("reward_weights: [1.0]\n")
    (d / "boom_reward.py").write_text("raise RuntimeError('boom at import')\n")
    (d / "kwless_reward.py").write_text("def score(completions, answer):\n    return [0.0] * len(completions)\n")
    adapter = d / "run" / "final"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 4}))
    (adapter / "adapter_model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":")  # truncated header
    broken = d / "ckpt" / "checkpoint-6"
    broken.mkdir(parents=True)
    (broken / "trainer_state.json").write_text("{}")
    return d


def expand(argv, files):
    return [a.replace("{d}", str(files)) for a in argv]


def one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    return lines[0]


def run_main(argv) -> int:
    try:
        return main(argv)
    except SystemExit as exit:  # argparse's own errors (a non-number where a number goes)
        return exit.code


# (argv, a fragment of the one line). Every row must fail before a model loads.
CLI = [
    # rollout
    (["rollout", "--split", "bogus"], "unknown split 'bogus'"),
    (["rollout", "--temperature", "-1"], "--temperature (-1.0) must be a finite number >= 0"),
    (["rollout", "--temperature", "nan"], "--temperature (nan)"),
    (["rollout", "--max-new-tokens", "0"], "--max_new_tokens_per_turn (0) must be at least 1"),  # the old spelling still parses
    (["rollout", "--max_turns", "0"], "--max_turns (0) must be at least 1"),
    (["rollout", "--max_episode_tokens", "0"], "--max_episode_tokens (0) must be at least 1"),
    (["rollout", "--tasks", "0"], "--tasks (0) must be at least 1"),
    (["rollout", "--tasks", "abc"], "invalid int value: 'abc'"),
    (["rollout", "--group-size", "0"], "--group-size (0) must be at least 1"),
    (["rollout", "--backend", "bogus"], "--backend 'bogus' is not one of"),
    (["rollout", "--out", "{d}/folder"], "is a folder"),
    (["rollout", "--out", "{d}/existing.txt/x.jsonl"], "is a file, not a folder"),
    (["rollout", "--max_context_tokens", "1"], "--max_context_tokens (1) must exceed --max_new_tokens_per_turn (128)"),
    (["rollout", "--env", "memrl/FactRecal-v0"], "Did you mean 'memrl/FactRecall-v0'"),
    (["rollout", "--env-kwargs", '{"memory": "sqlit"}'], "unknown memory store 'sqlit'. Did you mean 'sqlite'?"),
    (["rollout", "--env-kwargs", '{"n_facts": -3}'], "cannot make a validation task"),
    (["rollout", "--env-kwargs", '{"n_facts": "six"}'], "FactRecall"),
    (["rollout", "--env-kwargs", '{"max_turns": 0}'], "max_turns (0) must be at least 1"),
    (["rollout", "--env-kwargs", "[1]"], "must be a JSON object"),
    (["rollout", "--adapter", "{d}/run/final"], "corrupt or truncated"),
    (["rollout", "--adapter", "{d}/folder"], "holds neither adapter_config.json"),
    (["rollout", "--model", "{d}/nowhere/model"], "does not exist"),
    # inspect
    (["inspect", "{d}/binary.jsonl"], "is not a trajectory JSONL file"),
    (["inspect", "{d}/folder"], "no trajectory file at"),
    (["inspect", "{d}/missing.jsonl"], "no trajectory file at"),
    (["inspect", "{d}/empty.jsonl"], "holds no episodes"),
    (["inspect", "{d}/existing.txt"], "not a memrl trajectory"),
    (["inspect", "{d}/existing.txt", "--html", "{d}/existing.txt/x.html"], "is a file, not a folder"),
    (["inspect", "{d}/existing.txt", "--html", "{d}/folder"], "is a folder"),
    (["inspect", "{d}/existing.txt", "--limit", "0"], "--limit (0) must be at least 1"),
    # eval
    (["eval", "--env-kwargs", '{"facts": -3}'], "has no setting 'facts'"),
    (["eval", "--env-kwargs", '{"memory": "sqlit"}'], "unknown memory store 'sqlit'"),
    (["eval", "--max-turns", "0"], "--max_turns (0) must be at least 1"),
    (["eval", "--max_episode_tokens", "0"], "--max_episode_tokens (0) must be at least 1"),
    (["eval", "--out", "{d}/existing.txt"], "is an existing file; pass a folder"),
    (["eval", "--batch-size", "0"], "--batch-size (0) must be at least 1"),
    (["eval", "--episodes", "0"], "--episodes (0) must be at least 1"),
    (["eval", "--max-context-tokens", "1"], "--max_context_tokens (1) must exceed --max_new_tokens_per_turn (128)"),
    (["eval", "--max_new_tokens_per_turn", "0"], "--max_new_tokens_per_turn (0) must be at least 1"),
    (["eval", "--temperature", "-0.5"], "--temperature (-0.5)"),
    (["eval", "--split", "bogus"], "unknown split 'bogus'"),
    (["eval", "--backend", "bogus"], "--backend 'bogus' is not one of hf, vllm"),
    (["eval", "--backend", "vllm-server"], "--backend 'vllm-server' is not one of hf, vllm"),
    (["eval", "--training-log", "{d}/latin1.log"], "is not a log.jsonl: byte 3 is not UTF-8 text"),
    (["eval", "--training-log", "{d}/folder"], "is a folder"),
    (["eval", "--reward-plugins", '{"boom_reward:score": 1}'], "cannot load reward 'boom_reward:score': RuntimeError: boom at import"),
    (["eval", "--reward-plugins", '{"kwless_reward:score": 1}'], "does not take **kwargs"),
    (["eval", "--reward-plugins", '{"exact_match": "x"}'], "must be a finite number"),
    (["eval", "--policy", "{d}/run/final"], "corrupt or truncated"),
    (["eval", "--tasks-file", "{d}/binary.jsonl"], "cannot read tasks file"),
    (["eval", "--show", "{d}/binary.jsonl"], "unreadable or not JSON"),
    (["eval", "--compare", "{d}/folder", "{d}/existing.txt"], "is a folder"),
    # the rest
    (["bogus"], "invalid choice: 'bogus'"),
    (["envs", "--all"], "unrecognized arguments: --all"),
    (["data", "download", "bogus"], "invalid choice: 'bogus'"),
]


@pytest.mark.parametrize("argv, fragment", CLI, ids=[" ".join(a) for a, _ in CLI])
def test_cli_bad_input_is_one_line_before_any_model(files, capsys, monkeypatch, argv, fragment):
    monkeypatch.syspath_prepend(str(files))  # the reward modules
    assert run_main(expand(argv, files)) == 2
    line = one_line(capsys)
    assert fragment in line, line
    assert line.startswith("memrl"), line


def test_the_tripwire_fires_on_good_input(files, tmp_path):
    """The checks pass on good input, and then the model load is what stops the command: the
    table above fails early, not because the tripwire is broken."""
    with pytest.raises(ModelLoaded):
        main(["rollout", "--tasks", "1", "--group-size", "1", "--out", str(tmp_path / "r.jsonl")])
    with pytest.raises(ModelLoaded):
        main(["eval", "--episodes", "1", "--baselines", "none", "--out", str(tmp_path / "eval")])
    assert not (tmp_path / "r.jsonl").exists() and not (tmp_path / "eval").exists()


def test_an_env_bug_under_default_settings_keeps_its_traceback(monkeypatch):
    """Only settings the user gave are blamed on the user: the same error from the defaults is a bug."""
    from memrl.envs.factrecall import FactRecallEnv

    def broken(self, split="train", n=100, seed=0):
        raise ValueError("generator bug")

    monkeypatch.setattr(FactRecallEnv, "make_tasks", broken)
    with pytest.raises(ValueError, match="generator bug"):
        main(["rollout", "--tasks", "1"])
    assert main(["rollout", "--tasks", "1", "--env-kwargs", '{"n_facts": 3}']) == 2  # with settings: one line


def test_the_context_budget_must_hold_the_first_prompt(tmp_path, capsys):
    from memrl.models import tiny_tokenizer

    model = tmp_path / "tok"
    tiny_tokenizer().save_pretrained(model)  # a tokenizer is all the check needs
    (model / "config.json").write_text("{}")
    argv = ["rollout", "--model", str(model), "--max-new-tokens", "4", "--max-context-tokens", "40", "--out", str(tmp_path / "r.jsonl")]
    assert main(argv) == 2
    assert "--max_context_tokens (40) cannot hold memrl/FactRecall-v0's first prompt (" in one_line(capsys)


# Recipes: (argv, fragment); each runs over every recipe's own defaults.
RECIPE = [
    (["--max_steps", "0"], "max_steps (0) must be at least 1"),
    (["--max_steps", "-5"], "max_steps (-5)"),
    (["--max_steps", "abc"], "invalid int value: 'abc'"),
    (["--learning_rate", "-1"], "learning_rate (-1.0)"),
    (["--config", "{d}/bad.yaml"], "is not valid YAML: expected ',' or ']'"),
    (["--config", "{d}/list.yaml"], "must hold a YAML mapping"),
    (["--config", "{d}/missing.yaml"], "does not exist"),
    (["--config"], "--config needs a YAML file"),
    (["--env_id", "memrl/FactRecal-v0"], "Did you mean 'memrl/FactRecall-v0'"),
    (["--env_kwargs", '{"bogus_setting": 1}'], "has no setting 'bogus_setting'"),
    (["--reward_plugins", '{"exact_macth": 1.0}'], "Did you mean 'exact_match'?"),
    (["--reward_plugins", '{"boom_reward:score": 1}'], "RuntimeError: boom at import"),
    (["--backend", "bogus"], "--backend 'bogus' is not one of"),
    (["--max_turns", "0"], "max_turns (0) must be at least 1"),
    (["--output_dir", "{d}/existing.txt"], "is an existing file"),
    (["--model_name_or_path", "{d}/nowhere/model"], "does not exist"),
    (["--resume_from_checkpoint", "true"], "no complete checkpoint"),
    (["--resume_from_checkpoint", "{d}/ckpt/checkpoint-6"], "is not a complete checkpoint: trainer_state.json has no global_step"),
    (["--num_generations", "1"], "at least 2 generations per prompt"),  # TRL's own rule, one line
    (["--foo", "1"], "not used by the HfArgumentParser: ['--foo', '1']"),
    # TRL settings memrl does not honour: refused by name, whatever their value
    (["--reward_weights", "1", "2"], "--reward_weights is a TRL setting memrl does not honour: weight memrl's reward plugins with --reward_plugins"),
    (["--reward_weights", "abc"], "--reward_weights is a TRL setting memrl does not honour"),
    (["--reward_weigh", "1"], "--reward_weights is a TRL setting memrl does not honour"),  # argparse's abbreviation
    (["--use_vllm", "true"], "--use_vllm is a TRL setting memrl does not honour: memrl's rollouts pick vLLM with --backend vllm"),
    (["--dtype", "bfloat16"], "--dtype is a TRL setting memrl does not honour: memrl loads the policy in bf16 with --bf16 true"),
    (["--config", "{d}/reward_weights.yaml"], "--reward_weights is a TRL setting memrl does not honour"),
    (["--use_lora", "maybe"], "argument --use_lora: Truthy value expected"),
]
FAST_RECIPE = {"train.py": RECIPE}  # every row on the generic recipe, a few rows on each method's defaults
for name in RECIPES:
    FAST_RECIPE.setdefault(name, [RECIPE[0], RECIPE[8], RECIPE[9], RECIPE[10], RECIPE[16]])
RECIPE_CASES = [(name, argv, fragment) for name, rows in FAST_RECIPE.items() for argv, fragment in rows]


@pytest.fixture(scope="module")
def recipe_defaults():
    return {name: runpy.run_path(str(ROOT / "recipes" / name))["CPU_DEFAULTS"] for name in RECIPES}


@pytest.mark.parametrize("name, argv, fragment", RECIPE_CASES, ids=[f"{n} {' '.join(a)}" for n, a, _ in RECIPE_CASES])
def test_recipe_bad_input_is_one_line_before_any_model(files, recipe_defaults, capsys, monkeypatch, tmp_path, name, argv, fragment):
    monkeypatch.syspath_prepend(str(files))
    argv = expand(argv, files)
    if "--output_dir" not in argv:
        argv = ["--output_dir", str(tmp_path / "run"), *argv]
    assert run_recipe(f"recipes/{name}", recipe_defaults[name], argv) == 2
    line = one_line(capsys)
    assert line.startswith(f"recipes/{name}: error: ") and fragment in line, line
