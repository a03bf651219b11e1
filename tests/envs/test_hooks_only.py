"""Built-in envs fill the base class's public hooks: none defines ``step`` or ``reset``, overrides a
private method of :class:`MemoryEnv` or touches one of its private attributes (issue #21), and
each is an :class:`memrl.env.contract.Env`, the type the rollout engine, trainers and eval use."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import memrl.integrations.lookup  # noqa: F401  (registers memrl/FactLookup-v0)
from memrl.env import Env, MemoryEnv, ScriptedExpert
from memrl.env.registry import list_envs, make

ROOT = Path(__file__).resolve().parents[2]
# Every env built on the base in the repository: the built-ins, FactLookup and the training toy.
SOURCES = sorted((ROOT / "envs").rglob("*.py")) + [ROOT / "memrl/integrations/lookup.py", ROOT / "tests/train/toy.py"]
BASE = ROOT / "memrl/env/base.py"


def base_private_names() -> set[str]:
    """The base class's private methods and the private attributes it sets on ``self``."""
    names = {n for n in vars(MemoryEnv) if n.startswith("_") and not n.startswith("__")}
    for node in ast.walk(ast.parse(BASE.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
            if node.attr.startswith("_") and not node.attr.startswith("__"):
                names.add(node.attr)
    return names


def escapes(path: Path) -> list[str]:
    private = base_private_names()
    found = []
    for cls in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef)):
        for node in ast.walk(cls):
            if isinstance(node, ast.FunctionDef) and (node.name in ("step", "reset") or node.name in private):
                found.append(f"{cls.name} defines {node.name}")
            elif isinstance(node, ast.Attribute) and node.attr in private:
                found.append(f"{cls.name} touches {node.attr} (line {node.lineno})")
    return found


def test_the_base_class_private_names_are_found():
    # The scan below is only as good as this list: it must see the names envs used to reach for.
    assert {"_seen", "_info", "_extends", "_new_stage", "_settle_outcome"} <= base_private_names()


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_env_overrides_step_or_reaches_into_the_base(path):
    assert escapes(path) == []


def test_the_scan_catches_an_env_that_escapes(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("class Bad(MemoryEnv):\n"
                   "    def step(self, text):\n        return self._info('append', None)\n"
                   "    def _extends(self, messages, text):\n        return False\n")
    assert sorted(escapes(bad)) == ["Bad defines _extends", "Bad defines step", "Bad touches _info (line 3)"]


def mode_branches(path: Path) -> list[str]:
    """Where an env reads ``memory_mode`` in code (its docstring may name it): a baseline is one
    mechanism (memrl.env.modes), so an env asks ``self.mode``'s capabilities or fills a hook."""
    return [f"{cls.name} reads memory_mode (line {node.lineno})"
            for cls in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.ClassDef))
            for node in ast.walk(cls) if isinstance(node, ast.Attribute) and node.attr == "memory_mode"
            and not isinstance(getattr(node, "ctx", None), ast.Store)]


@pytest.mark.parametrize("path", SOURCES, ids=[str(p.relative_to(ROOT)) for p in SOURCES])
def test_no_env_branches_on_the_memory_mode_name(path):
    assert mode_branches(path) == []


def test_the_mode_scan_catches_a_branch(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("class Bad(MemoryEnv):\n    def begin(self, task):\n        if self.memory_mode == 'agent':\n            pass\n")
    assert mode_branches(bad) == ["Bad reads memory_mode (line 3)"]


@pytest.mark.parametrize("env_id", [s.id for s in list_envs()])
def test_every_registered_env_is_an_env_of_the_contract(env_id):
    env = make(env_id)
    try:
        assert isinstance(env, Env)  # before the first reset too
        env.reset(seed=0)
        assert isinstance(env, Env)
        # FactRecall alone has no scripted expert (tests script it); every other built-in has one.
        assert isinstance(env, ScriptedExpert) == (env_id != "memrl/FactRecall-v0")
    finally:
        env.close()
