"""Learning curves on held-out tasks: a fixed validation set played greedily every ``eval_every``
RL steps, at step 0 (the warm start, before any RL) and after the last step.

Why not TRL's ``eval_strategy``: its loop scores single completions of a dataset, while a memory
agent is judged on whole episodes. This callback plays episodes through memrl's rollout engine on
the trainer's own backend (the current weights, LoRA adapter included: nothing is saved or
reloaded), scores them as ``memrl eval`` does (the env's score, unanswered = 0, a bootstrap CI)
and appends one ``phase: "eval"`` row per evaluation to ``log.jsonl``::

    {"step": 4, "phase": "eval", "eval/score": 0.41, "eval/score_ci_low": 0.29, ...}

``memrl eval --training-log`` draws those rows as the held-out panel of ``learning_curve.png``.
"""

from __future__ import annotations

import json
import os
import time
from statistics import fmean
from collections import Counter
from typing import Any, Callable

from transformers import TrainerCallback

from memrl.errors import UserError
from memrl.eval.metrics import episode_record, score_name
from memrl.eval.runner import score_trajectories
from memrl.eval.stats import bootstrap_ci
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams
from memrl.memory.base import OP_KINDS
from memrl.memory.context import CONTEXT_OP_KINDS
from memrl.rollout.summary import TRUNCATION_REASONS


def held_out_tasks(config: Any, env_factory: Callable[[], Any] | None = None) -> list[dict[str, Any]]:
    """The fixed validation tasks ``config`` asks for ([] when ``eval_every`` is 0), checked:
    one UserError line for a bad ``eval_every`` / ``eval_tasks`` or a split that cannot hold them.
    Called before any model loads. ``env_factory`` defaults to the config's env."""
    every, n, split = config.eval_every, config.eval_tasks, config.eval_split
    if every < 0:
        raise UserError(f"eval_every ({every}) must be >= 0 (0 = no held-out evaluation; K = every K steps)")
    if every == 0:
        return []
    if n < 1:
        raise UserError(f"eval_tasks ({n}) must be at least 1 when eval_every is set")
    from memrl.env.splits import SPLITS

    if split not in SPLITS:
        raise UserError(f"eval_split ({split!r}) must be one of {', '.join(SPLITS)}")
    if env_factory is None:
        from memrl.env.registry import make

        env_factory = lambda: make(config.env_id, **config.env_kwargs)  # noqa: E731
    env = env_factory()
    try:
        # The task seed of the run, on another split than training: fixed for the whole run, and
        # never a task the policy trained on.
        tasks = env.make_tasks(split, n, config.task_seed)
    except ValueError as exc:  # more distinct tasks than the generator (or the data file) holds
        raise UserError(f"eval_tasks ({n}): {config.env_id} cannot make {n} {split} tasks ({exc}); lower --eval_tasks") from None
    finally:
        env.close()
    if len(tasks) < n:
        raise UserError(f"eval_tasks ({n}): {config.env_id} has only {len(tasks)} {split} tasks; lower --eval_tasks to {len(tasks)}")
    return list(tasks)


