"""Where the GRPO update's time goes, one micro-batch at a time (issue #18).

Runs the forward + backward the update runs on one micro-batch — the embedded model's frozen
weights in bf16, a float32 LoRA (memrl's default LoRA settings) under the update's autocast
(`bf16_lora`), the LM head applied to the scored tokens only (`memrl.train.chunked`) — on random
token ids, times it, and with --profile prints torch.profiler's table of the ops that take the time.

    python bench/update_profile.py                       # 1 row of 512 tokens, 112 of them scored
    python bench/update_profile.py --tokens 1024 --math  # SDPA's math kernel instead of flash
    python bench/update_profile.py --profile             # + the op table

Last line: update_tokens_per_s=<tokens of forward + backward per second>.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch
from peft import get_peft_model
from torch.nn.attention import SDPBackend, sdpa_kernel
from trl import get_peft_config

from memrl.models.loading import load_model_and_tokenizer
from memrl.models.precision import bf16_lora
from memrl.train import chunked
from memrl.train.config import model_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=512, help="tokens in a row (the CPU micro-batch budget is 512)")
    parser.add_argument("--rows", type=int, default=1)
    parser.add_argument("--scored", type=int, default=112, help="tokens of a row whose log-probs are trained")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--math", action="store_true", help="SDPA's math kernel instead of its flash kernel")
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's op table for one pass")
    args = parser.parse_args()

    torch.manual_seed(0)
    model, _ = load_model_and_tokenizer(None, dtype="bfloat16", device="cpu")
    model = get_peft_model(model, get_peft_config(model_config()))  # the LoRA build_trainer puts on
    for param in model.parameters():
        if param.requires_grad:
            param.data = param.data.float()  # float32 LoRA beside bf16 frozen weights, as build_trainer leaves them
    ids = torch.randint(0, model.config.vocab_size, (args.rows, args.tokens))
    scored = torch.ones(args.rows, args.scored, dtype=torch.long)
    head = chunked.plain_head(model)
    kernel = (lambda: sdpa_kernel(SDPBackend.MATH)) if args.math else contextlib.nullcontext

    def forward_backward() -> None:
        with bf16_lora(model), kernel():
            with chunked.head_off(head):
                hidden = model(input_ids=ids, attention_mask=torch.ones_like(ids), logits_to_keep=args.scored + 1,
                               use_cache=False).logits[:, :-1, :]
            logps, _, _ = chunked.token_logps(hidden, head, ids[:, -args.scored:], scored, temperature=1.0, chunk=1024)
        logps.sum().backward()

    for _ in range(2):
        forward_backward()  # warm-up: CPU kernels are built per shape
    start = time.perf_counter()
    for _ in range(args.repeats):
        forward_backward()
    seconds = (time.perf_counter() - start) / args.repeats
    if args.profile:
        from torch.profiler import ProfilerActivity, profile

        with profile(activities=[ProfilerActivity.CPU]) as prof:
            forward_backward()
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
    kind = "math" if args.math else "flash"
    print(f"{args.rows} row(s) x {args.tokens} tokens ({args.scored} scored), SDPA {kind}: {seconds * 1000:.0f} ms a forward + backward")
    print(f"update_tokens_per_s={args.rows * args.tokens / seconds:.0f}")


if __name__ == "__main__":
    main()
