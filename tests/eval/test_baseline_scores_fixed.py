"""Every built-in env's baselines, as ``memrl eval --baselines all`` plays them, score exactly
what they scored before baseline memory modes became one mechanism (issue #21): the refactor
must not change what a baseline is shown or how it scores.

The expected values were RECORDED FROM THE CODE BEFORE THE REFACTOR (commit 46a6245; run
``python -m tests.eval.test_baseline_scores_fixed`` to print them) and hard-coded here; do not
re-record them to make a refactor pass.

The base policy is scripted (no model): a reader. Where the env has a search, it searches for the
first question whose gold answer the prompt does not show, and answers once the prompt shows them
all; elsewhere it replies ``OK`` until the question is in the last user message, then answers with
the gold answer if the prompt shows it (``unknown`` if not). So a baseline's score says which answers reached its prompt. Per mode (the base's
agent mode too, as a reference): the mean score and per episode (score, answered, turns, peak
context tokens, truncated); per env a digest of every prompt the policy saw and every episode
record (memory ops, format errors, rewards included), in play order.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Callable

import pytest

from memrl.actions import ToolCall, render_tool_call
from memrl.env.registry import make
from memrl.eval import evaluate
from memrl.rollout import make_backend
from memrl.scoring.text import normalize

import memrl.integrations.lookup  # noqa: F401  (registers memrl/FactLookup-v0, built on the same base)

EPISODES = 3
# env id -> (env kwargs, how the env wants the final answer(s) written, how it wants a search)
CASES: dict[str, tuple[dict[str, Any], Callable[[list[str]], str], Callable[[str], str] | None]] = {
    "memrl/FactRecall-v0": ({}, lambda a: f"<answer>{a[0]}</answer>", None),
    "memrl/AgeMem-v0": ({}, lambda a: f"<answer>{a[0]}</answer>", None),
    "memrl/MEM1-v0": ({"n_objectives": 2}, lambda a: f"<answer>{'; '.join(a)}</answer>",
                      lambda q: f"<internal_state>looking</internal_state><search>{q}</search>"),
    "memrl/MemAct-v0": ({"n_objectives": 2}, lambda a: "FINAL_ANSWER: " + "; ".join(a),
                        lambda q: render_tool_call(ToolCall("search", {"query": q}))),
    "memrl/MemAgent-v0": ({"doc_tokens": 512, "chunk_tokens": 128}, lambda a: f"\\boxed{{{a[0]}}}", None),
    "memrl/MemoryR1-Manager-v0": ({}, lambda a: "OK", None),
    "memrl/MemoryR1-Answer-v0": ({}, lambda a: f"<answer>{a[0]}</answer>", None),
    "memrl/FactLookup-v0": ({}, lambda a: f"<answer>{a[0]}</answer>", None),
}
_TURN = re.compile(r"<\|im_start\|>(\w+)\n(.*?)(?=<\|im_start\|>|\Z)", re.S)


def questions(task: dict[str, Any]) -> list[tuple[str, str]]:
    """(question, gold) pairs of a task, whatever the env calls them."""
    if "questions" in task:
        return list(zip(task["questions"], map(str, task["answers"])))
    if "question" in task:
        gold = task["answer"][0] if isinstance(task["answer"], list) else task["answer"]
        return [(task["question"], str(gold))]
    return []


def reader(tasks: list[dict[str, Any]], answer: Callable[[list[str]], str], search: Callable[[str], str] | None,
           seen: list[str]) -> Callable[[str], str]:
    def policy(prompt: str) -> str:
        seen.append(prompt)
        turns = _TURN.findall(prompt)
        last_user = next((text for role, text in reversed(turns) if role == "user"), "")
        task = next((t for t in tasks if questions(t) and questions(t)[0][0] in prompt), None)
        # Where the env has a search the questions stay in the prompt: act at every turn.
        if task is None or (search is None and not any(q in last_user for q, _ in questions(task))):
            return "OK"
        shown = f" {normalize(prompt)} "
        known = [g if f" {normalize(g)} " in shown else "unknown" for _, g in questions(task)]
        missing = [q for (q, _), k in zip(questions(task), known) if k == "unknown"]
        return search(missing[0]) if search is not None and missing else answer(known)

    return policy


def record(env_id: str, tokenizer: Any) -> dict[str, tuple]:
    kwargs, answer, search = CASES[env_id]
    env = make(env_id, **kwargs)
    tasks = env.make_tasks("test", EPISODES, seed=0)
    env.close()
    seen: list[str] = []
    backend = make_backend("scripted", tokenizer=tokenizer, policy=reader(tasks, answer, search, seen))
    result = evaluate({"base": backend}, [env_id], tasks={env_id: tasks}, env_kwargs=kwargs, baselines="all",
                      max_new_tokens=96, max_context_tokens=4096, batch_size=2)
    out: dict[str, Any] = {}
    details = []
    for row in result.rows:  # the base in agent mode first, then each baseline
        episodes = [{k: v for k, v in e.items() if k != "wall_s"} for e in row["episodes_detail"]]
        details.append(episodes)
        per = [(round(e["score"], 6), e["answered"], e["turns"], e["peak_context_tokens"], e["truncated"]) for e in episodes]
        out[row["memory_mode"]] = (round(row["score"], 6), per)
    # Everything shown and recorded, in play order: a changed prompt or memory op shows up here.
    out["digest"] = hashlib.sha256(json.dumps([details, seen], sort_keys=True, default=str).encode()).hexdigest()[:12]
    return out


# Recorded before the refactor (commit 46a6245): see the module docstring.
EXPECTED: dict[str, dict[str, Any]] = {
    'memrl/AgeMem-v0': {
        'agent': (0.0, [(0.0, True, 3, 919, None), (0.0, True, 3, 920, None), (0.0, True, 3, 919, None)]),
        'none': (0.0, [(0.0, True, 1, 153, None), (0.0, True, 1, 161, None), (0.0, True, 1, 162, None)]),
        'full_context': (0.0, [(0.0, True, 1, 260, None), (0.0, True, 1, 261, None), (0.0, True, 1, 262, None)]),
        'retrieval': (1.0, [(1.0, True, 1, 188, None), (1.0, True, 1, 195, None), (1.0, True, 1, 194, None)]),
        'heuristic': (1.0, [(1.0, True, 1, 168, None), (1.0, True, 1, 177, None), (1.0, True, 1, 177, None)]),
        'digest': 'b9b15dcc9c4b',
    },
    'memrl/FactLookup-v0': {
        'agent': (0.0, [(0.0, True, 1, 256, None), (0.0, True, 1, 258, None), (0.0, True, 1, 256, None)]),
        'none': (0.0, [(0.0, True, 1, 71, None), (0.0, True, 1, 73, None), (0.0, True, 1, 71, None)]),
        'retrieval': (1.0, [(1.0, True, 1, 85, None), (1.0, True, 1, 88, None), (1.0, True, 1, 95, None)]),
        'digest': '4932dced26c4',
    },
    'memrl/FactRecall-v0': {
        'agent': (0.0, [(0.0, True, 2, 360, None), (0.0, True, 2, 359, None), (0.0, True, 2, 358, None)]),
        'none': (0.0, [(0.0, True, 2, 108, None), (0.0, True, 2, 107, None), (0.0, True, 2, 106, None)]),
        'full_context': (1.0, [(1.0, True, 2, 163, None), (1.0, True, 2, 161, None), (1.0, True, 2, 161, None)]),
        'retrieval': (1.0, [(1.0, True, 2, 108, None), (1.0, True, 2, 107, None), (1.0, True, 2, 106, None)]),
        'heuristic': (1.0, [(1.0, True, 2, 108, None), (1.0, True, 2, 107, None), (1.0, True, 2, 106, None)]),
        'digest': '350a58c27f27',
    },
    'memrl/MEM1-v0': {
        'agent': (0.0, [(0.0, False, 6, 304, 'turn_limit'), (0.0, False, 6, 438, 'turn_limit'), (0.0, False, 6, 298, 'turn_limit')]),
        'full_context': (1.0, [(1.0, True, 3, 395, None), (1.0, True, 3, 543, None), (1.0, True, 3, 391, None)]),
        'none': (0.0, [(0.0, False, 6, 271, 'turn_limit'), (0.0, False, 6, 405, 'turn_limit'), (0.0, False, 6, 266, 'turn_limit')]),
        'digest': '4d6659f48faf',
    },
    'memrl/MemAct-v0': {
        'agent': (1.0, [(1.0, True, 3, 726, None), (1.0, True, 3, 875, None), (1.0, True, 3, 722, None)]),
        'full_context': (1.0, [(1.0, True, 3, 525, None), (1.0, True, 3, 674, None), (1.0, True, 3, 521, None)]),
        'digest': '6d211b6cb832',
    },
    'memrl/MemAgent-v0': {
        'agent': (0.0, [(0.0, True, 6, 239, None), (0.0, True, 6, 243, None), (0.0, True, 6, 242, None)]),
        'none': (0.0, [(0.0, True, 1, 69, None), (0.0, True, 1, 69, None), (0.0, True, 1, 69, None)]),
        'full_context': (1.0, [(1.0, True, 1, 488, None), (1.0, True, 1, 484, None), (1.0, True, 1, 495, None)]),
        'retrieval': (1.0, [(1.0, True, 1, 411, None), (1.0, True, 1, 403, None), (1.0, True, 1, 415, None)]),
        'digest': '8fe7acd39674',
    },
    'memrl/MemoryR1-Answer-v0': {
        'agent': (1.0, [(1.0, True, 1, 176, None), (1.0, True, 1, 201, None), (1.0, True, 1, 176, None)]),
        'none': (0.0, [(0.0, True, 1, 111, None), (0.0, True, 1, 111, None), (0.0, True, 1, 111, None)]),
        'digest': 'fc0a6799aa77',
    },
    'memrl/MemoryR1-Manager-v0': {
        'agent': (0.289683, [(0.333333, True, 6, 568, None), (0.285714, True, 6, 561, None), (0.25, True, 6, 563, None)]),
        'none': (0.289683, [(0.333333, True, 1, 117, None), (0.285714, True, 1, 117, None), (0.25, True, 1, 117, None)]),
        'retrieval': (0.443001, [(0.463889, True, 1, 118, None), (0.522109, True, 1, 118, None), (0.343006, True, 1, 118, None)]),
        'heuristic': (0.943452, [(1.0, True, 1, 117, None), (0.892857, True, 1, 117, None), (0.9375, True, 1, 117, None)]),
        'digest': '1cc56dc0bb4f',
    },
}


@pytest.mark.parametrize("env_id", sorted(CASES))
def test_baselines_score_as_before(env_id, tokenizer):
    assert record(env_id, tokenizer) == EXPECTED[env_id]


if __name__ == "__main__":  # print the table (to record it, before a refactor only)
    import sys

    from memrl.models import tiny_model

    _, tok = tiny_model(seed=0)
    print("EXPECTED = {")
    for env_id in sys.argv[1:] or sorted(CASES):
        print(f"    {env_id!r}: {{")
        for mode, value in record(env_id, tok).items():
            print(f"        {mode!r}: {value!r},")
        print("    },")
    print("}")
