"""Reward hacking: in every env the cheapest degenerate policies score below the scripted expert.

No model: each policy is a fixed function of what the env shows (env.reset / env.step driven
directly, as memrl.train.warmstart.expert_demonstrations drives the expert), played on the same
20 seeded test tasks per env. The reward is the one RL trains on: the env's own, or the
recipe's reward plugins where it sets them (AgeMem's agemem_* RewardSet).

Mean training reward over the 20 test tasks (`python tests/envs/test_reward_hacking.py` prints
the "after" column). One reward changed: AgeMem's answer before the question (envs/agemem.py,
_score) now forfeits R_context and takes both penalties, so quitting no longer pays more than
playing on idle; the expert's reward is unchanged. Every other env: before = after.

    env                 policy                         before   after
    AgeMem-v0           expert                         +0.860   +0.860
                        quit_empty                     +0.210   -1.500   <- quitting paid
                        dump_everything (stage 1)      +0.210   -1.500   <- quitting paid
                        add_then_quit                  +0.250   -1.500   <- quitting paid
                        never_answer                   -1.433   -1.433
                        add_then_idle                  -1.431   -1.431
                        add_everything                 -0.283   -0.283
                        delete_everything              +0.282   +0.282
                        tool_forever:Add_memory        -1.406   -1.406
                        tool_forever:Update_memory     -1.433   -1.433
                        tool_forever:Delete_memory     -1.433   -1.433
                        tool_forever:Retrieve_memory   -1.433   -1.433
                        tool_forever:Summary_context   -0.718   -0.718
                        tool_forever:Filter_context    -1.419   -1.419
    FactRecall-v0       expert                         +1.000   (all 0 otherwise: quit_empty, never_answer,
                                                                 dump_everything, add_everything, add_then_quit,
                                                                 add_then_idle, tool_forever:Add_memory/Retrieve_memory)
    MEM1-v0 (N=2)       expert                         +2.000   (all 0 otherwise: quit_empty, never_answer,
                                                                 dump_everything, tool_forever:search)
    MemAct-v0 (N=2)     expert                         +2.000   (all 0 otherwise: quit_empty, never_answer,
                                                                 dump_everything, delete_everything,
                                                                 tool_forever:search/prune_context)
    MemAgent-v0         expert                         +1.000   (all 0 otherwise: quit_empty, never_answer,
                                                                 dump_everything)
    MemoryR1-Manager-v0 expert                         +0.950
                        add_everything                 +0.844   <- the closest: 0.106 below the expert
                        tool_forever:ADD               +0.334
                        quit_empty, never_answer, delete_everything,
                        tool_forever:UPDATE/DELETE/NOOP +0.314  (an empty bank: "not mentioned" is right
                                                                 on the adversarial questions)
    MemoryR1-Answer-v0  expert                         +1.000
                        not_mentioned                  +0.250   (right on the adversarial questions)
                        dump_everything                +0.069
                        quit_empty, never_answer       +0.000
"""

from __future__ import annotations

import ast
import functools
import statistics
from pathlib import Path
from typing import Any, Callable

import pytest

from memrl.actions import ToolCall, render_tool_call
from memrl.env.registry import list_envs, make
from memrl.env.tools import collect_tools
from memrl.scoring import RewardSet
from memrl.scoring.answerers import NOT_MENTIONED

ROOT = Path(__file__).resolve().parents[2]
N_TASKS = 20
# The gap to the expert, as a share of the expert's reward scale (MEM1/MemAct sum N objectives):
# a degenerate policy must not come within reach of the expert, not merely lose to it.
MARGIN = 0.1


RECIPE_KEYS = ("env_id", "env_kwargs", "reward_plugins")


def recipe_defaults(name: str) -> dict[str, Any]:
    """env_id, env_kwargs and reward_plugins of ``recipes/<name>.py``'s CPU_DEFAULTS, read from its
    source: importing a recipe imports torch and TRL (seconds); these values are literals and
    arithmetic (``1 / 3``)."""
    tree = ast.parse((ROOT / "recipes" / f"{name}.py").read_text())
    call = next(n.value for n in tree.body if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "CPU_DEFAULTS")
    return {kw.arg: eval(compile(ast.Expression(kw.value), name, "eval"), {"__builtins__": {}})  # noqa: S307
            for kw in call.keywords if kw.arg in RECIPE_KEYS}


