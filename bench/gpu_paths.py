"""memrl's device-dependent paths, checked directly on the first CUDA GPU (bench/gpu_check.sh runs it).

Each check runs on its own and prints PASS or FAIL with the reason, so one broken path does not
hide the others; the tiny random model (tests/conftest.py's) keeps them to seconds:

1. the hf backend's K/V reuse gives the same tokens as plain generate, in float32 and bf16, greedy
   and sampled (on a GPU bf16 kernels can pick other tokens where two logits tie: reported, and a
   failure only in float32);
2. the micro-batched update (update_tokens_per_forward) gives the loss and gradients of the
   whole batch in one forward;
3. a trainer built on a CUDA machine puts the policy, its LoRA weights and the backend's model on
   the GPU, with bf16 on, and three GRPO steps of the toy task run.

Without CUDA it says so and runs the same checks on the CPU (a quick way to try the script).
Prints ``gpu_paths_failed=<number of failed checks>`` last.

    python bench/gpu_paths.py
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import tempfile
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402

FAILED: list[str] = []
SCRATCH = tempfile.TemporaryDirectory(prefix="gpu_paths-")  # removed at exit


def check(name):
    """Run ``fn`` as one named check: PASS, or FAIL with the exception's last lines."""
    def wrap(fn):
        start = time.perf_counter()
        try:
            detail = fn()
            print(f"PASS {name} ({time.perf_counter() - start:.1f}s){': ' + detail if detail else ''}", flush=True)
        except Exception as exc:  # noqa: BLE001 - a report, not a library
            FAILED.append(name)
            print(f"FAIL {name}: {type(exc).__name__}: {exc}", flush=True)
            traceback.print_exc(limit=-6)
        return fn
    return wrap


DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
if DEVICE.type == "cuda":
    print(f"device: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
          f"bf16 supported {torch.cuda.is_bf16_supported()}", flush=True)
else:
    print(f"no CUDA: the same checks on the CPU (torch {torch.__version__})", flush=True)


def play(model, tok, reuse: bool, greedy: bool):
    from memrl.env.registry import make
    from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams
    from memrl.rollout.backends.hf import HFBackend

    backend = HFBackend(model, tok, kv_reuse=reuse)
    engine = RolloutEngine(backend, limits=RolloutLimits(max_new_tokens=24, max_context_tokens=2048),
                           sampling=SamplingParams(max_new_tokens=24, temperature=0.0 if greedy else 1.0, seed=7))
    trajs = engine.rollout(lambda: make("memrl/FactRecall-v0"), make("memrl/FactRecall-v0").make_tasks("train", 4, 0),
                           group_size=4, seed=11)
    return trajs, backend


def compare(a, b) -> tuple[bool, float]:
    same = [[s.ids for s in t.segments] for t in a] == [[s.ids for s in t.segments] for t in b]
    gaps = [abs(x - y) for ta, tb in zip(a, b) for sa, sb in zip(ta.segments, tb.segments)
            for x, y in zip(sa.logprobs, sb.logprobs)]
    return same, max(gaps, default=0.0)


def kv_reuse_matches_plain_generate(dtype):
    def run():
        from memrl.models import tiny_model

        model, tok = tiny_model(seed=0)
        model = model.to(DEVICE, dtype)
        lines = []
        for greedy in (True, False):
            plain, _ = play(model, tok, False, greedy)
            reused, backend = play(model, tok, True, greedy)
            same, gap = compare(plain, reused)
            lines.append(f"greedy={greedy} same ids {same}, max |dlogp| {gap:.1e}, reused {backend.store.reused_tokens} "
                         f"of {backend.store.reused_tokens + backend.store.prefilled_tokens} prompt tokens")
            if dtype == torch.float32 and not same:
                raise AssertionError("; ".join(lines))
        return "; ".join(lines)
    return run


check("kv_reuse float32")(kv_reuse_matches_plain_generate(torch.float32))
check("kv_reuse bfloat16")(kv_reuse_matches_plain_generate(torch.bfloat16))


@check("trainer on the device, micro-batched update = one forward")
def microbatch():
    from tests.train.test_learning import toy_trainer

    trainer, _ = toy_trainer(pathlib.Path(SCRATCH.name, "one"), steps=1, tasks=16)
    params = [p for p in trainer.model.parameters()]
    trained = [p for p in trainer.model.parameters() if p.requires_grad]
    where = f"accelerator {trainer.accelerator.device}, bf16 {trainer.args.bf16}, " \
            f"params on {sorted({str(p.device) for p in params})}, trained dtypes {sorted({str(p.dtype) for p in trained})}"
    assert trainer.accelerator.device.type == DEVICE.type, where
    assert {p.device.type for p in params} == {DEVICE.type}, where
    trainer.model.train()
    trainer.current_gradient_accumulation_steps = 1
    batch = trainer._generate_and_score_completions(next(iter(trainer.get_train_dataloader())))

    def grads(budget: int):
        trainer.args.update_tokens_per_forward = budget
        trainer.model.zero_grad()
        loss = trainer.compute_loss(trainer.model, batch, num_items_in_batch=batch["num_items_in_batch"])
        trainer.accelerator.backward(loss)
        return {n: p.grad.float().clone() for n, p in trainer.model.named_parameters() if p.grad is not None}, loss.item()

    whole, loss_whole = grads(10**9)
    parts, loss_parts = grads(64)
    rel = max(((whole[n] - parts[n]).norm() / whole[n].norm().clamp(min=1e-12)).item() for n in whole)
    detail = f"{where}; loss {loss_whole:.6f} vs {loss_parts:.6f}, max relative grad diff {rel:.1e}"
    assert whole and rel < 5e-2, detail  # bf16 autocast on CUDA: sums in another order
    return detail


@check("three GRPO steps of the toy task")
def three_steps():
    from tests.train.test_learning import toy_trainer

    out = pathlib.Path(SCRATCH.name, "three")
    trainer, _ = toy_trainer(out, steps=3, tasks=48)
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    rows = [row for line in (out / "log.jsonl").read_text().splitlines() if "reward" in (row := json.loads(line))]
    last = {k: rows[-1][k] for k in ("reward", "rollout/logp_mismatch_mean", "time/rollout_s", "step_time") if k in rows[-1]}
    peak = f", peak GPU memory {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB" if DEVICE.type == "cuda" else ""
    return f"{wall:.1f}s for 3 steps{peak}; last log row {last}"


print(f"failed: {', '.join(FAILED) or 'none'}")
print(f"gpu_paths_failed={len(FAILED)}")
