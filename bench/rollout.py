"""Rollout overhead: how much of rollout wall time is spent outside ``generate``.

(a) Embedded SmolLM2-135M-Instruct on the hf backend, FactRecall, G=8: the share of rollout time
    outside generate, and rollout tokens/s over raw batched generate tokens/s replayed on the
    very same prompts (same batch shapes, same seeds).
(b) Tiny random model and the scripted backend: microseconds per episode-turn outside generate
    (what bounds throughput once vLLM makes generation fast).

    python bench/rollout.py            # ~3 min on 2 CPU cores
Last line: rollout_overhead_ratio=<share outside generate, embedded default>.

(c) --continuous: the embedded model on the hf backend, turn-synchronous generate against
    continuous batching (HFBackend(continuous=True)), same tasks and seeds, one after the other
    in the same process; policy tokens/s of each, decode steps and the share of rows x steps
    that were sampled tokens.

    python bench/rollout.py --continuous --tasks 2 --group 4 --max-new-tokens 192
Last line (c): continuous_speedup=<continuous tokens/s over turn-synchronous tokens/s>.
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

from memrl.actions import ToolCall, render_tool_call
from memrl.env.registry import make
from memrl.models import load_model_and_tokenizer, tiny_model
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams, ScriptedBackend
from memrl.rollout.backends.base import Backend
from memrl.rollout.backends.hf import HFBackend

ENV = "memrl/FactRecall-v0"


class Recording(Backend):
    def __init__(self, inner: Backend):
        super().__init__(inner.tokenizer)
        self.inner, self.calls = inner, []

    def generate(self, prompts, sampling):
        gens = self.inner.generate(prompts, sampling)
        self.calls.append((prompts, sampling))
        return gens


def run(backend: Backend, tasks: int, group: int, max_new: int, seed: int = 0, env: str = ENV):
    engine = RolloutEngine(backend, limits=RolloutLimits(max_new_tokens=max_new),
                           sampling=SamplingParams(max_new_tokens=max_new, temperature=1.0, seed=seed))
    task_rows = make(env).make_tasks("validation", tasks, seed)
    trajs = engine.rollout(lambda: make(env), task_rows, group_size=group, seed=seed)
    return engine.stats, trajs


class CountingSteps(Backend):
    """Counts the decode steps and rows x steps of turn-synchronous generate (each call decodes
    until its longest reply ends)."""

    def __init__(self, inner: Backend):
        super().__init__(inner.tokenizer)
        self.inner, self.steps, self.row_steps = inner, 0, 0

    def generate(self, prompts, sampling):
        gens = self.inner.generate(prompts, sampling)
        longest = max((len(g.token_ids) for g in gens), default=0)
        self.steps += longest
        self.row_steps += longest * len(prompts)
        return gens


def recompute_gap(model, trajs) -> tuple[float, float]:
    """Mean and max |recorded - teacher-forced| log-prob of the policy tokens (temperature 1),
    one forward per segment under the rollout's numerics (bf16 autocast on a bf16 CPU model)."""
    import torch

    from memrl.models.precision import bf16_lora

    gaps = []
    for t in trajs:
        for seg in t.segments:
            ids = torch.tensor([seg.ids])
            with torch.no_grad(), bf16_lora(model):
                logp = torch.log_softmax(model(ids).logits[0, :-1].float(), -1).gather(1, ids[0, 1:, None]).squeeze(1)
            n = len(seg.prompt_ids)
            gaps += [abs(lp - float(logp[n + j - 1])) for j, (lp, m) in enumerate(zip(seg.logprobs, seg.completion_mask)) if m]
    return sum(gaps) / max(len(gaps), 1), max(gaps, default=0.0)


