"""Does RL move the embedded model? SmolLM2-135M-Instruct + LoRA on the reference environment
(FactRecall, token-F1 reward) for a fixed number of GRPO steps on CPU; mean reward on held-out
tasks (validation split, greedy) before and after, in one run.

    python bench/learning.py                 # ~25 min on 2 cores with the defaults
    python bench/learning.py --steps 2 --eval-tasks 4   # a quick look
Last line: reward_gain=<after - before>.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

from memrl.env.registry import make
from memrl.models import load_model_and_tokenizer
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams
from memrl.rollout.backends.hf import HFBackend
from memrl.train import MemRLConfig, build_trainer

ENV = "memrl/FactRecall-v0"


def held_out(model, tok, tasks, max_new: int) -> float:
    engine = RolloutEngine(HFBackend(model, tok), limits=RolloutLimits(max_new_tokens=max_new),
                           sampling=SamplingParams(max_new_tokens=max_new, temperature=0))
    trajs = engine.rollout(lambda: make(ENV, metric="f1"), tasks, group_size=1, seed=0)
    return statistics.fmean(t.reward for t in trajs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--eval-tasks", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    args = ap.parse_args()
    model, tok = load_model_and_tokenizer(None)
    tasks = make(ENV).make_tasks("validation", args.eval_tasks, seed=0)
    config = MemRLConfig(
        output_dir=tempfile.mkdtemp(prefix="memrl-bench-"), env_id=ENV, env_kwargs={"metric": "f1"},
        max_steps=args.steps, learning_rate=2e-4, per_device_train_batch_size=8, num_generations=4,
        max_new_tokens_per_turn=args.max_new_tokens, max_context_tokens=1536, temperature=1.0,
        save_strategy="no", report_to=[], logging_steps=1, beta=0.0, seed=0,
    )
    trainer = build_trainer(config, model=model, tokenizer=tok)
    t0 = time.perf_counter()
    before = held_out(trainer.model, tok, tasks, args.max_new_tokens)
    t_eval = time.perf_counter() - t0
    t0 = time.perf_counter()
    trainer.train()
    t_train = time.perf_counter() - t0
    after = held_out(trainer.model, tok, tasks, args.max_new_tokens)
    print(f"held-out tasks={len(tasks)} before={before:.4f} after={after:.4f} "
          f"train_s={t_train:.0f} ({t_train / args.steps:.0f} s/step) eval_s={t_eval:.0f}")
    print(f"reward_gain={after - before:.4f}")


if __name__ == "__main__":
    main()
