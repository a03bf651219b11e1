"""Where the update's activation memory goes (issue #25): one forward + backward of one micro-batch.

Runs the update's real computation on the embedded SmolLM2-135M, as ``MemoryGRPOTrainer``
does it: memrl's LoRA (r16, all-linear), frozen weights in bf16 and LoRA in float32 on a CPU
with native bf16 (``frozen_weights_in_bf16``), bf16 autocast with PEFT's input cast off
(``bf16_lora``), the LM head off and the chunked log-probs (``memrl.train.chunked``) on the
completion positions, then ``backward``. Each setting runs in a child process of its own; the
child resets its high-water mark (``/proc/self/clear_refs``) just before its first forward, so
the figure is that forward + backward's growth over the resident model (one-time costs such as
kernel caches included, as in a real first step). Beside it: the tensors autograd saved for
backward (``saved_tensors_hooks``, distinct storages) by dtype, the wall time of the forward +
backward, and the attention and softmax kernels a second step ran (torch's profiler).

    python bench/activation_memory.py                               # the grid below: ~3 min on 2 idle cores
    python bench/activation_memory.py --rows 2 --width 1024 --attn eager --checkpointing

Rows are ``--width`` tokens with a left-padding mask (the first row full, the others padded by
an eighth, as micro-batches of segments are), the last ``--completion`` positions scored.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # memrl from this checkout
# (rows, width, attention, gradient checkpointing): 2,048 vs 1,024 tokens, sdpa vs eager, checkpointing.
DEFAULT_GRID = [
    (2, 1024, "sdpa", False), (1, 1024, "sdpa", False), (2, 1024, "eager", False),
    (1, 1024, "eager", False), (2, 1024, "sdpa", True), (1, 1024, "sdpa", True), (4, 512, "sdpa", False),
]


def status() -> dict[str, int]:
    with open("/proc/self/status", encoding="utf-8") as f:
        return {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f) if k in ("VmRSS", "VmHWM")}


def reset_peak() -> None:
    """VmHWM := VmRSS (Linux >= 4.0)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def policy(args: argparse.Namespace):
    """The embedded model as the update runs it: memrl's LoRA, frozen weights in bf16 on a CPU
    with native bf16 (``frozen_weights_in_bf16``), in train mode."""
    import torch
    from peft import get_peft_model
    from trl import get_peft_config

    from memrl.models import load_model_and_tokenizer
    from memrl.models.loading import cpu_bf16_kind
    from memrl.train.config import model_config

    bf16 = cpu_bf16_kind() is not None and not args.fp32
    model, _ = load_model_and_tokenizer(None, dtype="float32")
    model.set_attn_implementation(args.attn)
    model = get_peft_model(model, get_peft_config(model_config()))
    if bf16:
        for p in model.parameters():
            if p.is_floating_point() and not p.requires_grad:
                p.data = p.data.to(torch.bfloat16)
    if args.checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.enable_input_require_grads()
    model.train()
    return model, bf16


def child(args: argparse.Namespace) -> dict:
    import gc

    import torch

    from memrl.models.precision import bf16_lora
    from memrl.train import chunked

    torch.manual_seed(0)
    model, bf16 = policy(args)
    ids = torch.randint(100, 40000, (args.rows, args.width))
    mask = torch.ones_like(ids)
    for r in range(1, args.rows):
        mask[r, : args.width // 8] = 0  # left padding, as segments shorter than the micro-batch's longest
    keep, head = args.completion, chunked.plain_head(model)
    saved: dict[int, tuple[str, int]] = {}  # storage address: (dtype, bytes)

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = (str(t.dtype).removeprefix("torch."), t.untyped_storage().nbytes())
        return t

    def step():  # MemoryGRPOTrainer._completion_logps, then the backward
        with bf16_lora(model), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with chunked.head_off(head):
                hidden = model(input_ids=ids, attention_mask=mask, logits_to_keep=keep + 1, use_cache=False).logits[:, :-1]
            logps, _, _ = chunked.token_logps(hidden, head, ids[:, -keep:], mask[:, -keep:], chunk=256)
        logps.sum().backward()

    gc.collect()
    # The first forward + backward over the resident model: what a fresh process pays (freed
    # memory stays in the allocator's arenas, so a second step would read lower).
    before = status()["VmRSS"]
    reset_peak()
    start = time.perf_counter()
    step()
    seconds = time.perf_counter() - start
    peak, after = status()["VmHWM"], status()["VmRSS"]
    by_dtype: dict[str, float] = {}
    for dtype, nbytes in saved.values():
        by_dtype[dtype] = round(by_dtype.get(dtype, 0) + nbytes / 1e9, 3)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    # Which attention kernel ran: CPU flash attention keeps no L x L probabilities, the math path does.
    kernels = sorted({e.key.removeprefix("aten::") for e in prof.key_averages() if "attention" in e.key or "softmax" in e.key})
    tokens = args.rows * args.width
    return {"tokens": tokens, "bf16": bf16, "kernels": kernels, "rss_before_gb": before / 1e9, "rss_after_gb": after / 1e9,
            "growth_gb": (peak - before) / 1e9, "growth_mb_per_token": (peak - before) / 1e6 / tokens,
            "saved_gb": by_dtype, "fwd_bwd_s": seconds}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int)
    ap.add_argument("--width", type=int)
    ap.add_argument("--attn", default="sdpa", choices=("sdpa", "eager"))
    ap.add_argument("--checkpointing", action="store_true")
    ap.add_argument("--completion", type=int, default=192, help="scored positions per row (the update's completions)")
    ap.add_argument("--fp32", action="store_true", help="float32 weights, no autocast")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    grid = [(args.rows, args.width, args.attn, args.checkpointing)] if args.rows else DEFAULT_GRID
    for rows, width, attn, ckpt in grid:
        cmd = [sys.executable, __file__, "--child", "--rows", str(rows), "--width", str(width), "--attn", attn,
               "--completion", str(args.completion), *(["--checkpointing"] if ckpt else []), *(["--fp32"] if args.fp32 else [])]
        out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if out.returncode != 0:
            print(out.stderr[-2000:], file=sys.stderr)
            return 1
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"rows {rows} x {width} ({r['tokens']} tokens) attn {attn:5s} ckpt {str(ckpt):5s} bf16 {r['bf16']}: "
              f"growth {r['growth_gb']:.2f} GB ({r['growth_mb_per_token']:.2f} MB/token) over {r['rss_before_gb']:.2f} (after: {r['rss_after_gb']:.2f}); "
              f"saved for backward {r['saved_gb']}; fwd+bwd {r['fwd_bwd_s']:.1f} s; kernels {r['kernels']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
