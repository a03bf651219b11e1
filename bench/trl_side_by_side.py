"""memrl's trainer vs TRL's own multi-turn GRPO, on TRL's ground: an append-only tool-use env.

Both sides train the same model (a fresh copy each, LoRA r=16 on all linear layers) on the same
env (``memrl/FactLookup-v0``: retrieve a fact from memory, then answer), the same training tasks
in the same order (TRL's seeded sampler, which memrl's trainer inherits), the same G, batch,
learning rate, sampling and token budget, for ``--steps`` steps:

- TRL: ``GRPOTrainer(environment_factory=...)`` through ``memrl.integrations.trl``, the env's
  reward as its reward function; ``max_completion_length=T`` (tool results count towards it),
  ``max_tool_calling_iterations`` = the env's turn cap - 1.
- memrl: ``build_trainer(MemRLConfig(...))`` (MemoryGRPOTrainer); ``max_new_tokens_per_turn=T``,
  ``max_episode_tokens=T``, ``max_context_tokens`` = the longest prompt + T.

The chat template is SmolLM2's ChatML with Qwen2.5's tool-call layout (``tool_chat_template``),
and the env lists the tool schemas in its system prompt, so both see the same tokens
(tests/integrations/test_trl.py checks this token for token). Each side runs in a process of its
own, then both trained policies and their common starting point (``start``: the model after the
SFT warm start on the env's expert, ``--warm-start`` episodes, so that the policy already calls
the tool; the bare model with ``--warm-start 0``) are scored by ``memrl.eval`` on the same
held-out test tasks, greedy, same seeds. Step time is the mean wall time of the steps after
``--warmup``; rollout tokens/s counts sampled (policy) tokens per second of rollout.

    python bench/trl_side_by_side.py --model tiny --steps 3 --eval-episodes 8     # a quick check, ~1 min
    python bench/trl_side_by_side.py --out bench/results/trl_side_by_side.txt     # embedded SmolLM2-135M

The last line is ``step_time_ratio=<memrl / trl>`` (goal, issue #24: <= 1.0 with a held-out
score at least TRL's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ENV = "memrl/FactLookup-v0"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="embedded", help="embedded (SmolLM2-135M-Instruct), tiny (random 2-layer), or a path")
    ap.add_argument("--steps", type=int, default=10, help="GRPO steps per side")
    ap.add_argument("--warmup", type=int, default=1, help="first steps left out of the step time")
    ap.add_argument("--G", type=int, default=4, help="num_generations")
    ap.add_argument("--tasks-per-step", type=int, default=2, help="tasks per step (batch = G x this)")
    ap.add_argument("--n-facts", type=int, default=12, help="facts in memory per task")
    ap.add_argument("--per-person", type=int, default=3, help="facts about each person (a lookup by name returns them all)")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="T: the episode's completion budget")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--bf16", default="auto", choices=["auto", "true", "false"], help="auto: what MemRLConfig picks here")
    ap.add_argument("--warm-start", type=int, default=16, help="expert episodes of an SFT warm start both sides start from (0: the bare model)")
    ap.add_argument("--eval-episodes", type=int, default=48, help="held-out test tasks (greedy)")
    ap.add_argument("--no-start", action="store_true", help="skip scoring the starting point (before RL)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="also write the report to this file")
    ap.add_argument("--side", choices=["sft", "trl", "memrl", "start"], help=argparse.SUPPRESS)  # a child process
    ap.add_argument("--json", help=argparse.SUPPRESS)
    ap.add_argument("--adapter", help=argparse.SUPPRESS)  # the warm start's LoRA folder
    args = ap.parse_args(argv)
    if args.steps <= args.warmup:
        ap.error(f"--steps ({args.steps}) must exceed --warmup ({args.warmup})")
    return args


# -- one side, in its own process -------------------------------------------------------------------
def env_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {"n_facts": args.n_facts, "per_person": args.per_person}


def load(args: argparse.Namespace, adapter: str | None = None) -> tuple[Any, Any]:
    """The model in float32 (with ``adapter``, trainable, when given) and the tokenizer with the
    tool-calling template both sides use."""
    from memrl.integrations.trl import tool_chat_template
    from memrl.models import load_model_and_tokenizer, tiny_model

    model, tok = tiny_model(seed=0) if args.model == "tiny" else load_model_and_tokenizer(None if args.model == "embedded" else args.model)
    if adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter, is_trainable=True)
    return model, tool_chat_template(tok)


def frozen_in_bf16(model: Any) -> Any:
    """TRL's side gets the weights memrl's trainer runs on a bf16 CPU (``frozen_weights_in_bf16``):
    the frozen weights in bf16, the LoRA weights in float32, what a TRL user gets by loading the
    model in bf16 (PEFT keeps its adapters in float32). A float32 model under bf16 autocast would be
    slower, and transformers' attention mixes float32 keys with bf16 values under it."""
    import torch

    trained = hasattr(model, "peft_config")
    for param in model.parameters():
        if param.is_floating_point() and not (trained and param.requires_grad):
            param.data = param.data.to(torch.bfloat16)
    return model


