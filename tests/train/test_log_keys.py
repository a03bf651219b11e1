"""log.jsonl has the same keys on every RL step, zeros included (a key that comes and goes breaks
every plot and comparison that reads it)."""

from __future__ import annotations

import json

from tests.train.test_learning import toy_trainer


def test_every_step_logs_the_same_keys(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=3, tasks=48)
    trainer.train()
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    steps = [r for r in rows if r.get("phase") != "sft" and "reward" in r]
    assert len(steps) == 3
    keys = [set(r) - {"time"} for r in steps]
    assert all(k == keys[0] for k in keys), [sorted(k ^ keys[0]) for k in keys]
    for required in ("memory/ops/add", "memory/ops/delete", "memory/ops/env_error", "truncated/turn_limit",
                     "truncated/context_limit", "time/rollout_s", "rollout/logp_mismatch_mean"):
        assert required in keys[0], required
    assert all(isinstance(v, (int, float)) for r in steps for k, v in r.items() if k != "phase")