# env id: (the recipe whose CPU settings and reward plugins RL trains with, or None; settings).
ENVS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "memrl/FactRecall-v0": (None, {}),  # recipes/train.py's default env, its own reward
    "memrl/AgeMem-v0": ("agemem", {}),  # the agemem_* plugins, weights from the recipe
    "memrl/MEM1-v0": ("mem1", {}),
    "memrl/MemAct-v0": ("memact", {}),  # hides the prune tool in half the episodes
    "memrl/MemAgent-v0": ("memagent", {}),
    "memrl/MemoryR1-Manager-v0": ("memory_r1", {}),
    "memrl/MemoryR1-Answer-v0": (None, {}),  # trained by the memory_r1 recipe with --env_id, its own reward
}


@functools.lru_cache(maxsize=None)
def env_settings(env_id: str) -> tuple[dict[str, Any], dict[str, float] | None]:
    recipe, extra = ENVS[env_id]
    defaults = recipe_defaults(recipe) if recipe else {}
    if recipe:
        assert defaults["env_id"] == env_id, f"recipes/{recipe}.py trains {defaults['env_id']}, not {env_id}"
    return {**defaults.get("env_kwargs", {}), **extra}, defaults.get("reward_plugins")


# -- what a policy can write -----------------------------------------------------------------------
def answer(env, text: str) -> str:
    """``text`` as the env's final answer (``<answer>``, ``\\boxed{}`` or ``FINAL_ANSWER:``)."""
    return {"tag": f"<answer>{text}</answer>", "boxed": f"\\boxed{{{text}}}", "final_answer": f"FINAL_ANSWER: {text}"}[env.protocol.answer]


def call(env, name: str, **arguments: Any) -> str:
    if name == "search" and env.protocol.search_tag:  # MEM1's <search> tag
        return f"<{env.protocol.search_tag}>{arguments['query']}</{env.protocol.search_tag}>"
    return render_tool_call(ToolCall(name, arguments))


def shown(env) -> list[str]:
    """The lines of every user/tool message in context (the env's text, not the system prompt)."""
    return [line for m in env.context.messages if m.role not in ("system", "assistant") for line in m.content.splitlines()]


def question_shown(env) -> bool:
    return any("Question:" in line for line in shown(env))


def add_tool(env) -> str:
    return next(name for name in ("ADD", "Add_memory") if name in env.tool_specs)


def store_shown(env) -> str:
    """ADD every line the env shows (the manager: every new fact), one call each."""
    if hasattr(env, "steps"):  # Memory-R1's manager: this turn's extracted facts
        facts = env.steps[env.position][1]["facts"]
    else:
        facts = [line.strip("- ").strip() for line in shown(env) if line.strip() and not line.rstrip().endswith(":")]
    return "".join(call(env, add_tool(env), content=f) for f in facts)


def generic_arguments(env, name: str) -> dict[str, Any]:
    """Valid arguments for any tool, from its schema: ids "m1", spans "all", strings the latest
    message shown (a query or a memory that echoes the env: AgeMem's first Add_memory stores every
    fact at once), integers their maximum, id lists every unpinned message."""
    spec = collect_tools(env)[name][0]  # MemAct may hide its prune tool: the policy calls it anyway
    last = [m.content for m in env.context.messages if m.role not in ("system", "assistant")]
    text = last[-1][:1000] if last and last[-1].strip() else "note"
    out: dict[str, Any] = {}
    for arg, schema in (spec.parameters.get("properties") or {}).items():
        kind = schema.get("type")
        if kind == "string":
            out[arg] = "m1" if arg.endswith("id") else "all" if arg == "span" else text
        elif kind == "integer":
            out[arg] = schema.get("maximum", 3)
        elif kind == "array":
            out[arg] = [m.id for m in env.context.messages if not m.pinned]
    return out


# -- the policies ------------------------------------------------------------------------------------
def expert(env) -> str:
    if hasattr(env, "expert_reply"):
        return env.expert_reply()
    # FactRecall has no expert_reply: store every fact, then answer from memory.
    return store_shown(env) if env.stage == 1 else answer(env, env.task["answer"])


def quit_empty(env) -> str:
    return answer(env, "")


def never_answer(env) -> str:
    return "I am not sure yet."


def dump_everything(env) -> str:
    return answer(env, " ".join(shown(env)))