def warm_start(args: argparse.Namespace, model: Any, tok: Any, context_cap: int) -> None:
    """memrl's SFT warm start on the env's expert (demonstration tasks seeded apart from the RL
    tasks), saved to ``--adapter``: the one starting point of both sides, so the policy already
    calls Retrieve_memory and episodes are multi-turn."""
    from memrl.env.registry import make
    from memrl.train import MemRLConfig
    from memrl.train.warmstart import sft_warm_start

    out = os.path.dirname(args.adapter)
    config = MemRLConfig(**shared_settings(args, out), env_id=ENV, max_context_tokens=context_cap)
    factory = lambda: make(ENV, **env_kwargs(args))  # noqa: E731
    demos = factory().make_tasks("train", args.warm_start, args.seed + 1)
    sft_warm_start(model, tok, config, lora(), factory, demos)  # saves to <out>/sft


def tasks_and_limits(args: argparse.Namespace, tok: Any) -> tuple[list, list, int]:
    """Train tasks, held-out tasks, and the context cap (longest rendered prompt + T)."""
    from memrl.env.registry import make

    env = make(ENV, **env_kwargs(args))
    train = env.make_tasks("train", args.steps * args.tasks_per_step, args.seed)
    test = env.make_tasks("test", args.eval_episodes, args.seed)
    longest = 0
    for i, task in enumerate(train + test):
        messages, _ = env.reset(seed=i, options={"task": task})
        longest = max(longest, len(tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=True, return_dict=False)))
    return train, test, longest + args.max_new_tokens


def shared_settings(args: argparse.Namespace, output_dir: str) -> dict[str, Any]:
    """The GRPOConfig fields both sides get, unchanged."""
    from memrl.train import MemRLConfig

    bf16 = {"true": True, "false": False}.get(args.bf16)
    if bf16 is None:  # what memrl picks on this machine, given to TRL too
        bf16 = MemRLConfig(output_dir=output_dir, report_to=[]).bf16
    batch = args.G * args.tasks_per_step
    return dict(
        output_dir=output_dir, max_steps=args.steps, per_device_train_batch_size=batch, num_generations=args.G,
        learning_rate=args.lr, temperature=args.temperature, beta=0.0, loss_type="dapo", seed=args.seed,
        bf16=bf16, use_cpu=not _cuda(), gradient_checkpointing=False, logging_steps=1, report_to=[],
        save_strategy="no", disable_tqdm=True,
    )


def lora() -> Any:
    from peft import LoraConfig

    return LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")


class Meter:
    """Step wall times (a TrainerCallback) and rollout seconds / tokens / rows per step."""

    def __init__(self):
        from transformers import TrainerCallback

        meter = self

        class Clock(TrainerCallback):
            def on_step_begin(self, a, state, control, **kw):
                meter._t0 = time.perf_counter()

            def on_step_end(self, a, state, control, **kw):
                meter.step_s.append(time.perf_counter() - meter._t0)

        self.callback = Clock()
        self.step_s: list[float] = []
        self.rollouts: list[dict[str, float]] = []

    def wrap(self, fn, count):
        def timed(*a, **kw):
            t0 = time.perf_counter()
            out = fn(*a, **kw)
            self.rollouts.append({"s": time.perf_counter() - t0, **count(out)})
            return out

        return timed


