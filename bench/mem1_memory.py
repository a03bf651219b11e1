"""Peak context tokens against the number of objectives N: MEM1, MemAct and full context.

    python bench/mem1_memory.py                          # HotpotQA paragraphs, ~15 s on 2 CPU cores
    python bench/mem1_memory.py --source synthetic       # the generated corpus (no data needed)

The same tasks and the same policy for the three context rules, in one run. The policy is a fixed
*scripted* agent (an oracle for the answers: this measures the context mechanics, not accuracy):
it searches each question once, in order, writes what it found, then answers all. Under MEM1 it
writes its findings in ``<internal_state>`` (``memrl/MEM1-v0``); under MemAct it prunes its
earlier calls and results after every search and keeps the findings as the memory
(``memrl/MemAct-v0``); under full context it is the MEM1 agent on ``memory_mode="full_context"``
(nothing is dropped). Contexts are rendered with SmolLM2's chat template and counted with its
tokenizer by the rollout engine (``peak_context_tokens``: the largest prompt + reply of an episode).
Writes ``bench/results/mem1_memory.png`` and ``.txt``. Last line:
``peak_ratio_16=<full-context peak / MEM1 peak at N=16>`` (MEM1 reports 3.7x less peak memory).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from pathlib import Path

from memrl.actions import ToolCall, render_tool_call
from memrl.data.hotpotqa import hotpotqa_file
from memrl.env.registry import make
from memrl.errors import UserError
from memrl.models import tiny_tokenizer
from memrl.rollout import RolloutEngine, RolloutLimits, ScriptedBackend

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (1, 2, 4, 8, 16)
MODES = {  # column: (env id, memory_mode, agent)
    "mem1": ("memrl/MEM1-v0", "agent", "mem1"),
    "memact": ("memrl/MemAct-v0", "agent", "memact"),
    "full_context": ("memrl/MEM1-v0", "full_context", "mem1"),
}
_QUESTION = re.compile(r"^Q(\d+): (.*)$", re.M)


# -- the scripted agents: prompt text in, reply text out ---------------------------------------------
class Oracle:
    """Knows the gold answer of every question of the benchmark's tasks (the agents' "reader")."""

    def __init__(self, tasks: list[dict]):
        self.answer = {q: a for t in tasks for q, a in zip(t["questions"], t["answers"])}

    def questions(self, prompt: str) -> tuple[list[str], str]:
        """The task's questions and the text after them (what the episode has shown since)."""
        _, _, rest = prompt.partition("Questions:\n")
        block, _, after = rest.partition("<|im_end|>")
        return [q for _, q in _QUESTION.findall(block)], after


def mem1_agent(oracle: Oracle, prompt: str) -> str:
    """Carries "Qi: answer" lines in its internal state; searches the first unanswered question."""
    questions, seen = oracle.questions(prompt)
    states = re.findall(r"<internal_state>(.*?)</internal_state>", seen, re.S)
    known = dict(re.findall(r"^(Q\d+): (.*)$", states[-1], re.M)) if states else {}
    searched = re.findall(r"<search>(.*?)</search>", seen, re.S)
    if searched:  # the latest observation answers the latest search
        i = questions.index(searched[-1]) + 1
        known[f"Q{i}"] = oracle.answer[searched[-1]]
    todo = [i for i in range(1, len(questions) + 1) if f"Q{i}" not in known]
    lines = [f"Q{i}: {known[f'Q{i}']}" for i in range(1, len(questions) + 1) if f"Q{i}" in known]
    if not todo:
        state = "\n".join(lines + ["All questions answered."])
        return f"<internal_state>\n{state}\n</internal_state>\n<answer>{'; '.join(known[f'Q{i}'] for i in range(1, len(questions) + 1))}</answer>"
    state = "\n".join(lines + [f"Next: search for Q{todo[0]}."])
    return f"<internal_state>\n{state}\n</internal_state>\n<search>{questions[todo[0] - 1]}</search>"


def memact_agent(oracle: Oracle, prompt: str) -> str:
    """Searches the next question; after a search, prunes every earlier call, result and memory note
    and writes the answers so far as the new memory; answers when all are known."""
    questions, seen = oracle.questions(prompt)
    known: dict[int, str] = {}
    for note in re.findall(r"\[memory\] (.*?)<\|im_end\|>", seen, re.S):
        known.update((int(i), a) for i, a in re.findall(r"Q(\d+)=([^;]+)", note))
    for body in re.findall(r"<tool_call>(.*?)</tool_call>", seen, re.S):
        call = json.loads(body)
        if call["name"] == "search":  # its result is in the context: the oracle reads the answer
            query = call["arguments"]["query"]
            known[questions.index(query) + 1] = oracle.answer[query]
    todo = [i for i in range(1, len(questions) + 1) if i not in known]
    if not todo:
        return "FINAL_ANSWER: " + "; ".join(known[i] for i in range(1, len(questions) + 1))
    reply = ""
    stale = sorted({int(x) for pair in re.findall(r"\[(\d+)\] \(reply to message (\d+)\)", seen) for x in pair}
                   | {int(x) for x in re.findall(r"\[(\d+)\] \[memory\]", seen)})
    if stale and "prune_context" in prompt.partition("Questions:")[0]:
        memory = "; ".join(f"Q{i}={known[i]}" for i in sorted(known))
        reply = render_tool_call(ToolCall("prune_context", {"memory": memory, "delete_ids": stale}))
    return reply + render_tool_call(ToolCall("search", {"query": questions[todo[0] - 1]}))