def side_by_side(args: argparse.Namespace) -> None:
    """(c): turn-synchronous generate vs continuous batching on the embedded model."""
    model, tok = load_model_and_tokenizer(None)
    table = Table("hf backend", "episodes", "turns", "policy tok", "rollout s", "tok/s", "decode steps", "sampled share")
    speed = {}
    for name in args.order.split(","):
        continuous = name == "continuous"
        backend = HFBackend(model, tok, continuous=continuous)
        backend = backend if continuous else CountingSteps(backend)
        stats, trajs = run(backend, args.tasks, args.group, args.max_new_tokens, seed=args.seed, env=args.env)
        steps, row_steps = (backend.slots.steps, backend.slots.row_steps) if continuous else (backend.steps, backend.row_steps)
        speed[name] = stats.policy_tokens / stats.total_s
        table.add_row(name, str(len(trajs)), str(stats.episode_turns), str(stats.policy_tokens), f"{stats.total_s:.1f}",
                      f"{speed[name]:.1f}", str(steps), f"{stats.policy_tokens / max(row_steps, 1):.2f}")
        mean_gap, max_gap = recompute_gap(model, trajs)
        print(f"{name}_tokens_per_s={speed[name]:.1f} (recorded vs teacher-forced log-probs: mean |d| {mean_gap:.4f}, "
              f"max {max_gap:.3f} nats)", flush=True)
    Console().print(table)
    print(f"continuous_speedup={speed['continuous'] / speed['synchronous']:.2f}")


def scripted_policy(prompt: str) -> str:
    if "Facts:" in prompt:
        facts = [line[2:] for line in prompt.split("\n") if line.startswith("- ")]
        return "<think>store all</think>" + "".join(render_tool_call(ToolCall("Add_memory", {"content": f})) for f in facts)
    if "<|im_start|>tool" not in prompt:
        return render_tool_call(ToolCall("Retrieve_memory", {"query": prompt.rsplit("Question: ", 1)[-1][:60], "top_k": 2}))
    return "<answer>Paris</answer>"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", type=int, default=2)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--skip-embedded", action="store_true", help="only (b): tiny and scripted")
    ap.add_argument("--continuous", action="store_true", help="only (c): turn-synchronous vs continuous batching")
    ap.add_argument("--order", default="synchronous,continuous", help="(c): which runs first")
    ap.add_argument("--env", default=ENV, help="(c): the env played")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.continuous:
        return side_by_side(args)
    table = Table("setting", "episode-turns", "total s", "generate s", "outside share", "outside µs / episode-turn")
    share = None
    if not args.skip_embedded:
        model, tok = load_model_and_tokenizer(None)
        rec = Recording(HFBackend(model, tok))
        stats, _ = run(rec, args.tasks, args.group, args.max_new_tokens)
        share = stats.outside_generate_s / stats.total_s
        table.add_row("embedded hf", str(stats.episode_turns), f"{stats.total_s:.2f}", f"{stats.generate_s:.2f}",
                      f"{share:.4f}", f"{stats.outside_generate_s / stats.episode_turns * 1e6:.0f}")
        # Raw batched generate on the same prompts and seeds: the ceiling for rollout tokens/s.
        t0, raw_tokens = time.perf_counter(), 0
        for prompts, sampling in rec.calls:
            raw_tokens += sum(len(g.token_ids) for g in rec.inner.generate(prompts, sampling))
        raw_s = time.perf_counter() - t0
        speed_ratio = (stats.policy_tokens / stats.total_s) / (raw_tokens / raw_s)
        Console().print(f"embedded: rollout {stats.policy_tokens / stats.total_s:.1f} tok/s, raw generate "
                        f"{raw_tokens / raw_s:.1f} tok/s on the same batches -> ratio {speed_ratio:.3f}")
    tiny_m, tiny_tok = tiny_model(seed=0)
    for name, backend in (("tiny hf", HFBackend(tiny_m, tiny_tok)), ("scripted", ScriptedBackend(tiny_tok, scripted_policy))):
        stats, _ = run(backend, 8, args.group, args.max_new_tokens)
        table.add_row(name, str(stats.episode_turns), f"{stats.total_s:.2f}", f"{stats.generate_s:.2f}",
                      f"{stats.outside_generate_s / stats.total_s:.4f}",
                      f"{stats.outside_generate_s / stats.episode_turns * 1e6:.0f}")
        print(f"{name}_outside_us_per_episode_turn={stats.outside_generate_s / stats.episode_turns * 1e6:.0f}")
    Console().print(table)
    if share is not None:
        print(f"rollout_overhead_ratio={share:.4f}")


if __name__ == "__main__":
    main()