class HeldOutEval(TrainerCallback):
    """Plays ``tasks`` greedily with the trainer's current policy at step 0, every ``every`` steps
    and at the end; rank 0 appends each result to ``<output_dir>/log.jsonl``."""

    def __init__(self, trainer: Any, tasks: list[dict[str, Any]], every: int):
        self.trainer, self.tasks, self.every = trainer, tasks, every
        self.last_step: int | None = None
        env = trainer.env_factory()
        self.metric, self.env_name = score_name(env), getattr(trainer.args, "env_id", type(env).__name__)
        env.close()
        self.model_name = model_name(trainer)

    # -- when -------------------------------------------------------------------------------------
    def on_train_begin(self, args, state, control, **kwargs):
        # A resumed run starts past 0: its warm-start point is in the log of the run it continues.
        if state.global_step == 0:
            self.evaluate(state)

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.every == 0:
            self.evaluate(state)

    def on_train_end(self, args, state, control, **kwargs):
        if self.last_step != state.global_step:
            self.evaluate(state)

    # -- what ---------------------------------------------------------------------------------------
    def evaluate(self, state: Any) -> dict[str, Any]:
        """One evaluation with the weights as they are now; the trainer is left as it was."""
        trainer = self.trainer
        was_training = trainer.model.training
        t0 = time.perf_counter()
        try:
            records = self._play(state.global_step)
        finally:
            trainer.model.train(was_training)
            # The backend's prefix cache now holds the held-out prompts: drop them, so the next
            # rollout starts from the state it would have had without this evaluation.
            trainer.engine.backend.clear_cache()
        row = self._row(state.global_step, records, time.perf_counter() - t0)
        self.last_step = state.global_step
        if state.is_world_process_zero:
            self._write(row)
        return row

    def _play(self, step: int) -> list[dict[str, Any]]:
        """This rank's share of the tasks, then every rank's records (task order kept)."""
        from accelerate.utils import gather_object
        from trl.models import unwrap_model_for_generation

        trainer = self.trainer
        accelerator, args = trainer.accelerator, trainer.args
        mine = list(range(len(self.tasks)))[accelerator.process_index :: accelerator.num_processes]
        with unwrap_model_for_generation(trainer.model_wrapped, accelerator,
                                         gather_deepspeed3_params=args.ds3_gather_for_generation) as policy:
            sync_backend(trainer, policy, step)
            trajs = self._episodes(mine)
        score_trajectories(trajs, trainer.rewards)
        records = [(i, episode_record(t, None)) for i, t in zip(mine, trajs)]
        if accelerator.num_processes > 1:
            records = gather_object(records)
        return [r for _, r in sorted(records, key=lambda x: x[0])]

    def _episodes(self, indices: list[int]) -> list[Any]:
        """Greedy episodes, ``per_device_eval_batch_size`` per batched generate; episode ``i``
        gets env seed ``i``, as ``memrl eval --seed 0`` gives it."""
        trainer, args = self.trainer, self.trainer.args
        limits = RolloutLimits(args.max_turns, args.max_new_tokens_per_turn, args.max_context_tokens, args.max_episode_tokens)
        # An engine of its own: the training engine's sampling and stats stay untouched. Greedy
        # needs no seed, and a seed would reset torch's global RNG in the middle of training.
        engine = RolloutEngine(trainer.engine.backend, limits=limits, record_turns=False,
                               sampling=SamplingParams(args.max_new_tokens_per_turn, temperature=0.0, seed=None))
        size = max(1, args.per_device_eval_batch_size)
        trajs: list[Any] = []
        for start in range(0, len(indices), size):
            chunk = indices[start : start + size]
            items = [(i, 0, self.tasks[i], i) for i in chunk]
            trajs += engine.play([trainer.env_factory() for _ in chunk], items)
        return trajs

    def _row(self, step: int, records: list[dict[str, Any]], wall_s: float) -> dict[str, Any]:
        scores = [r["score"] for r in records]
        low, high = bootstrap_ci(scores)
        row: dict[str, Any] = {
            "step": step, "phase": "eval", "time": time.time(),
            "eval/score": fmean(scores), "eval/score_ci_low": low, "eval/score_ci_high": high,
            "eval/episodes": len(records),
            "eval/answered_rate": fmean(float(r["answered"]) for r in records),
            "eval/success_rate": fmean(float(r["success"]) for r in records),
            "eval/reward": fmean(r["reward"] for r in records),
            "eval/format_error_rate": fmean(r["format_errors"] / max(r["turns"], 1) for r in records),
            "eval/turns_mean": fmean(r["turns"] for r in records),
            "eval/time_s": wall_s,
            # What the numbers are, on every row (a log cut short still names its curve).
            "eval/metric": self.metric, "eval/split": self.trainer.args.eval_split, "eval/env": self.env_name,
            "eval/model": self.model_name,
        }
        row.update(per_episode_counts(records))
        return row

    def _write(self, row: dict[str, Any]) -> None:
        output_dir = self.trainer.args.output_dir
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "log.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        print(f"held-out {row['eval/metric']} at step {row['step']}: {row['eval/score']:.3f} "
              f"[{row['eval/score_ci_low']:.3f}, {row['eval/score_ci_high']:.3f}] on {row['eval/episodes']} "
              f"{row['eval/split']} tasks (greedy)", flush=True)


def model_name(trainer: Any) -> str:
    """The policy's base model as it was loaded (a hub id or a folder), whatever config names it."""
    model = trainer.accelerator.unwrap_model(trainer.model)
    name = getattr(getattr(model, "config", None), "name_or_path", None)
    return str(name or getattr(trainer.args, "model_name_or_path", None) or "unnamed model")


def per_episode_counts(records: list[dict[str, Any]]) -> dict[str, float]:
    """Memory ops by kind and truncations by reason per episode, every kind on every row (zeros
    included, as on the training rows), under the training rows' names with ``eval/`` before."""
    ops: Counter[str] = Counter({kind: 0 for kind in (*OP_KINDS, *CONTEXT_OP_KINDS, "env_error")})
    reasons: Counter[str] = Counter({reason: 0 for reason in TRUNCATION_REASONS})
    for r in records:
        ops.update(r["memory_ops"])
        reasons.update([r["truncated"]] if r["truncated"] else [])
    n = max(len(records), 1)
    return {**{f"eval/memory/ops/{k}": v / n for k, v in sorted(ops.items())},
            **{f"eval/truncated/{k}": v / n for k, v in sorted(reasons.items())}}


def sync_backend(trainer: Any, policy: Any, step: int) -> None:
    """The trainer's weight sync before a rollout (``MemoryGRPOTrainer._rollout``): the hf backend
    samples from the model object itself; vLLM needs the weights pushed once per step. Marking the
    step synced lets the next training rollout skip a second push of the same weights."""
    backend = trainer.engine.backend
    if trainer._synced_step == step:
        return
    if backend.name != "vllm-server" or trainer.accelerator.is_main_process:
        backend.sync_weights(policy)
    if backend.name == "vllm-server":
        trainer.accelerator.wait_for_everyone()
    trainer._synced_step = step


def add_held_out_eval(trainer: Any, tasks: list[dict[str, Any]]) -> None:
    """Wire the callback (nothing when ``tasks`` is empty, i.e. ``eval_every`` is 0)."""
    if tasks:
        trainer.add_callback(HeldOutEval(trainer, tasks, trainer.args.eval_every))

