"""GRPO step time of the AgeMem recipe's CPU default: where a step's seconds go.

Builds the trainer `recipes/agemem.py` builds (same model, env, G, tasks, token limits), with the
SFT warm start replaced by a small fixed adapter so the policy writes tool calls as it does after
the warm start (made once from 8 expert episodes and cached in runs/step_time/adapter; pass
--adapter to use another, --no-adapter for the untrained base). Times --steps GRPO steps after
--warmup steps and prints a per-step table, then:

    rollout_tokens_per_s=<policy tokens sampled per second of rollout wall time>
    limit_fraction=<the update's FLOPs at 6 * params * tokens / step time, over this machine's bf16 matmul rate>
                   (tokens: those of the rows the update ran; rows whose advantage is 0 everywhere are skipped)
    grpo_step_s=<mean wall seconds of one GRPO step>

    python bench/step_time.py                       # ~4 min on 2 CPU cores
    python bench/step_time.py --bf16 false          # the fp32 path, for a side-by-side
    python bench/step_time.py -- --skip_zero_advantage_rows false   # any trainer flag after --
Goal (issue #18): grpo_step_s <= 30 and rollout_tokens_per_s >= 150 on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "recipes"))

import torch  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

ADAPTER = "runs/step_time/adapter"


def matmul_gflops(dtype: torch.dtype, n: int = 2048, seconds: float = 3.0, device: torch.device | str = "cpu") -> float:
    """The dense matmul rate in ``dtype`` on ``device``, where the update runs (the roofline it is
    judged against). On a GPU n grows to 8192: a 2048 product is too short to reach its peak."""
    device = torch.device(device)
    n = 8192 if device.type == "cuda" else n
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
        if device.type == "cuda":
            torch.cuda.synchronize()  # else the loop times the launches, not the products
    return 2 * n**3 * count / (time.perf_counter() - start) / 1e9


class StepClock(TrainerCallback):
    def __init__(self):
        self.started, self.walls = 0.0, []

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        self.walls.append(time.perf_counter() - self.started)


def bf16_flag(value: str) -> list[str]:
    return [] if value == "auto" else ["--bf16", value]


def make_adapter(path: str, bf16: str) -> None:
    """The warm start, small: 8 expert episodes of the recipe's env, saved as a LoRA adapter."""
    from agemem import CPU_DEFAULTS

    from memrl.train import build_trainer
    from memrl.train.run import parse_config

    config, model_args = parse_config(["--output_dir", os.path.dirname(path), "--sft_warm_start_episodes", "8", "--max_steps", "1",
                                       "--disable_tqdm", "true", *bf16_flag(bf16)], defaults=CPU_DEFAULTS)
    trainer = build_trainer(config, model_args=model_args)  # runs the warm start and saves its adapter to <output_dir>/sft
    os.replace(os.path.join(config.output_dir, "sft"), path)
    del trainer


def build(args: argparse.Namespace, clock: StepClock):
    from agemem import CPU_DEFAULTS
    from peft import PeftModel

    from memrl.models import load_model_and_tokenizer
    from memrl.train import build_trainer
    from memrl.train.run import parse_config

    argv = ["--output_dir", "runs/step_time/run", "--sft_warm_start_episodes", "0", "--save_strategy", "no",
            "--max_steps", str(args.warmup + args.steps), "--disable_tqdm", "true", *bf16_flag(args.bf16), *args.extra]
    config, model_args = parse_config(argv, defaults=CPU_DEFAULTS)
    model, tokenizer = load_model_and_tokenizer(model_args.model_name_or_path, dtype=config.model_dtype)
    if args.adapter:
        model = PeftModel.from_pretrained(model, args.adapter, is_trainable=True)
    trainer = build_trainer(config, model_args=model_args, model=model, tokenizer=tokenizer, callbacks=[clock])
    return config, trainer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=3, help="timed GRPO steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--adapter", default=ADAPTER, help="LoRA adapter to start from (made once if it is the default and missing)")
    ap.add_argument("--no-adapter", dest="adapter", action="store_const", const=None, help="start from the untrained base")
    ap.add_argument("--bf16", default="auto", help="auto (bf16 where the CPU has it), true or false")
    ap.add_argument("extra", nargs="*", help="more recipe flags after --, e.g. -- --gradient_checkpointing true")
    args = ap.parse_args()
    if args.adapter == ADAPTER and not os.path.exists(os.path.join(ADAPTER, "adapter_config.json")):
        print(f"making the fixed warm-start adapter in {ADAPTER} (once)")
        make_adapter(ADAPTER, args.bf16)

    clock = StepClock()
    config, trainer = build(args, clock)
    profiles: list[dict[str, float]] = []
    trainer.add_callback(_Profiles(trainer, profiles))
    trainer.train()

    named = list(trainer.accelerator.unwrap_model(trainer.model).named_parameters())
    params = sum(p.numel() for name, p in named if "lora_" not in name)  # the base model's weights
    rate = matmul_gflops(torch.bfloat16, device=named[0][1].device) * 1e9
    timed = list(zip(clock.walls, profiles))[args.warmup :]
    table = Table("step", "wall s", "rollout s", "old/ref logp s", "update s", "rows", "trained rows", "real tok", "padded tok",
                  "sampled tok", "sampled tok/s", title=f"GRPO steps, AgeMem CPU default, bf16={config.bf16}, {trainer.accelerator.device}")
    for i, (wall, p) in enumerate(timed, start=args.warmup + 1):
        update = wall - p["rollout_s"] - p["logps_s"]
        table.add_row(str(i), f"{wall:.1f}", f"{p['rollout_s']:.1f}", f"{p['logps_s']:.1f}", f"{update:.1f}", f"{p['rows']:.0f}",
                      f"{p.get('trained_rows', p['rows']):.0f}", f"{p['real_tokens']:.0f}", f"{p['padded_tokens']:.0f}", f"{p['sampled_tokens']:.0f}",
                      f"{p['sampled_tokens'] / p['rollout_s']:.1f}")
    Console(width=160).print(table)
    step_s = statistics.fmean(w for w, _ in timed)
    rollout_tps = sum(p["sampled_tokens"] for _, p in timed) / sum(p["rollout_s"] for _, p in timed)
    update_s = statistics.fmean(w - p["rollout_s"] - p["logps_s"] for w, p in timed)
    tokens = statistics.fmean(p.get("trained_tokens", p["real_tokens"]) for _, p in timed)  # what the update ran
    print(f"model params {params / 1e6:.1f}M; bf16 matmul {rate / 1e9:.0f} GFLOPS; update {update_s:.1f} s for {tokens:.0f} tokens")
    print(f"rollout_tokens_per_s={rollout_tps:.1f}")
    print(f"limit_fraction={6 * params * tokens / step_s / rate:.3f}")
    print(f"grpo_step_s={step_s:.1f}")


class _Profiles(TrainerCallback):
    """Copies the trainer's per-generation profile at the end of every step."""

    def __init__(self, trainer, out: list):
        self.trainer, self.out = trainer, out

    def on_step_end(self, args, state, control, **kwargs):
        self.out.append(dict(self.trainer.profile))


if __name__ == "__main__":
    main()