AGENTS = {"mem1": mem1_agent, "memact": memact_agent}


# -- the run -----------------------------------------------------------------------------------------
def run(source: str, tasks_per_n: int, data_dir: str | None) -> dict[int, dict[str, dict[str, float]]]:
    tok = tiny_tokenizer()
    # Wide limits: the benchmark measures how large the context gets, so nothing may cut it.
    limits = RolloutLimits(max_new_tokens=1024, max_context_tokens=200_000, max_episode_tokens=200_000)
    table: dict[int, dict[str, dict[str, float]]] = {}
    for n in SIZES:
        # HotpotQA's test split holds ~10 questions, too few for N=16: the benchmark draws from train.
        tasks = make("memrl/MEM1-v0", n_objectives=n, source=source, data_dir=data_dir).make_tasks("train", tasks_per_n, seed=0)
        oracle = Oracle(tasks)
        table[n] = {}
        for column, (env_id, mode, agent) in MODES.items():
            policy = AGENTS[agent]
            backend = ScriptedBackend(tok, lambda prompt, p=policy: p(oracle, prompt))
            engine = RolloutEngine(backend, limits=limits, record_turns=False)
            make_env = lambda e=env_id, m=mode: make(e, n_objectives=n, source=source, data_dir=data_dir, memory_mode=m)  # noqa: E731
            trajs = engine.rollout(make_env, tasks)
            table[n][column] = {
                "peak": statistics.fmean(t.metrics["peak_context_tokens"] for t in trajs),
                "em": statistics.fmean(t.outcome.get("score", 0.0) for t in trajs),
                "segments": statistics.fmean(t.metrics["segments"] for t in trajs),
            }
    return table


def plot(table: dict, path: Path, source: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for column, style in zip(MODES, ("o-", "s-", "^--")):
        ax.plot(SIZES, [table[n][column]["peak"] for n in SIZES], style, label=column.replace("_", " "))
    ax.set_xscale("log", base=2)
    ax.set_xticks(SIZES, [str(n) for n in SIZES])
    ax.set_xlabel("objectives per task (N)")
    ax.set_ylabel("peak context tokens (mean over tasks)")
    ax.set_title(f"Context growth, scripted agent, {source} corpus")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def _local_hotpot(data_dir: str | None) -> bool:
    try:
        return hotpotqa_file(data_dir) is not None
    except UserError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", choices=("hotpotqa", "synthetic"), default=None,
                    help="default: hotpotqa when a local HotpotQA file exists, else synthetic")
    ap.add_argument("--tasks", type=int, default=5, help="tasks per N")
    ap.add_argument("--data_dir", default=None, help="folder holding hotpotqa/ (default $MEMRL_DATA, else ~/.cache/memrl/data)")
    ap.add_argument("--out", default=str(RESULTS / "mem1_memory"), help="path prefix of the .png and .txt")
    args = ap.parse_args()
    source = args.source or ("hotpotqa" if _local_hotpot(args.data_dir) else "synthetic")
    t0 = time.perf_counter()
    table = run(source, args.tasks, args.data_dir)
    lines = [f"$ python {' '.join(['bench/mem1_memory.py', *sys.argv[1:]])}",
             "policy: scripted oracle agent (one search per question, then one answer); tokens: SmolLM2 chat template",
             f"source={source} tasks_per_N={args.tasks} (train split, seed 0)",
             f"{'N':>3} | {'MEM1 peak':>9} {'MemAct peak':>11} {'full peak':>9} | {'full/MEM1':>9} {'full/MemAct':>11} | "
             f"{'EM MEM1/MemAct/full':>19} | segments MEM1/MemAct/full"]
    for n in SIZES:
        row = table[n]
        m, a, f = (row[c]["peak"] for c in MODES)
        ems = "/".join(f"{row[c]['em']:.2f}" for c in MODES)
        segs = "/".join(f"{row[c]['segments']:.1f}" for c in MODES)
        lines.append(f"{n:>3} | {m:>9.0f} {a:>11.0f} {f:>9.0f} | {f / m:>9.2f} {f / a:>11.2f} | {ems:>19} | {segs}")
    lines.append(f"wall_s={time.perf_counter() - t0:.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    plot(table, out.with_suffix(".png"), source)
    ratio = table[16]["full_context"]["peak"] / table[16]["mem1"]["peak"]
    lines += [f"plot: {out.with_suffix('.png').name}", f"peak_ratio_16={ratio:.2f}"]
    out.with_suffix(".txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
