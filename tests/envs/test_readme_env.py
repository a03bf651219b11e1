"""The README's env (## Writing an env) is the code of tests/envs/readme_env.py, at most 60 lines,
passes the contract checker and trains under recipes/train.py as the README says."""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from memrl.env.checker import check_docstring, check_env
from memrl.env.registry import make

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / "tests/envs/readme_env.py"


def readme_block() -> str:
    section = (ROOT / "README.md").read_text().split("## Writing an env\n", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def rooms_env():
    importlib.import_module("tests.envs.readme_env")  # registers mine/Rooms-v0 (here, not at collection)
    return make("mine/Rooms-v0")


def test_the_readme_block_is_the_file_and_at_most_60_lines():
    assert readme_block() == ENV_FILE.read_text()
    assert len(ENV_FILE.read_text().splitlines()) <= 60


def test_the_readme_env_passes_the_checker_and_the_docstring_template():
    env = rooms_env()
    check_env(env)
    check_docstring(type(env))


def test_the_readme_env_scores_a_remembered_answer_and_clears_the_context():
    env = rooms_env()
    task = env.make_tasks("test", 1, seed=0)[0]
    _, info = env.reset(seed=0, options={"task": task})
    facts = [f"{guest} stays in room {room}." for guest, room in task["rooms"].items()]
    calls = "".join(f'<tool_call>{{"name": "note", "arguments": {{"fact": "{f}"}}}}</tool_call>' for f in facts)
    messages, reward, terminated, _, info = env.step(calls)
    assert (reward, terminated, info["context"]) == (0.0, False, "rewrite")  # the question: a new segment
    assert task["asked"] in messages[-1]["content"] and not any("stays in room" in m["content"] for m in messages)
    messages, reward, terminated, _, info = env.step(f'<tool_call>{{"name": "lookup", "arguments": {{"query": "{task["asked"]}"}}}}</tool_call>')
    assert info["context"] == "append" and task["rooms"][task["asked"]] in messages[-1]["content"]
    _, reward, terminated, _, _ = env.step(f"<answer>{task['rooms'][task['asked']]}</answer>")
    assert (reward, terminated, env.outcome["success"]) == (1.0, True, True)


@pytest.mark.slow
def test_the_readme_env_trains_one_grpo_step_under_recipes_train(tmp_path):
    """The README's command: ``accelerate launch recipes/train.py --env_id my_env:mine/Rooms-v0``."""
    from memrl.models import tiny_model_path

    from tests.recipes.smoke import TINY_FLAGS

    flags = [*TINY_FLAGS, "--max_steps", "1", "--save_steps", "1"]  # later flags win
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", "recipes/accelerate/cpu.yaml",
           "recipes/train.py", "--env_id", "readme_env:mine/Rooms-v0", "--model_name_or_path", str(tiny_model_path(tmp_path)),
           "--output_dir", str(tmp_path / "run"), *flags]
    # The README's PYTHONPATH=. beside my_env.py; ROOT first, so the recipe imports this tree's memrl.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests/envs")])}
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, (p.stdout + p.stderr)[-4000:]
    assert (tmp_path / "run/final/adapter_model.safetensors").exists()
    assert "readme_env:mine/Rooms-v0" in p.stdout.split("evaluate it", 1)[1]  # the eval command it prints names the same id
