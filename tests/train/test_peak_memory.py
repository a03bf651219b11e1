"""Bounded memory of the update (#25): one GRPO step's peak RSS must not grow with the batch.

Each run is one GRPO step of the tiny model on the toy task (tests/train/toy.py: 2 segments per
episode, every reply ``COMPLETION`` sampled tokens) in a child process of its own; its peak RSS
comes from the child's own /proc/self/status VmHWM (``os.wait4`` where there is none). The tiny model keeps SmolLM2's
49,152-token vocabulary, so, as on the real model, the update's memory is the full-vocabulary
logits (and their log-softmax, entropy and gradient): unbounded, they grow with the rows of the
batch. With the update cut into micro-batches of ``update_tokens_per_forward`` padded tokens,
4x the episodes must cost about what 1x costs. The ceiling is half of ONE float32 copy of the
extra rows' logits: a regression keeps at least one such copy alive (measured: several).
The control run (micro-batching and the chunked log-probs of ``logits_chunk_tokens`` both off:
every completion position's logits at once) must break that ceiling, so the test cannot pass
because the model or the batch stopped being large enough to show the difference.

    pytest -m slow tests/train/test_peak_memory.py     # three child runs, ~45 s on 2 CPU cores
    python -m tests.train.test_peak_memory --out /tmp/x --episodes 8 --update-tokens 256 --logits-chunk 256   # one
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EPISODES = 8  # the small run (16 rows); the large one has 4x as many
COMPLETION = 32  # sampled tokens per reply (a random model almost never samples EOS in 32 tokens)
BOUNDED = 256  # update_tokens_per_forward of the bounded runs: about 2 rows per micro-batch
UNBOUNDED = 10**9  # micro-batching effectively off: the whole batch in one forward
CHUNK = 256  # logits_chunk_tokens of the bounded runs (the default); 0 = unchunked


def run_step(tmp_path: Path, episodes: int, update_tokens: int, logits_chunk: int = CHUNK) -> dict:
    """One GRPO step in a child process; its peak RSS (bytes) and the batch it trained on."""
    out = tmp_path / f"e{episodes}-u{update_tokens}-c{logits_chunk}"
    cmd = [sys.executable, "-m", "tests.train.test_peak_memory", "--out", str(out), "--episodes", str(episodes),
           "--update-tokens", str(update_tokens), "--logits-chunk", str(logits_chunk)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = child.stdout.read()
    # wait4, not Popen.wait: it returns this child's own rusage (RUSAGE_CHILDREN is the max so far).
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stdout.close()
    assert child.returncode == 0, output[-4000:]
    batch = json.loads(output.strip().splitlines()[-1])
    # The child's own high-water mark where the kernel keeps one (VmHWM starts afresh at exec):
    # wait4's ru_maxrss also counts the parent's pages the child held between fork and exec, so
    # under a pytest process that has grown to GBs every child reads the same (seen in CI).
    return {"peak": batch.pop("hwm") or usage.ru_maxrss * 1024, **batch}


def high_water_mark() -> int:
    """This process's peak RSS in bytes from /proc/self/status (0 where there is none)."""
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            line = next(line for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return 0
    return int(line.split()[1]) * 1024


def logits_bytes(rows: int, vocab: int) -> int:
    """One float32 copy of the full-vocabulary logits of ``rows`` completions."""
    return rows * COMPLETION * vocab * 4


@pytest.mark.slow
def test_update_memory_does_not_grow_with_the_batch(tmp_path):
    small = run_step(tmp_path, EPISODES, BOUNDED)
    large = run_step(tmp_path, 4 * EPISODES, BOUNDED)
    control = run_step(tmp_path, 4 * EPISODES, UNBOUNDED, logits_chunk=0)
    # The batch is what the ceiling assumes: 4x the rows, (nearly) every reply COMPLETION tokens long.
    assert large["rows"] == 4 * small["rows"] and large["policy_tokens"] >= 0.9 * large["rows"] * COMPLETION, (small, large)
    ceiling = logits_bytes(large["rows"] - small["rows"], large["vocab"]) // 2
    mb = {name: round(r["peak"] / 2**20) for name, r in (("small", small), ("large", large), ("control", control))}
    print(f"peak RSS MiB {mb}; ceiling on the growth {ceiling / 2**20:.0f} MiB")
    assert large["peak"] - small["peak"] < ceiling, f"4x the episodes cost {(large['peak'] - small['peak']) / 2**20:.0f} MiB more {mb}"
    # The control: without micro-batches or chunks the same growth breaks the ceiling (else the test is blind).
    assert control["peak"] - small["peak"] > ceiling, f"the unbounded update did not break the ceiling {mb}"


# -- the child: one GRPO step, then the batch's shape on the last line ----------------------------------
def child(argv: list[str] | None = None) -> None:
    from memrl.models import tiny_model
    from memrl.train import MemRLConfig, build_trainer
    from memrl.train.config import model_config
    from tests.train.toy import OpChoiceEnv, prime_operation_words

    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--episodes", type=int, required=True)
    ap.add_argument("--update-tokens", type=int, required=True)
    ap.add_argument("--logits-chunk", type=int, default=CHUNK)
    args = ap.parse_args(argv)
    model, tok = tiny_model(seed=0)
    prime_operation_words(model, tok)  # rewards that differ within a group: a real gradient
    config = MemRLConfig(
        output_dir=args.out, max_steps=1, per_device_train_batch_size=args.episodes, num_generations=4,
        max_new_tokens_per_turn=COMPLETION, max_context_tokens=256, temperature=1.0,
        save_strategy="no", report_to=[], seed=0, beta=0.0, logging_steps=1, disable_tqdm=True,
        # float32 on every CPU (bf16 is on by default where the CPU has it): the same run everywhere.
        gradient_checkpointing=False, bf16=False, update_tokens_per_forward=args.update_tokens,
        skip_zero_advantage_rows=False,  # the random model scores every episode alike: all rows would be skipped
        logits_chunk_tokens=args.logits_chunk,
    )
    trainer = build_trainer(config, model_args=model_config(lora_r=8, lora_alpha=16), model=model, tokenizer=tok,
                            env_factory=lambda: OpChoiceEnv(tok),
                            train_tasks=OpChoiceEnv(tok).make_tasks("train", args.episodes, seed=0))
    trainer.train()
    profile = trainer.profile
    print(json.dumps({"rows": int(profile["rows"]), "policy_tokens": int(profile["policy_tokens"]), "vocab": len(tok),
                      "hwm": high_water_mark()}))


if __name__ == "__main__":
    child()
