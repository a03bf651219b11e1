"""Import arrows point down: no cycle between memrl's subpackages, no lower layer importing a
higher one. Every import counts, also the ones inside functions (a lazy import is still an
arrow: it only moves the failure to run time)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folder -> the package name it is imported as (envs/ and rewards/ install as memrl.envs / memrl.rewards).
SOURCES = {"memrl": "memrl", "envs": "memrl.envs", "rewards": "memrl.rewards"}

# Top to bottom. A unit may import its own layer (no cycles, checked below) and any layer below.
LAYERS = [
    ["cli"],  # the commands
    ["train", "eval", "integrations"],  # trainers, evaluation, TRL glue
    ["checks"],  # preflight of user input (builds envs, reward sets)
    ["envs", "rewards"],  # built-in environments and reward plugins
    ["data"],  # task generators and loaders
    ["scoring"],  # the reward API and answer metrics
    ["env", "rollout"],  # the env contract, the rollout engine
    ["actions", "memory", "models"],  # parsing model text, stores, model loading
    ["errors", "parsing", "settings"],  # leaves (settings: the episode knobs recipes, rollout and eval share)
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str | None:
    """``memrl.env.base`` -> ``env``; ``memrl`` itself (the lazy top-level API) is no unit."""
    parts = module.split(".")
    return parts[1] if parts[0] == "memrl" and len(parts) > 1 else None


def module_name(path: Path) -> str:
    folder = path.relative_to(ROOT).parts[0]
    rel = path.relative_to(ROOT / folder).with_suffix("")
    parts = [SOURCES[folder], *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str) -> set[str]:
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return {name for name in found if name == "memrl" or name.startswith("memrl.")}


def graph() -> dict[str, dict[str, list[str]]]:
    """unit -> {imported unit: [files that import it]}."""
    edges: dict[str, dict[str, list[str]]] = {}
    for folder in SOURCES:
        for path in sorted((ROOT / folder).rglob("*.py")):
            module = module_name(path)
            src = unit_of(module)
            if src is None:
                continue
            for name in imports(path, module):
                dst = unit_of(name)
                if dst is not None and dst != src:
                    edges.setdefault(src, {}).setdefault(dst, []).append(str(path.relative_to(ROOT)))
    return edges


def test_every_unit_has_a_layer():
    units = set(graph()) | {d for targets in graph().values() for d in targets}
    assert not units - set(RANK), f"add {sorted(units - set(RANK))} to LAYERS in tests/test_layering.py"


def test_no_lower_layer_imports_a_higher_one():
    upward = [f"{src} -> {dst} ({', '.join(files)})" for src, targets in graph().items() for dst, files in targets.items()
              if RANK.get(dst, len(LAYERS)) < RANK.get(src, len(LAYERS))]
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_no_import_cycles_between_units():
    edges = {src: set(targets) for src, targets in graph().items()}
    cycles = []
    for start in edges:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join(path + [start]))
                elif nxt not in path and nxt > start:  # each cycle once, from its smallest unit
                    stack.append((nxt, path + [nxt]))
    assert not cycles, "import cycles:\n" + "\n".join(sorted(set(cycles)))


def test_the_checker_sees_a_cycle_and_an_upward_import(tmp_path, monkeypatch):
    """The test above can fail: a fake tree with env -> cli and cli -> env is caught twice."""
    fake = tmp_path / "memrl"
    (fake / "env").mkdir(parents=True)
    (fake / "cli").mkdir()
    (fake / "env" / "__init__.py").write_text("def f():\n    from memrl.cli import main\n")
    (fake / "cli" / "__init__.py").write_text("from memrl.env import f\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "ROOT", tmp_path)
    monkeypatch.setattr(__import__(__name__, fromlist=["x"]), "SOURCES", {"memrl": "memrl"})
    assert graph() == {"env": {"cli": ["memrl/env/__init__.py"]}, "cli": {"env": ["memrl/cli/__init__.py"]}}
    try:
        test_no_lower_layer_imports_a_higher_one()
    except AssertionError as e:
        assert "env -> cli (memrl/env/__init__.py)" in str(e)
    else:
        raise AssertionError("the upward import was not reported")
    try:
        test_no_import_cycles_between_units()
    except AssertionError as e:
        assert "cli -> env -> cli" in str(e)
    else:
        raise AssertionError("the cycle was not reported")
