"""One decode step of the rollout, alone: what bounds the rollout's tokens per second (issue #18).

Loads the embedded model as the rollout runs it (bf16 weights on a CPU with bf16 support; the
merged-LoRA rollout copies are plain weights of the same size), puts --rows requests of random
prompt tokens into the continuous batch (`memrl.rollout.backends.continuous`), the longest
--context tokens and each next one 8 fewer (rows of different lengths, as in a rollout: a padding
mask; --same_length gives every row --context tokens and no mask), and times --steps decode
steps after a warm-up: the forward of every row, then sampling one token per row at temperature 1.
With --profile it prints torch.profiler's op table over 5 steps.

A rollout can sample at most rows / step time tokens per second: every row live in every step,
no prefill, no env. The rollout's own figure (`bench/step_time.py`) is below that ceiling by
its tail (episodes ending at different times) and its prefills.

    python bench/decode_step.py                        # 8 rows (the AgeMem default's episodes), 600 tokens
    python bench/decode_step.py --rows 16 --profile
    python bench/decode_step.py --compile mlp          # torch.compile each layer's MLP (measured slower)
    python bench/decode_step.py --attention sdpa       # transformers' SDPA (torch's GQA kernel when no row is padded)

Last line: decode_ceiling_tokens_per_s=<rows / mean decode step>.
"""

from __future__ import annotations

import argparse
import time

import torch

from memrl.models.loading import cpu_bf16_kind, load_model_and_tokenizer
from memrl.rollout.backends import kv_reuse
from memrl.rollout.backends.base import SamplingParams
from memrl.rollout.backends.continuous import SlotBatch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=8, help="requests decoding together (episodes of a rollout)")
    parser.add_argument("--context", type=int, default=600, help="prompt tokens the longest row holds K/V for")
    parser.add_argument("--same_length", action="store_true",
                        help="every row --context tokens (no padding mask: transformers' SDPA then calls torch's GQA kernel)")
    parser.add_argument("--steps", type=int, default=40, help="timed decode steps")
    parser.add_argument("--dtype", default=None, help="default: bf16 where the CPU has native bf16 (as the rollout), else float32")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's op table over 5 more steps")
    parser.add_argument("--compile", choices=("none", "mlp", "model"), default="none",
                        help="torch.compile (dynamic shapes) each decoder layer's MLP, or the whole forward")
    parser.add_argument("--attention", choices=("packed", "sdpa"), default="packed",
                        help="packed: memrl's decode attention (the default, memrl.models.attention); sdpa: transformers' own")
    args = parser.parse_args()
    shortest = args.context if args.same_length else args.context - 8 * (args.rows - 1)
    if args.rows < 1 or shortest < 2 or args.steps < 1:
        parser.error("--rows and --steps must be >= 1 and every row's context >= 2 (--context >= 8 * (rows - 1) + 2)")

    dtype = args.dtype or ("bfloat16" if cpu_bf16_kind() else "float32")
    torch.manual_seed(0)
    model, tokenizer = load_model_and_tokenizer(None, dtype=dtype, device="cpu")
    model.eval()
    if args.attention == "sdpa":
        model.set_attn_implementation("sdpa")
    if args.compile == "mlp":
        for layer in model.model.layers:
            layer.mlp.forward = torch.compile(layer.mlp.forward, dynamic=True)
    elif args.compile == "model":
        model.forward = torch.compile(model.forward, dynamic=True)
    slots = SlotBatch(lambda: model, kv_reuse.PrefixStore(), set(), tokenizer.pad_token_id)
    budget = args.steps + 20  # never stops inside the timed steps
    for row in range(args.rows):
        length = args.context if args.same_length else args.context - 8 * row
        prompt = torch.randint(0, len(tokenizer), (length,), generator=torch.Generator().manual_seed(row)).tolist()
        slots.submit(row, prompt, SamplingParams(max_new_tokens=budget, temperature=1.0, seed=row))
    with torch.no_grad():
        for _ in range(5):  # admits (prefills) every row, then warms up
            slots.step()
        start = time.perf_counter()
        for _ in range(args.steps):
            slots.step()
        step_s = (time.perf_counter() - start) / args.steps
        if args.profile:
            from torch.profiler import ProfilerActivity, profile

            with profile(activities=[ProfilerActivity.CPU]) as prof:
                for _ in range(5):
                    slots.step()
            print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    print(f"model dtype {next(model.parameters()).dtype}, attention {model.config._attn_implementation}, compile {args.compile}, {args.rows} rows, "
          f"{'every row ' if args.same_length else 'the longest row '}{args.context}-token context, "
          f"{torch.get_num_threads()} threads: {step_s * 1e3:.1f} ms a decode step")
    print(f"decode_ceiling_tokens_per_s={args.rows / step_s:.1f}")


if __name__ == "__main__":
    main()
