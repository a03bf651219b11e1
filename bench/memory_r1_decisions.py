"""Memory-R1 manager decisions against the careful manager's, from saved episodes.

    python bench/memory_r1_decisions.py ROLLOUTS.jsonl [--env_kwargs JSON]

Replays every episode of a rollouts file (``memrl rollout --out``, a recipe's ``--save_rollouts``)
through ``memrl/MemoryR1-Manager-v0`` with the replies the policy wrote and, before each reply,
asks the env what its scripted careful manager (``expert_reply``: the Mem0 rule, from what the turn
shows) would write. Each fact's decision is then counted by what the expert would do (ADD, UPDATE,
DELETE, NOOP) against what the policy did, with UPDATE / DELETE split by whether they name the
memory the expert names. The question it answers: are the policy's UPDATEs right often enough for
RL to prefer them (bench/results/memory_r1/rl_vs_sft/README.txt, section 3)?

Prints the table and, last, ``update_right_fraction=<x>``: the share of the policy's UPDATE calls
that name the memory the expert updates at that fact (``nan`` when it wrote none).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed

from memrl.env.registry import make  # noqa: E402
from memrl.errors import UserError  # noqa: E402
from memrl.rollout.jsonl import load_trajectories  # noqa: E402

ENV_ID = "memrl/MemoryR1-Manager-v0"
KINDS = ("ADD", "UPDATE", "DELETE", "NOOP")


def decision(call) -> str:
    """A call as a table column: its kind ("missing" past the policy's last call; "other" for a tool
    the manager does not have). :func:`compare` adds whether an UPDATE / DELETE names the right memory."""
    if call is None:
        return "missing"
    return call.name if call.name in KINDS else "other"


def compare(expert_calls, policy_calls) -> list[tuple[str, str]]:
    """(expert kind, policy decision) per fact; UPDATE / DELETE on another memory are '<KIND> other id'."""
    rows = []
    for i, want in enumerate(expert_calls):
        got = policy_calls[i] if i < len(policy_calls) else None
        kind = decision(got)
        if kind in ("UPDATE", "DELETE") and got.arguments.get("memory_id") != want.arguments.get("memory_id"):
            kind += " other id"
        rows.append((want.name, kind))
    return rows


def tally(path: str, env_kwargs: dict) -> tuple[Counter, int, int]:
    env = make(ENV_ID, **env_kwargs)
    counts: Counter = Counter()
    episodes = turns = 0
    for traj in load_trajectories(path):
        env.reset(options={"task": traj.task})
        episodes += 1
        # The engine logs the reset as a turn without a reply (policy_text None): skip it.
        for text in [t["policy_text"] for t in traj.turns if t["policy_text"] is not None]:
            if env.done:
                break
            expert = env.parse(env.expert_reply()).tool_calls
            counts.update(compare(expert, env.parse(text).tool_calls))
            turns += 1
            env.step(text)
    env.close()
    return counts, episodes, turns


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("rollouts", help="a JSONL of MemoryR1-Manager-v0 episodes")
    p.add_argument("--env_kwargs", default='{"sessions": 2, "tool_prompt": "compact"}',
                   help="the env's settings the episodes were played with (JSON)")
    args = p.parse_args(argv)
    try:
        env_kwargs = json.loads(args.env_kwargs)
    except json.JSONDecodeError as e:
        print(f"--env_kwargs is not JSON ({e}); e.g. '{{\"sessions\": 2}}'", file=sys.stderr)
        return 2
    try:
        counts, episodes, turns = tally(args.rollouts, env_kwargs)
    except UserError as e:  # no such file, a bad line, bad env settings: one line, not a traceback
        print(f"memory_r1_decisions: {e}", file=sys.stderr)
        return 2
    columns = sorted({got for _, got in counts}, key=lambda c: (c.split()[0] not in KINDS, c))
    table = Table(title=f"{args.rollouts}: {episodes} episodes, {turns} turns; rows: the careful manager, columns: the policy")
    table.add_column("expert")
    for c in columns:
        table.add_column(c, justify="right")
    for want in KINDS:
        table.add_row(want, *(str(counts[(want, c)]) for c in columns))
    Console(width=160).print(table)
    updates = sum(n for (_, got), n in counts.items() if got.startswith("UPDATE"))
    right = counts[("UPDATE", "UPDATE")]
    print(f"policy UPDATE calls {updates}, naming the memory the expert updates {right}; "
          f"expert UPDATEs {sum(n for (w, _), n in counts.items() if w == 'UPDATE')}")
    print(f"update_right_fraction={right / updates:.3f}" if updates else "update_right_fraction=nan")
    return 0


if __name__ == "__main__":
    sys.exit(main())
