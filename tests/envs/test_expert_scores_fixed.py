"""Each built-in env's scripted expert, on fixed tasks and seeds, scores exactly what it scored
before the env contract was made explicit (issue #21): the refactor must not change behaviour.

The expected values were RECORDED FROM THE CODE BEFORE THE REFACTOR (commit ff64a70, run
``python tests/envs/test_expert_scores_fixed.py`` to print them) and hard-coded here; do not
re-record them to make a refactor pass. Per episode: the summed reward, the outcome's score /
answered / success, one letter per step for what the context did (``R`` rewrite, ``A`` append;
``.`` ends terminated, ``|`` truncated), and a digest of every message the env showed with each
step's reward, flags and info (so a changed prompt, mode or memory op shows up, not only a
changed score). Baseline memory modes are played too: they are one of the things the refactor
touches.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from memrl.actions import ToolCall, render_tool_call
from memrl.env.registry import make

import memrl.integrations.lookup  # noqa: F401  (registers memrl/FactLookup-v0, built on the same base)

# (env id, env kwargs, memory_mode, tasks from make_tasks("test", n, seed=0))
CASES: list[tuple[str, dict[str, Any], str, int]] = [
    ("memrl/FactRecall-v0", {}, "agent", 3),
    ("memrl/FactRecall-v0", {}, "none", 2),
    ("memrl/FactRecall-v0", {}, "full_context", 2),
    ("memrl/FactRecall-v0", {}, "retrieval", 2),
    ("memrl/FactRecall-v0", {}, "heuristic", 2),
    ("memrl/AgeMem-v0", {}, "agent", 3),
    ("memrl/AgeMem-v0", {"turns_per_stage": 2}, "agent", 2),
    ("memrl/AgeMem-v0", {}, "none", 2),
    ("memrl/AgeMem-v0", {}, "full_context", 2),
    ("memrl/AgeMem-v0", {}, "retrieval", 2),
    ("memrl/AgeMem-v0", {}, "heuristic", 2),
    ("memrl/MEM1-v0", {"n_objectives": 2}, "agent", 3),
    ("memrl/MEM1-v0", {"n_objectives": 2}, "full_context", 2),
    ("memrl/MEM1-v0", {"n_objectives": 2}, "none", 2),
    ("memrl/MemAct-v0", {"n_objectives": 2}, "agent", 3),
    ("memrl/MemAct-v0", {"n_objectives": 2, "hide_prune_fraction": 0.5}, "agent", 4),
    ("memrl/MemAct-v0", {"n_objectives": 2}, "full_context", 2),
    ("memrl/MemAgent-v0", {"doc_tokens": 512, "chunk_tokens": 128, "memory_tokens": 64}, "agent", 3),
    ("memrl/MemAgent-v0", {"doc_tokens": 512, "chunk_tokens": 128}, "none", 2),
    ("memrl/MemAgent-v0", {"doc_tokens": 512, "chunk_tokens": 128}, "full_context", 2),
    ("memrl/MemAgent-v0", {"doc_tokens": 512, "chunk_tokens": 128}, "retrieval", 2),
    ("memrl/MemoryR1-Manager-v0", {}, "agent", 2),
    ("memrl/MemoryR1-Manager-v0", {}, "none", 1),
    ("memrl/MemoryR1-Manager-v0", {}, "retrieval", 1),
    ("memrl/MemoryR1-Manager-v0", {}, "heuristic", 1),
    ("memrl/MemoryR1-Answer-v0", {}, "agent", 3),
    ("memrl/MemoryR1-Answer-v0", {}, "none", 2),
    ("memrl/FactLookup-v0", {}, "agent", 2),
    ("memrl/FactLookup-v0", {}, "retrieval", 1),
]


def expert(env: Any) -> str:
    if hasattr(env, "expert_reply"):
        return env.expert_reply()
    # FactRecall has no expert_reply: store every fact (one call each), then answer.
    if env.stage == 1:
        return "".join(render_tool_call(ToolCall("Add_memory", {"content": f})) for f in env.task["facts"])
    return f"<answer>{env.task['answer']}</answer>"


def play(env: Any, task: dict[str, Any] | None, seed: int) -> tuple:
    """One expert episode: (reward, score, answered, success, steps, digest)."""
    messages, info = env.reset(seed=seed, options={"task": task} if task is not None else None)
    log: list[Any] = [messages, info["context"]]
    total, steps, done = 0.0, "", False
    while not done:
        messages, reward, terminated, truncated, info = env.step(expert(env))
        total += reward
        done = terminated or truncated
        steps += info["context"][0].upper() + ("." if terminated else "|" if truncated else "")
        log.append([messages, round(reward, 9), terminated, truncated,
                    {k: info[k] for k in ("context", "turn", "format_error", "env_error", "memory_ops")}])
    digest = hashlib.sha256(json.dumps(log, sort_keys=True, default=str).encode()).hexdigest()[:12]
    o = env.outcome
    return round(total, 6), round(float(o["score"]), 6), o["answered"], bool(o.get("success")), steps, digest


def record(env_id: str, kwargs: dict[str, Any], mode: str, n: int) -> list[tuple]:
    env = make(env_id, **kwargs, memory_mode=mode)
    try:
        rows = [play(env, task, seed) for seed, task in enumerate(env.make_tasks("test", n, seed=0))]
        rows.append(play(env, None, 7))  # a task from the env's own generator (sample_task), seed 7
        return rows
    finally:
        env.close()


def cut_after_first_turn(env_id: str, kwargs: dict[str, Any]) -> tuple:
    """The rollout engine cuts an episode at a token limit after the expert's first turn."""
    env = make(env_id, **kwargs)
    try:
        env.reset(seed=0, options={"task": env.make_tasks("test", 1, seed=0)[0]})
        env.step(expert(env))
        reward = env.cut("context_limit")
        o = env.outcome
        return round(float(reward), 6), round(float(o["score"]), 6), o["answered"], o["truncated"], env.done
    finally:
        env.close()