def add_everything(env) -> str:
    if question_shown(env):
        return answer(env, "")
    return store_shown(env) or "I am not sure yet."


def add_then_quit(env) -> str:
    return quit_empty(env) if len(env.memory) else store_shown(env)


def add_then_idle(env) -> str:
    return never_answer(env) if len(env.memory) else store_shown(env)


def delete_everything(env) -> str:
    if "DELETE" in env.tool_specs:  # the manager: delete every memory it is shown
        return "".join(call(env, "DELETE", memory_id=i) for i in env.shown) or call(env, "NOOP")
    if "prune_context" in env.tool_specs:  # MemAct: search, then prune everything, again and again
        ids = [m.id for m in env.context.messages if not m.pinned]
        return call(env, "prune_context", memory="-", delete_ids=ids) if ids else call(env, "search", query=env.task["questions"][0])
    if question_shown(env):  # AgeMem: wipe memory and context, then answer empty
        return answer(env, "")
    wipe = [call(env, "Delete_memory", memory_id=e.id) for e in env.memory.entries()]
    return "".join(wipe + [call(env, "Summary_context", span="all", summary="-")])


def not_mentioned(env) -> str:
    return answer(env, NOT_MENTIONED)


def tool_forever(name: str) -> Callable[[Any], str]:
    return lambda env: call(env, name, **generic_arguments(env, name))


POLICIES: dict[str, Callable[[Any], str]] = {
    "expert": expert, "quit_empty": quit_empty, "never_answer": never_answer, "dump_everything": dump_everything,
    "add_everything": add_everything, "add_then_quit": add_then_quit, "add_then_idle": add_then_idle,
    "delete_everything": delete_everything, "not_mentioned": not_mentioned,
}


def policy(name: str) -> Callable[[Any], str]:
    return tool_forever(name.split(":", 1)[1]) if name.startswith("tool_forever:") else POLICIES[name]


# -- playing -----------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=None)
def mean_reward(env_id: str, name: str) -> float:
    """The policy's mean training reward over N_TASKS seeded test tasks."""
    settings, plugins = env_settings(env_id)
    env = make(env_id, **settings)
    rewards = RewardSet(plugins) if plugins else None
    act, values = policy(name), []
    for seed, task in enumerate(env.make_tasks("test", N_TASKS, 0)):
        env.reset(seed=seed, options={"task": task})
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, info = env.step(act(env))
            total, done = total + reward, terminated or truncated
        if rewards is not None:  # what GRPOTrainer._score computes: the plugins over task fields + outcome
            fields = {k: [v] for k, v in task.items()}
            total = rewards([""], **fields, outcome=[info["outcome"]], env_reward=[total]).total[0]
        values.append(total)
    env.close()
    return statistics.mean(values)


def tools_of(env_id: str) -> list[str]:
    settings, _ = env_settings(env_id)
    return list(make(env_id, **settings).tool_specs)