def trl_counts(out: tuple) -> dict[str, float]:
    _, completion_ids, tool_mask = out[:3]
    policy = sum(sum(m) for m in tool_mask) if tool_mask is not None else sum(len(c) for c in completion_ids)
    total = sum(len(c) for c in completion_ids)
    return {"policy_tokens": policy, "env_tokens": total - policy, "rows": len(completion_ids), "trajectories": len(completion_ids)}


def memrl_counts(trajectories: list) -> dict[str, float]:
    segments = [s for t in trajectories for s in t.segments]
    return {"policy_tokens": sum(s.policy_tokens for s in segments), "env_tokens": sum(s.env_tokens for s in segments),
            "rows": len(segments), "trajectories": len(trajectories)}


def train_trl(args, model, tok, train, context_cap, output_dir, meter):
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from trl import GRPOConfig, GRPOTrainer

    from memrl.integrations.trl import env_reward, environment_factory

    Env = environment_factory(ENV, **env_kwargs(args))
    config = GRPOConfig(**shared_settings(args, output_dir), max_completion_length=args.max_new_tokens,
                        max_tool_calling_iterations=Env.max_tool_calling_iterations)
    if config.bf16 and not _cuda():
        model = frozen_in_bf16(model)
    trainer = GRPOTrainer(model=model, processing_class=tok, reward_funcs=env_reward, args=config,
                          train_dataset=Env.dataset(tokenizer=tok, tasks=train), environment_factory=Env,
                          peft_config=None if hasattr(model, "peft_config") else lora(), callbacks=[meter.callback])
    trainer._generate = meter.wrap(trainer._generate, trl_counts)
    trainer.train()
    return trainer


def train_memrl(args, model, tok, train, context_cap, output_dir, meter):
    from memrl.train import MemRLConfig, build_trainer
    from memrl.train.config import model_config

    config = MemRLConfig(**shared_settings(args, output_dir), env_id=ENV, env_kwargs=env_kwargs(args),
                         max_new_tokens_per_turn=args.max_new_tokens, max_episode_tokens=args.max_new_tokens,
                         max_context_tokens=context_cap)
    # memrl's default LoRA (r 16, alpha 32, no dropout, every linear layer), as lora() gives TRL
    trainer = build_trainer(config, model_args=model_config(lora_r=16, lora_alpha=32, lora_dropout=0.0), model=model, tokenizer=tok, train_tasks=train, callbacks=[meter.callback])
    trainer._rollout = meter.wrap(trainer._rollout, memrl_counts)
    trainer.train()
    return trainer


def held_out(args, model, tok, test, context_cap) -> list[float]:
    from memrl.eval import run_policy

    trajs = run_policy(model, tok, ENV, test, env_kwargs=env_kwargs(args), max_new_tokens=args.max_new_tokens,
                       max_context_tokens=context_cap, temperature=0.0, seed=args.seed, batch_size=16)
    return [float(t.outcome.get("score", 0.0)) for t in trajs]