# Recorded before the refactor (commit ff64a70): see the module docstring.
EXPECTED: dict[tuple[str, str, str], list[tuple]] = {
    ('FactRecall-v0', '{}', 'agent'): [
        (1.0, 1.0, True, True, 'RA.', '467ade03e7a8'),
        (1.0, 1.0, True, True, 'RA.', '419f200bfb04'),
        (1.0, 1.0, True, True, 'RA.', '380f9b7ec307'),
        (1.0, 1.0, True, True, 'RA.', '2f42a6b97571'),
    ],
    ('FactRecall-v0', '{}', 'none'): [
        (1.0, 1.0, True, True, 'RA.', 'bf85ef0d2265'),
        (1.0, 1.0, True, True, 'RA.', '9bd4ad6ab025'),
        (1.0, 1.0, True, True, 'RA.', 'baddfd17d487'),
    ],
    ('FactRecall-v0', '{}', 'full_context'): [
        (1.0, 1.0, True, True, 'AA.', 'f5cf3f60ef21'),
        (1.0, 1.0, True, True, 'AA.', '4a3246735f71'),
        (1.0, 1.0, True, True, 'AA.', '63f098b36ab4'),
    ],
    ('FactRecall-v0', '{}', 'retrieval'): [
        (1.0, 1.0, True, True, 'RA.', 'f19e5543e491'),
        (1.0, 1.0, True, True, 'RA.', '346960e3d5c7'),
        (1.0, 1.0, True, True, 'RA.', 'c651e216804c'),
    ],
    ('FactRecall-v0', '{}', 'heuristic'): [
        (1.0, 1.0, True, True, 'RA.', 'f19e5543e491'),
        (1.0, 1.0, True, True, 'RA.', '346960e3d5c7'),
        (1.0, 1.0, True, True, 'RA.', 'c651e216804c'),
    ],
    ('AgeMem-v0', '{}', 'agent'): [
        (0.863095, 1.0, True, True, 'RRAA.', 'a141e25033e2'),
        (0.863095, 1.0, True, True, 'RRAA.', '3333db6ed020'),
        (0.863095, 1.0, True, True, 'RRAA.', 'fc4debaf3ab2'),
        (0.863095, 1.0, True, True, 'RRAA.', 'f0108fca10a3'),
    ],
    ('AgeMem-v0', '{"turns_per_stage": 2}', 'agent'): [
        (0.849206, 1.0, True, True, 'ARRRAA.', '81b37ae7844d'),
        (0.849206, 1.0, True, True, 'ARRRAA.', '69f5578536f9'),
        (0.849206, 1.0, True, True, 'ARRRAA.', 'f2a4e47192a5'),
    ],
    ('AgeMem-v0', '{}', 'none'): [
        (-1.458333, 0.0, False, False, 'AAAA|', '4204a478f83a'),
        (-1.416667, 0.0, False, False, 'AAAA|', 'd83136c11fd4'),
        (-1.458333, 0.0, False, False, 'AAAA|', 'aa6537d36ae0'),
    ],
    ('AgeMem-v0', '{}', 'full_context'): [
        (-0.75, 0.0, False, False, 'AAAA|', '5226b3cd741f'),
        (-0.75, 0.0, False, False, 'AAAA|', '952e39887b1c'),
        (-0.75, 0.0, False, False, 'AAAA|', 'c299a4a5cf1a'),
    ],
    ('AgeMem-v0', '{}', 'retrieval'): [
        (-1.416667, 0.0, False, False, 'AAAA|', '465ff409d9e9'),
        (-1.416667, 0.0, False, False, 'AAAA|', '662e41587b30'),
        (-1.416667, 0.0, False, False, 'AAAA|', '36bd16c39c0d'),
    ],
    ('AgeMem-v0', '{}', 'heuristic'): [
        (-1.416667, 0.0, False, False, 'AAAA|', 'd6514034a248'),
        (-1.416667, 0.0, False, False, 'AAAA|', '0147bcdbc85a'),
        (-1.416667, 0.0, False, False, 'AAAA|', 'def9a973f6ce'),
    ],
    ('MEM1-v0', '{"n_objectives": 2}', 'agent'): [
        (2.0, 1.0, True, True, 'RRR.', '0b44acc066a0'),
        (2.0, 1.0, True, True, 'RRR.', '1eadc1b9fd50'),
        (2.0, 1.0, True, True, 'RRR.', 'e72a94746fd0'),
        (2.0, 1.0, True, True, 'RRR.', '256bbadc6b9b'),
    ],
    ('MEM1-v0', '{"n_objectives": 2}', 'full_context'): [
        (2.0, 1.0, True, True, 'AAA.', 'a690897d7fe9'),
        (2.0, 1.0, True, True, 'AAA.', '1f1f27cc601f'),
        (2.0, 1.0, True, True, 'AAA.', '660ab974996d'),
    ],
    ('MEM1-v0', '{"n_objectives": 2}', 'none'): [
        (0.0, 0.0, False, False, 'RRRRRR|', '53b19dab6ead'),
        (0.0, 0.0, False, False, 'RRRRRR|', '65b40223b552'),
        (0.0, 0.0, False, False, 'RRRRRR|', '754910ec46c1'),
    ],
    ('MemAct-v0', '{"n_objectives": 2}', 'agent'): [
        (2.0, 1.0, True, True, 'ARA.', '6328cba796d1'),
        (2.0, 1.0, True, True, 'ARA.', '6f6cdfabfabb'),
        (2.0, 1.0, True, True, 'ARA.', '276241e524ce'),
        (2.0, 1.0, True, True, 'ARA.', 'afc90193ce62'),
    ],
    ('MemAct-v0', '{"hide_prune_fraction": 0.5, "n_objectives": 2}', 'agent'): [
        (2.0, 1.0, True, True, 'ARA.', '6328cba796d1'),
        (2.0, 1.0, True, True, 'AAA.', '8af57a234f9d'),
        (2.0, 1.0, True, True, 'ARA.', '276241e524ce'),
        (2.0, 1.0, True, True, 'ARA.', '469915ed67cf'),
        (2.0, 1.0, True, True, 'AAA.', 'f396cb03b4a9'),
    ],
    ('MemAct-v0', '{"n_objectives": 2}', 'full_context'): [
        (2.0, 1.0, True, True, 'AAA.', 'cd980da997bf'),
        (2.0, 1.0, True, True, 'AAA.', '8af57a234f9d'),
        (2.0, 1.0, True, True, 'AAA.', 'f396cb03b4a9'),
    ],
    ('MemAgent-v0', '{"chunk_tokens": 128, "doc_tokens": 512, "memory_tokens": 64}', 'agent'): [
        (1.0, 1.0, True, True, 'RRRRRA.', '10694cb8c36e'),
        (1.0, 1.0, True, True, 'RRRRRA.', '67cea7113f80'),
        (1.0, 1.0, True, True, 'RRRRRA.', '5cc77ee8996b'),
        (1.0, 1.0, True, True, 'RRRRRA.', 'cdf71ca62529'),
    ],
    ('MemAgent-v0', '{"chunk_tokens": 128, "doc_tokens": 512}', 'none'): [
        (1.0, 1.0, True, True, 'A.', 'd5e44fb4d927'),
        (1.0, 1.0, True, True, 'A.', '9709be68e26f'),
        (1.0, 1.0, True, True, 'A.', '0478b37b3fb2'),
    ],
    ('MemAgent-v0', '{"chunk_tokens": 128, "doc_tokens": 512}', 'full_context'): [
        (1.0, 1.0, True, True, 'A.', 'a62893c1804e'),
        (1.0, 1.0, True, True, 'A.', 'e5f297849b7c'),
        (1.0, 1.0, True, True, 'A.', '9cb31eb4cf8e'),
    ],
    ('MemAgent-v0', '{"chunk_tokens": 128, "doc_tokens": 512}', 'retrieval'): [
        (1.0, 1.0, True, True, 'A.', '25994a38709f'),
        (1.0, 1.0, True, True, 'A.', '5617702c216c'),
        (1.0, 1.0, True, True, 'A.', 'ed28696e7aed'),
    ],
    ('MemoryR1-Manager-v0', '{}', 'agent'): [
        (1.0, 1.0, True, True, 'RRRRRA.', 'a4db7e0c38e2'),
        (0.892857, 0.892857, True, True, 'RRRRRA.', '09b3e24996e2'),
        (0.9, 0.9, True, True, 'RRRRRA.', '60f3e9d64cf1'),
    ],
    ('MemoryR1-Manager-v0', '{}', 'none'): [
        (0.333333, 0.333333, True, False, 'A.', '7454bd17607d'),
        (0.2, 0.2, True, False, 'A.', '126c0ce169f2'),
    ],
    ('MemoryR1-Manager-v0', '{}', 'retrieval'): [
        (0.463889, 0.463889, True, False, 'A.', '5aa565103b41'),
        (0.480952, 0.480952, True, False, 'A.', '1024e46453c2'),
    ],
    ('MemoryR1-Manager-v0', '{}', 'heuristic'): [
        (1.0, 1.0, True, True, 'A.', '34de249e4d92'),
        (0.9, 0.9, True, True, 'A.', '67016860bc11'),
    ],
    ('MemoryR1-Answer-v0', '{}', 'agent'): [
        (1.0, 1.0, True, True, 'A.', '1d04865d7d38'),
        (1.0, 1.0, True, True, 'A.', 'aae903243a4f'),
        (1.0, 1.0, True, True, 'A.', '801c945aa669'),
        (1.0, 1.0, True, True, 'A.', 'a3f7f491c044'),
    ],
    ('MemoryR1-Answer-v0', '{}', 'none'): [
        (1.0, 1.0, True, True, 'A.', 'a073634e3acb'),
        (1.0, 1.0, True, True, 'A.', '2b96f2da343c'),
        (1.0, 1.0, True, True, 'A.', 'deaa40288841'),
    ],
    ('FactLookup-v0', '{}', 'agent'): [
        (1.0, 1.0, True, True, 'AA.', '334635e939bf'),
        (1.0, 1.0, True, True, 'AA.', '4c95cc281a87'),
        (1.0, 1.0, True, True, 'AA.', 'e285e1a6f087'),
    ],
    ('FactLookup-v0', '{}', 'retrieval'): [
        (1.0, 1.0, True, True, 'AA.', 'aeb11012f78b'),
        (1.0, 1.0, True, True, 'AA.', '95cfe004351e'),
    ],
}