# (env, degenerate policy): one row each; every tool of every env's schema is also called forever
# (rows generated below), with arguments that are valid for its schema.
CASES = [
    ("memrl/FactRecall-v0", "quit_empty"),  # answer empty at once
    ("memrl/FactRecall-v0", "never_answer"),  # run out of turns
    ("memrl/FactRecall-v0", "dump_everything"),  # answer with everything shown
    ("memrl/FactRecall-v0", "add_everything"),  # store every line, answer empty at the question
    ("memrl/FactRecall-v0", "add_then_quit"),  # store the facts, then quit before the question
    ("memrl/AgeMem-v0", "quit_empty"),  # answer empty in stage 1 (was +0.21: context credit for quitting)
    ("memrl/AgeMem-v0", "never_answer"),  # no tools, no answer: both penalties
    ("memrl/AgeMem-v0", "dump_everything"),  # answer with the facts in stage 1
    ("memrl/AgeMem-v0", "add_everything"),  # store facts and notes, answer empty at the question
    ("memrl/AgeMem-v0", "add_then_quit"),  # store the facts, quit in stage 2 (memory credit, no task)
    ("memrl/AgeMem-v0", "add_then_idle"),  # store the facts, then never answer
    ("memrl/AgeMem-v0", "delete_everything"),  # wipe memory and context, answer empty at the question
    ("memrl/MEM1-v0", "quit_empty"),  # empty answer at once (no internal state either)
    ("memrl/MEM1-v0", "never_answer"),  # no state, no search, no answer
    ("memrl/MEM1-v0", "dump_everything"),  # answer with the questions
    ("memrl/MemAct-v0", "quit_empty"),  # FINAL_ANSWER: nothing
    ("memrl/MemAct-v0", "never_answer"),  # run out of turns
    ("memrl/MemAct-v0", "dump_everything"),  # answer with everything shown
    ("memrl/MemAct-v0", "delete_everything"),  # search, prune it all, again until the turn limit
    ("memrl/MemAgent-v0", "quit_empty"),  # \boxed{} as every memory and as the answer
    ("memrl/MemAgent-v0", "never_answer"),  # a useless memory, no box at the end
    ("memrl/MemAgent-v0", "dump_everything"),  # copy the section into memory, box everything at the end
    ("memrl/MemoryR1-Manager-v0", "quit_empty"),  # <answer> at once: the empty bank is scored
    ("memrl/MemoryR1-Manager-v0", "never_answer"),  # no tool calls: an empty bank
    ("memrl/MemoryR1-Manager-v0", "add_everything"),  # ADD every fact, never UPDATE or DELETE
    ("memrl/MemoryR1-Manager-v0", "delete_everything"),  # DELETE every memory shown, NOOP otherwise
    ("memrl/MemoryR1-Answer-v0", "quit_empty"),  # an empty answer
    ("memrl/MemoryR1-Answer-v0", "never_answer"),  # no answer
    ("memrl/MemoryR1-Answer-v0", "dump_everything"),  # answer with every memory (F1 recall)
    ("memrl/MemoryR1-Answer-v0", "not_mentioned"),  # always "not mentioned" (right on adversarial questions)
]
CASES += [(env_id, f"tool_forever:{name}") for env_id in ENVS for name in tools_of(env_id)]

# (quitting, playing on to the turn limit after the same work): quitting must not pay more.
QUIT_VS_IDLE = [(env_id, "quit_empty", "never_answer") for env_id in ENVS]
QUIT_VS_IDLE += [(env_id, "add_then_quit", "add_then_idle") for env_id in ("memrl/FactRecall-v0", "memrl/AgeMem-v0")]


def test_every_registered_env_is_checked():
    # memrl/FactLookup-v0 registers only on import of memrl.integrations.lookup, and importing it
    # here would register it for every test after this one; its reward is FactRecall's EM.
    # Built-in ids only: tests register their own (test/...) when they run first.
    builtin = {s.id for s in list_envs() if s.id.startswith("memrl/")}
    assert builtin - {"memrl/FactLookup-v0"} <= set(ENVS)


def test_every_env_has_the_basic_degenerate_policies():
    for env_id in ENVS:
        assert {(env_id, p) for p in ("quit_empty", "never_answer")} <= set(CASES), env_id


@pytest.mark.parametrize(("env_id", "name"), CASES, ids=[f"{e.split('/')[1]}-{p}" for e, p in CASES])
def test_a_degenerate_policy_scores_below_the_expert(env_id, name):
    best, cheap = mean_reward(env_id, "expert"), mean_reward(env_id, name)
    margin = MARGIN * max(1.0, abs(best))
    assert cheap < best - margin, f"{name} scores {cheap:+.3f} on {env_id}, the expert {best:+.3f} (margin {margin:.2f})"


@pytest.mark.parametrize(("env_id", "quit", "idle"), QUIT_VS_IDLE, ids=[f"{e.split('/')[1]}-{q}" for e, q, _ in QUIT_VS_IDLE])
def test_quitting_does_not_pay_more_than_running_out_of_turns(env_id, quit, idle):
    # A policy that can end the episode at once learns to, if that beats trying and failing.
    assert mean_reward(env_id, quit) <= mean_reward(env_id, idle), (mean_reward(env_id, quit), mean_reward(env_id, idle))


if __name__ == "__main__":  # the table in the module docstring: python tests/envs/test_reward_hacking.py
    for env_id in ENVS:
        names = ["expert"] + [p for e, p in CASES if e == env_id] + [p for e, *pair in QUIT_VS_IDLE if e == env_id for p in pair]
        for name in dict.fromkeys(names):
            print(f"{env_id.split('/')[1]:20s} {name:32s} {mean_reward(env_id, name):+.3f}")