def run_side(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    from memrl.train.config import cpu_threads_per_process

    if not _cuda():
        torch.set_num_threads(cpu_threads_per_process())  # what MemRLConfig does; TRL's side gets the same
    torch.manual_seed(args.seed)
    model, tok = load(args, None if args.side == "sft" else args.adapter)
    train, test, context_cap = tasks_and_limits(args, tok)
    result: dict[str, Any] = {"side": args.side, "context_cap": context_cap}
    if args.side == "sft":
        warm_start(args, model, tok, context_cap)
        return result
    with tempfile.TemporaryDirectory() as out:
        if args.side != "start":
            meter = Meter()
            t0 = time.perf_counter()
            trainer = (train_trl if args.side == "trl" else train_memrl)(args, model, tok, train, context_cap, out, meter)
            result.update(train_s=time.perf_counter() - t0, step_s=meter.step_s, rollouts=meter.rollouts,
                          steps=trainer.state.global_step)
            # Both policies are scored as saved adapters on a fresh float32 base, loaded alike: a
            # trained model object keeps its trainer's patches (accelerate's autocast forward).
            trainer.save_model(os.path.join(out, "final"))
            del trainer, model
            model, tok = load(args, os.path.join(out, "final"))
        t0 = time.perf_counter()
        result["scores"] = held_out(args, model.eval(), tok, test, context_cap)
        result["eval_s"] = time.perf_counter() - t0
    return result


# -- the report ---------------------------------------------------------------------------------------
def summary(r: dict[str, Any], warmup: int) -> dict[str, float]:
    timed = r["rollouts"][warmup:]
    rollout_s = sum(x["s"] for x in timed)
    return {
        "step_s": statistics.mean(r["step_s"][warmup:]),
        "rollout_s": rollout_s / len(timed),
        "tokens_per_s": sum(x["policy_tokens"] for x in timed) / rollout_s,
        "policy_tokens": statistics.mean(x["policy_tokens"] / x["trajectories"] for x in r["rollouts"]),
        "env_tokens": statistics.mean(x["env_tokens"] / x["trajectories"] for x in r["rollouts"]),
        "rows_per_traj": sum(x["rows"] for x in r["rollouts"]) / sum(x["trajectories"] for x in r["rollouts"]),
    }


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> str:
    from memrl.eval import bootstrap_ci, paired_bootstrap_ci

    lines = [f"$ python bench/trl_side_by_side.py {' '.join(sys.argv[1:])}",
             f"env={ENV} {json.dumps(env_kwargs(args))} model={args.model} steps={args.steps} (timed: {args.steps - args.warmup}) "
             f"G={args.G} batch={args.G * args.tasks_per_step} T={args.max_new_tokens} lr={args.lr} "
             f"held-out={args.eval_episodes} test tasks (greedy) warm start={args.warm_start} expert episodes", ""]
    head = f"{'side':<6} {'step s':>8} {'rollout s':>10} {'tok/s':>8} {'policy tok/ep':>14} {'env tok/ep':>11} {'rows/traj':>10} {'held-out score [95% CI]':>26}"
    lines += [head, "-" * len(head)]
    for side in ("trl", "memrl", "start"):
        r = results.get(side)
        if r is None:
            continue
        lo, hi = bootstrap_ci(r["scores"])
        mean = statistics.mean(r["scores"])
        score = f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"
        if side == "start":
            lines.append(f"{'start':<6} {'':>8} {'':>10} {'':>8} {'':>14} {'':>11} {'':>10} {score:>26}")
            continue
        s = summary(r, args.warmup)
        lines.append(f"{side:<6} {s['step_s']:>8.2f} {s['rollout_s']:>10.2f} {s['tokens_per_s']:>8.1f} {s['policy_tokens']:>14.1f} "
                     f"{s['env_tokens']:>11.1f} {s['rows_per_traj']:>10.2f} {score:>26}")
    ratio = summary(results["memrl"], args.warmup)["step_s"] / summary(results["trl"], args.warmup)["step_s"]
    diff, lo, hi = paired_bootstrap_ci(results["memrl"]["scores"], results["trl"]["scores"])
    lines += ["", f"held-out score memrl - trl, same tasks: {diff:+.3f} [95% CI {lo:+.3f}, {hi:+.3f}]",
              f"step_time_ratio={ratio:.3f}"]
    return "\n".join(lines)


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main() -> None:
    args = parse_args()
    if args.side:
        result = run_side(args)
        with open(args.json, "w") as f:
            json.dump(result, f)
        return
    results = {}
    sides = (["sft"] if args.warm_start else []) + ["trl", "memrl"] + ([] if args.no_start else ["start"])
    with tempfile.TemporaryDirectory() as tmp:
        adapter = ["--adapter", os.path.join(tmp, "sft")] if args.warm_start else []
        for side in sides:
            path = os.path.join(tmp, f"{side}.json")
            print(f"-- {side} ...", flush=True)
            # One process per side: neither inherits the other's allocator, threads or caches.
            subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:], *adapter, "--side", side, "--json", path],
                           cwd=ROOT, check=True)
            with open(path) as f:
                results[side] = json.load(f)
    text = report(args, results)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