EXPECTED_CUT: dict[str, tuple] = {
    'memrl/AgeMem-v0': (-0.75, 0.0, False, 'context_limit', True),
    'memrl/FactLookup-v0': (0.0, 0.0, False, 'context_limit', True),
    'memrl/FactRecall-v0': (0.0, 0.0, False, 'context_limit', True),
    'memrl/MEM1-v0': (0.0, 0.0, False, 'context_limit', True),
    'memrl/MemAct-v0': (0.0, 0.0, False, 'context_limit', True),
    'memrl/MemAgent-v0': (0.0, 0.0, False, 'context_limit', True),
    'memrl/MemoryR1-Answer-v0': (0.0, 1.0, True, 'context_limit', True),
    'memrl/MemoryR1-Manager-v0': (0.0, 0.0, False, 'context_limit', True),
}


def case_id(env_id: str, kwargs: dict[str, Any], mode: str) -> tuple[str, str, str]:
    return env_id.split("/")[1], json.dumps(kwargs, sort_keys=True), mode


@pytest.mark.parametrize("env_id,kwargs,mode,n", CASES, ids=[f"{c[0].split('/')[1]}-{c[2]}-{i}" for i, c in enumerate(CASES)])
def test_the_scripted_expert_scores_as_before(env_id, kwargs, mode, n):
    assert record(env_id, kwargs, mode, n) == EXPECTED[case_id(env_id, kwargs, mode)]


@pytest.mark.parametrize("env_id", sorted({c[0] for c in CASES}))
def test_a_cut_episode_scores_as_before(env_id):
    assert cut_after_first_turn(env_id, dict(next(c[1] for c in CASES if c[0] == env_id))) == EXPECTED_CUT[env_id]


if __name__ == "__main__":  # print the tables (to record them, before a refactor only)
    print("EXPECTED = {")
    for env_id, kwargs, mode, n in CASES:
        print(f"    {case_id(env_id, kwargs, mode)!r}: [")
        for row in record(env_id, kwargs, mode, n):
            print(f"        {row!r},")
        print("    ],")
    print("}\n\nEXPECTED_CUT = {")
    for env_id in sorted({c[0] for c in CASES}):
        print(f"    {env_id!r}: {cut_after_first_turn(env_id, dict(next(c[1] for c in CASES if c[0] == env_id)))!r},")
    print("}")
