"""GRPO-family training on segmented multi-turn trajectories, as a TRL GRPOTrainer subclass.

TRL keeps what it does well (the clipped token-level loss, KL to the LoRA-disabled base,
entropy, the optimizer loop, accelerate/DeepSpeed/FSDP, logging, checkpoints); memrl replaces
generation and scoring: episodes are played by the rollout engine, every segment becomes a row,
and each row's tokens carry their trajectory's advantage.
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import time
from typing import Any, Callable

import torch
from datasets import Dataset
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR, rotate_checkpoints
from trl import GRPOTrainer
from trl.models import unwrap_model_for_generation
from trl.trainer.utils import entropy_from_logits, selective_log_softmax, use_adapter

from memrl.env.registry import make
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams, make_backend, save_trajectories
from memrl.rollout.engine import RolloutStats
from memrl.rollout.segments import Trajectory
from memrl.rollout.summary import summarize
from memrl.models.precision import bf16_lora
from memrl.train import chunked, microbatch
from memrl.train.advantages import group_advantages
from memrl.train.batch import Row, collate, pad_rows, round_up, rows_from_trajectories, trajectory_weights
from memrl.train.config import MemRLConfig
from memrl.train.logging import JsonlLogger


def _scored_by_memrl(completions: list, **kwargs: Any) -> list[float]:
    """Placeholder reward for TRL's constructor: memrl scores whole trajectories itself."""
    raise RuntimeError("memrl computes rewards on trajectories; TRL's reward path must not run")


def tasks_dataset(tasks: list[dict[str, Any]]) -> Dataset:
    """Tasks as a datasets.Dataset TRL can sample from (the task travels as JSON: task fields
    differ between environments and Arrow wants one schema)."""
    return Dataset.from_list([{"prompt": [{"role": "user", "content": ""}], "task": json.dumps(t)} for t in tasks])


def sample_segments(rows: list[Row], group_of: Callable[[int], int], k: int, seed: int) -> list[Row]:
    """DCPO's fixed number of segments per group: ``k`` rows drawn without replacement from each
    group's rows (all of them when it has fewer), order kept. Advantages were already computed
    over the group's unique trajectories, so the sample changes which tokens are trained on,
    never the credit a segment carries; the seed makes a resumed run draw the same rows."""
    by_group: dict[int, list[int]] = {}
    for i, row in enumerate(rows):
        by_group.setdefault(group_of(row.trajectory), []).append(i)
    keep: set[int] = set()
    for group, members in by_group.items():
        keep.update(random.Random(f"{seed}/{group}").sample(members, min(k, len(members))))
    return [row for i, row in enumerate(rows) if i in keep]


def _flat(rewards: list[float]) -> bool:
    """Whether a group's samples all scored the same (then every advantage in it is 0)."""
    return max(rewards) - min(rewards) <= 1e-9


def _summed(stats: list[RolloutStats]) -> RolloutStats:
    """Several rollouts' stats as one (dynamic sampling's rounds)."""
    return RolloutStats(**{f.name: sum(getattr(s, f.name) for s in stats) for f in dataclasses.fields(RolloutStats)})


def _batch_profile(out: dict[str, Any], policy_mask: torch.Tensor, t_rollout: float, t_logps: float,
                   sampled: int) -> dict[str, float]:
    """Where one generation batch's time and tokens went (``bench/step_time.py`` reads it)."""
    real = int(out["prompt_mask"].sum() + out["completion_mask"].sum())
    padded = out["prompt_ids"].numel() + out["completion_ids"].numel()
    return {"rollout_s": t_rollout, "logps_s": t_logps, "rows": float(out["prompt_ids"].size(0)),
            "real_tokens": float(real), "padded_tokens": float(padded),
            "policy_tokens": float(policy_mask.sum()), "sampled_tokens": float(sampled)}


class MemoryGRPOTrainer(GRPOTrainer):
    """Step-wise GRPO / DCPO / multi-conversation DAPO: one advantage per trajectory from its
    group of ``num_generations``, broadcast to every policy token of every segment."""

    def __init__(
        self,
        model: Any,
        args: MemRLConfig,
        *,
        processing_class: Any,
        train_tasks: list[dict[str, Any]] | None = None,
        env_factory: Callable[[], Any] | None = None,
        rewards: Any = None,
        peft_config: Any = None,
        callbacks: list | None = None,
        backend_kwargs: dict[str, Any] | None = None,
    ):
        self.env_factory = env_factory or (lambda: make(args.env_id, **args.env_kwargs))
        if train_tasks is None:
            train_tasks = self.env_factory().make_tasks("train", args.train_tasks, args.task_seed)
        if rewards is None and args.reward_plugins:
            from memrl.scoring import RewardSet

            rewards = RewardSet(args.reward_plugins)
            if train_tasks:  # a missing task column fails now, not after the first episodes
                rewards.check_fields(list(train_tasks[0]))
        self.rewards = rewards  # None: the environment's own reward
        self.task_pool = train_tasks  # where dynamic sampling draws fresh tasks from
        super().__init__(
            model=model,
            reward_funcs=[_scored_by_memrl],
            args=args,
            train_dataset=tasks_dataset(train_tasks),
            processing_class=processing_class,
            peft_config=peft_config,
            callbacks=[JsonlLogger(), *(callbacks or [])],
        )
        tok = self.processing_class
        self.pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        options = {"continuous": args.continuous_batching, "merge_lora": args.merge_lora_rollouts} if args.backend == "hf" else {}
        backend = make_backend(args.backend, model=self.accelerator.unwrap_model(self.model), tokenizer=tok,
                               **{**options, **(backend_kwargs or {})})
        self.engine = RolloutEngine(
            backend,
            limits=RolloutLimits(args.max_turns, args.max_new_tokens_per_turn, args.max_context_tokens, args.max_episode_tokens),
            sampling=SamplingParams(args.max_new_tokens_per_turn, args.temperature, args.top_p or 1.0, args.top_k or 0, args.seed),
            progress="rollout" if (not args.disable_tqdm and self.accelerator.is_main_process) else False,
        )
        self._synced_step = -1
        self.profile: dict[str, float] = {}  # the last generation batch's times and token counts
        self._loss_chunk: dict[str, Any] | None = None  # the micro-batch whose loss is being computed

    # -- ROLLOUT ---------------------------------------------------------------------------------
    def _rollout(self, inputs: list[dict[str, Any]]) -> list[Trajectory]:
        first = self.accelerator.process_index * len(inputs)  # this rank's slice of the global generation batch (TRL's layout)
        G, step = self.num_generations, self.state.global_step
        return self._play([(g // G, g % G, json.loads(row["task"]), self._sample_seed(step, g))
                           for g, row in enumerate(inputs, start=first)])

    def _sample_seed(self, step: int, g: int, round_: int = 0) -> int:
        """Seed of global row ``g``'s episode: from (step, row, refill round), so a resumed run samples what a straight one did."""
        return self.args.seed * 1_000_003 + step * 10_007 + g + round_ * 7_919_993

    def _play(self, items: list[tuple[int, int, dict[str, Any], int]]) -> list[Trajectory]:
        """Play ``items`` (group, sample, task, seed) on the current weights (synced once a step)."""
        backend, step = self.engine.backend, self.state.global_step
        with unwrap_model_for_generation(
            self.model_wrapped, self.accelerator, gather_deepspeed3_params=self.args.ds3_gather_for_generation
        ) as policy:
            if self._synced_step != step:  # new weights since the last rollout
                # A vLLM server holds one copy of the weights: one rank pushes, all wait.
                if backend.name != "vllm-server" or self.accelerator.is_main_process:
                    backend.sync_weights(policy)
                if backend.name == "vllm-server":
                    self.accelerator.wait_for_everyone()
                self._synced_step = step
            self.engine.sampling = dataclasses.replace(self.engine.sampling, seed=items[0][3])
            return self.engine.play([self.env_factory() for _ in items], items)

    def _refill_flat_groups(self, trajectories: list[Trajectory], rewards: list[float]) -> tuple[list[Trajectory], list[float]]:
        """DAPO's dynamic sampling: a group whose samples all scored the same has advantage 0 and
        teaches nothing, so it is replaced by a group of a fresh training task (drawn from the
        train set by (seed, step, process, round)), for at most ``dynamic_sampling_rounds`` more
        rollouts; a group still flat after them stays. Groups are whole on every process
        (the config checks it), so this needs no exchange between processes."""
        G, step = self.num_generations, self.state.global_step
        trajectories, rewards = list(trajectories), list(rewards)
        flat = [k for k in range(len(rewards) // G) if _flat(rewards[k * G:(k + 1) * G])]
        metrics, stats, rounds = self._metrics["train"], [self.engine.stats], 0
        metrics["sampling/flat_groups"].append(float(len(flat)))
        metrics["sampling/reward_before_refill"].append(sum(rewards) / len(rewards))  # "reward" is the refilled batch's
        while flat and rounds < self.args.dynamic_sampling_rounds:
            rounds += 1
            rng = random.Random(f"{self.args.seed}/{step}/{self.accelerator.process_index}/{rounds}")
            tasks = [rng.choice(self.task_pool) for _ in flat]
            groups = [trajectories[k * G].group for k in flat]  # a refill takes its slot's place, group index and seeds
            items = [(group, s, task, self._sample_seed(step, group * G + s, rounds)) for group, task in zip(groups, tasks) for s in range(G)]
            fresh = self._play(items)
            stats.append(self.engine.stats)
            fresh_rewards = self._score(fresh)
            still = []
            for j, k in enumerate(flat):
                new = slice(j * G, (j + 1) * G)
                if _flat(fresh_rewards[new]):
                    still.append(k)
                else:
                    trajectories[k * G:(k + 1) * G], rewards[k * G:(k + 1) * G] = fresh[new], fresh_rewards[new]
            flat = still
        self.engine.stats = _summed(stats)  # the step's profile and logs count every round
        metrics["sampling/refill_rounds"].append(float(rounds))
        metrics["sampling/flat_groups_left"].append(float(len(flat)))
        return trajectories, rewards

    # -- REWARD ------------------------------------------------------------------------------------
    def _score(self, trajectories: list[Trajectory]) -> list[float]:
        """Total reward per trajectory: the env's own, or the configured plugins (validated)."""
        from memrl.scoring import score_trajectories

        # TRL's batch (prompts, conversational completions, completion_ids, task columns) + the episode.
        score_trajectories(trajectories, self.rewards, trainer_state=self.state)
        return [t.reward for t in trajectories]

    # -- ADVANTAGE -------------------------------------------------------------------------------
    def _advantages(self, trajectories: list[Trajectory], rewards: list[float]) -> list[float]:
        # Groups can straddle ranks: gather every rank's rewards, compute over whole groups, slice.
        device = self.accelerator.device
        everything = self.accelerator.gather(torch.tensor(rewards, dtype=torch.float32, device=device)).tolist()
        groups = [i // self.num_generations for i in range(len(everything))]
        adv = group_advantages(everything, groups, baseline=self.args.advantage_baseline, scale=self.args.scale_rewards)
        first = self.accelerator.process_index * len(rewards)
        return adv[first : first + len(rewards)]

    def _rows(self, trajectories: list[Trajectory], advantages: list[float]) -> dict[str, torch.Tensor]:
        rows = rows_from_trajectories(trajectories, advantages)
        if self.args.segments_per_group:
            first = self.accelerator.process_index * len(trajectories)  # global index of trajectory 0
            seed = self.args.seed * 1_000_003 + self.state.global_step
            rows = sample_segments(rows, lambda i: (first + i) // self.num_generations, self.args.segments_per_group, seed)
        device = self.accelerator.device
        # Same row count on every rank (FSDP/ZeRO hang otherwise) and a multiple of
        # steps_per_generation (TRL's split drops a remainder silently): pad with zero-mask rows.
        most = int(self.accelerator.gather(torch.tensor([len(rows)], device=device)).max())
        rows = pad_rows(rows, round_up(max(most, 1), self.args.steps_per_generation), self.pad_id)
        return {k: v.to(device) for k, v in collate(rows, self.pad_id).items()}

    # -- the hook TRL calls once per generation batch -----------------------------------------
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        t0 = time.perf_counter()
        trajectories = self._rollout(inputs)
        rewards = self._score(trajectories)
        if self.args.dynamic_sampling_rounds:
            trajectories, rewards = self._refill_flat_groups(trajectories, rewards)
        t_rollout = time.perf_counter() - t0  # every rollout of the step (and its scoring)
        advantages = self._advantages(trajectories, rewards)
        batch = self._rows(trajectories, advantages)
        return self._finish_batch(trajectories, advantages, batch, t_rollout)

    def _finish_batch(self, trajectories, advantages, batch, t_rollout) -> dict[str, Any]:
        policy_mask = batch.pop("completion_mask")
        real = batch.pop("completion_attention_mask")
        out: dict[str, Any] = {
            "prompt_ids": batch["prompt_ids"],
            "prompt_mask": batch["prompt_mask"],
            "completion_ids": batch["completion_ids"],
            # TRL attends over completion_mask and trains on completion_mask * tool_mask: env tokens
            # must be attended to (the model saw them) but never trained on.
            "completion_mask": real,
            "tool_mask": policy_mask,
            "advantages": batch["advantages"],
            "sampling_per_token_logps": batch["sampling_logps"],
            "num_items_in_batch": self.accelerator.gather(policy_mask.sum()).sum(),
        }
        if self.args.loss_aggregation == "trajectory":
            out["advantages"] = out["advantages"] * self._trajectory_weights(trajectories, batch["row_trajectory"], policy_mask)
        t0 = time.perf_counter()
        out["old_per_token_logps"], out["ref_per_token_logps"] = self._old_and_ref_logps(out)
        t_logps = time.perf_counter() - t0
        self.profile = _batch_profile(out, policy_mask, t_rollout, t_logps, self.engine.stats.policy_tokens)
        self._log_rollout(trajectories, advantages, t_rollout, policy_mask)
        return out

    def _trajectory_weights(self, trajectories, row_trajectory: torch.Tensor, policy_mask: torch.Tensor) -> torch.Tensor:
        device = policy_mask.device
        tokens = torch.tensor([float(sum(s.policy_tokens for s in t.segments)) for t in trajectories], device=device)
        total = self.accelerator.gather(tokens.sum()[None]).sum()
        count = self.accelerator.gather(torch.tensor([float(len(trajectories))], device=device)).sum()
        return trajectory_weights(tokens, row_trajectory.to(device), total, count)[:, None]

    def _old_and_ref_logps(self, batch: dict[str, Any]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Log-probs under the weights the rows were sampled with (only when the update will
        see them after the weights moved) and under the reference (only when ``beta`` > 0):
        passes whose result the loss would not read are skipped."""
        old = ref = None
        with torch.no_grad():
            generate_every = self.args.steps_per_generation * self.num_iterations
            if self.args.gradient_accumulation_steps % generate_every != 0:
                # Rows are updated after the weights moved: keep the logps they were sampled under.
                old = self._batch_logps(self.model, batch)
            if self.beta != 0.0:
                model = self.accelerator.unwrap_model(self.model)
                if hasattr(model, "peft_config"):
                    # The reference is the base with the adapter off: no second copy of the model.
                    with use_adapter(model, adapter_name="ref" if "ref" in model.peft_config else None):
                        ref = self._batch_logps(self.model, batch)
                else:
                    ref = self._batch_logps(self.ref_model, batch)
        return old, ref

    def _batch_logps(self, model: Any, batch: dict[str, Any]) -> torch.Tensor:
        """Per-token log-probs of a whole batch, in the update's length-sorted micro-batches, on
        the policy tokens only (the loss reads no other; 0 elsewhere)."""
        parts = []
        for rows, p_w, c_w in microbatch.plan(batch, self.args.update_tokens_per_forward):
            chunk = microbatch.take(batch, rows, p_w, c_w)
            ids = torch.cat([chunk["prompt_ids"], chunk["completion_ids"]], dim=1)
            attention = torch.cat([chunk["prompt_mask"], chunk["completion_mask"]], dim=1)
            logps, _ = self._completion_logps(model, ids, attention, c_w, self._trained_mask(chunk))
            parts.append((rows, logps))
        return microbatch.scatter(parts, batch["prompt_ids"].size(0), batch["completion_ids"].size(1))

    @staticmethod
    def _trained_mask(batch: dict[str, Any]) -> torch.Tensor:
        """The completion positions the loss trains on: real tokens that are the policy's."""
        mask = batch["completion_mask"]
        return mask * batch["tool_mask"] if "tool_mask" in batch else mask

    # -- UPDATE ------------------------------------------------------------------------------------
    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        """The loss of the whole batch, as a forward + backward per length-sorted micro-batch
        (``memrl.train.microbatch``). All but the last micro-batch are backpropagated here; the
        last one's loss goes back to the Trainer, which backpropagates it and steps, with the
        others' values added as a constant so the logged loss is the batch's."""
        keep = self._rows_with_gradient(inputs)
        several = self.accelerator.num_processes > 1
        if keep is not None and several:
            keep = self._same_row_count_everywhere(inputs, keep)
        chunks = microbatch.plan(inputs, self.args.update_tokens_per_forward, rows=keep,
                                 shared=self._max_over_processes if several else None)
        rows_total = inputs["prompt_ids"].size(0)
        row_tokens = inputs["prompt_mask"].sum(1) + inputs["completion_mask"].sum(1)
        if keep is not None:
            row_tokens = row_tokens[keep.to(row_tokens.device)]
        skipped = 1.0 - row_tokens.numel() / max(rows_total, 1)
        self._metrics["train"]["update/skipped_row_share"].append(skipped)
        # What the update ran, for bench/step_time.py (a generation batch's sum over its calls).
        self.profile["trained_rows"] = self.profile.get("trained_rows", 0.0) + row_tokens.numel()
        self.profile["trained_tokens"] = self.profile.get("trained_tokens", 0.0) + float(row_tokens.sum())
        done = 0.0
        for i, (rows, p_w, c_w) in enumerate(chunks):
            chunk = microbatch.take(inputs, rows, p_w, c_w)
            self._loss_chunk = chunk
            try:
                loss = super().compute_loss(model, chunk, return_outputs, num_items_in_batch)
            finally:
                self._loss_chunk = None
            if i == len(chunks) - 1:
                return loss + done
            self.accelerator.backward(self._scaled_for_accumulation(loss, num_items_in_batch))
            done = done + loss.detach()
        raise AssertionError("microbatch.plan returned no micro-batch")

    def _rows_with_gradient(self, inputs: dict[str, Any]) -> torch.Tensor | None:
        """The rows the update must run (a boolean mask), or None for all of them. A row whose
        trained tokens all have advantage 0 adds exactly 0 to the gradient when the loss has no
        term without the advantage (no KL: beta 0, no entropy bonus) and is normalised by the
        batch's token count, not the micro-batch's (dapo, cispo); then it is left out. At least
        one row is kept, so the step still logs its loss metrics."""
        if (not self.args.skip_zero_advantage_rows or self.beta != 0.0 or self.loss_type not in ("dapo", "cispo")
                or getattr(self, "_entropy_bonus_enabled", False)):
            return None
        trained = self._trained_mask(inputs) > 0
        advantages = inputs["advantages"]
        advantages = advantages[:, None] if advantages.dim() == 1 else advantages
        keep = ((advantages != 0) & trained).any(1)
        if not keep.any():
            counts = trained.sum(1)
            if not counts.any():
                return None
            keep[torch.where(counts > 0, counts, counts.max() + 1).argmin()] = True
        return keep

    def _same_row_count_everywhere(self, inputs: dict[str, Any], keep: torch.Tensor) -> torch.Tensor:
        """``keep`` grown to the largest kept count of any process, with its shortest left-out
        rows (zero-mask padding rows first): their gradient is 0 too, and every process must plan
        the same number of rows (``microbatch.plan``)."""
        most = int(self.accelerator.gather(keep.sum()[None]).max())
        missing = most - int(keep.sum())
        if missing > 0:
            prompt, completion = microbatch.row_lengths(inputs)
            left_out = (~keep).nonzero().flatten()
            shortest = left_out[torch.argsort((prompt + completion)[left_out], stable=True)[:missing]]
            keep = keep.clone()
            keep[shortest] = True
        return keep

    def _max_over_processes(self, lengths: torch.Tensor) -> torch.Tensor:
        return self.accelerator.gather(lengths[None]).amax(0)

    def _scaled_for_accumulation(self, loss: torch.Tensor, num_items_in_batch: Any) -> torch.Tensor:
        """What the Trainer would backpropagate for ``loss`` (it divides by the accumulation steps
        unless the loss is already normalised by the batch's token count)."""
        scaled = self.loss_is_scaled_for_ga
        if scaled is None:
            scaled = (self.model_accepts_loss_kwargs and num_items_in_batch is not None) or self.compute_loss_func is not None
        return loss if scaled else loss / self.current_gradient_accumulation_steps

    def _correct_sampling(self, logps: torch.Tensor, chunk: dict[str, Any]) -> None:
        """The rollout sampled under other numerics than this forward (bf16 kernels, a KV cache,
        another batch shape, or vLLM): log the per-token gap, and with ``sampling_correction``
        weight each token's advantage by the truncated importance ratio
        min(p_train / p_sample, cap), TRL's token-level correction for vLLM rollouts. The
        clipped objective is linear in a positive advantage weight, so this weights the loss."""
        sampled = chunk.get("sampling_per_token_logps")
        if sampled is None:
            return
        mask = (chunk["completion_mask"] * chunk.get("tool_mask", 1.0)).bool()
        old = chunk.get("old_per_token_logps")
        reference = (old if old is not None else logps).detach()
        gap = (reference - sampled)[mask]
        ratio = torch.exp(reference - sampled)
        cap = self.args.sampling_correction_cap
        metrics = self._metrics["train"]
        metrics["rollout/logp_mismatch_mean"].append(gap.abs().mean().item() if gap.numel() else 0.0)
        metrics["rollout/is_ratio_capped_share"].append((ratio[mask] > cap).float().mean().item() if gap.numel() else 0.0)
        if self.args.sampling_correction:
            chunk["advantages"] = chunk["advantages"] * ratio.clamp(max=cap)

    # -- LOG ---------------------------------------------------------------------------------------
    def _log_rollout(self, trajectories, advantages, t_rollout: float, policy_mask: torch.Tensor) -> None:
        metrics = self._metrics["train"]
        summary = summarize(trajectories)
        gathered = self.accelerator.gather_for_metrics
        rewards = gathered(torch.tensor([t.reward for t in trajectories], device=self.accelerator.device))
        metrics["reward"].append(rewards.mean().item())
        metrics["reward_std"].append(rewards.std().item() if rewards.numel() > 1 else 0.0)
        adv = torch.tensor(advantages)
        metrics["advantage/mean"].append(adv.mean().item())
        metrics["advantage/abs_mean"].append(adv.abs().mean().item())
        for key, value in summary.items():
            if key not in ("episodes", "reward/mean"):
                metrics[key].append(value)
        metrics["rollout/episodes"].append(float(rewards.numel()))  # lets plots turn reward_std into a CI
        metrics["tokens/policy"].append(float(policy_mask.sum().item()))
        metrics["time/rollout_s"].append(t_rollout)
        metrics["rollout/outside_generate_share"].append(self.engine.stats.outside_generate_s / max(self.engine.stats.total_s, 1e-9))
        if self.args.save_rollouts and self.accelerator.is_main_process:
            save_trajectories(os.path.join(self.args.output_dir, "rollouts.jsonl"), trajectories, append=True)

    # -- per-token logps ---------------------------------------------------------------------------
    def _get_per_token_logps_and_entropies(
        self, model, input_ids, attention_mask, logits_to_keep, batch_size=None, compute_entropy=False,
        compute_aux_loss=False, **kwargs,
    ):
        if input_ids.device.type != "cpu" or compute_aux_loss or any(v is not None for v in kwargs.values()):
            # On GPU TRL's fused LM head already scores only the labelled positions, in tiles.
            return super()._get_per_token_logps_and_entropies(
                model, input_ids, attention_mask, logits_to_keep, batch_size, compute_entropy, compute_aux_loss, **kwargs
            )
        # On CPU TRL's fused kernel scores every position, prompt included, in 4,096-token tiles;
        # segments have long prompts and short completions, so score only the trained tokens.
        scored = attention_mask[:, -logits_to_keep:]
        if self._loss_chunk is not None:  # inside compute_loss: the micro-batch TRL's loss reads
            scored = self._trained_mask(self._loss_chunk)
        size = batch_size or input_ids.size(0)
        logps, entropies = [], []
        for start in range(0, input_ids.size(0), size):
            rows = slice(start, start + size)
            lp, ent = self._completion_logps(model, input_ids[rows], attention_mask[rows], logits_to_keep, scored[rows])
            logps.append(lp)
            entropies.append(ent)
        logps_all = torch.cat(logps)
        if self._loss_chunk is not None and torch.is_grad_enabled():
            self._correct_sampling(logps_all, self._loss_chunk)  # before TRL's loss reads the advantages
        return logps_all, (torch.cat(entropies) if compute_entropy else None), None

    def _completion_logps(self, model, ids, attention, keep: int, scored: torch.Tensor, **forward_kwargs):
        """Log-probs (differentiable) and entropies (a metric: no graph) of the last ``keep``
        tokens of ``ids``, on the ``scored`` positions only (0 elsewhere), with the full-vocabulary
        logits of ``logits_chunk_tokens`` positions at a time (``memrl.train.chunked``)."""
        unwrapped = self.accelerator.unwrap_model(model)
        head = chunked.plain_head(unwrapped) if self.args.logits_chunk_tokens > 0 else None
        targets = ids[:, -keep:]
        kwargs = dict(input_ids=ids, attention_mask=attention, logits_to_keep=keep + 1, use_cache=False, **forward_kwargs)
        with bf16_lora(unwrapped):
            if head is None:  # chunking off, or logits that are not just head(hidden): all at once
                logits = model(**kwargs).logits[:, :-1, :].float() / self.temperature
                # The entropy is a metric unless TRL's entropy bonus is on: no graph for it then.
                with torch.set_grad_enabled(torch.is_grad_enabled() and self._entropy_bonus_enabled):
                    entropies = entropy_from_logits(logits)
                return selective_log_softmax(logits, targets), entropies
            with chunked.head_off(head):
                hidden = model(**kwargs).logits[:, :-1, :]
            logps, entropies, _ = chunked.token_logps(hidden, head, targets, scored, temperature=self.temperature,
                                                      chunk=self.args.logits_chunk_tokens)
        return logps, entropies

    # -- CHECKPOINT ------------------------------------------------------------------------------
    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """Write the checkpoint into a hidden folder, then rename it into place: a crash mid-save
        never leaves a ``checkpoint-N`` that ``--resume`` would pick up half-written."""
        run_dir = self._get_output_dir(trial=trial)
        staging = os.path.join(run_dir, ".staging")
        name = f"{PREFIX_CHECKPOINT_DIR}-{self.state.global_step}"
        real_output_dir = self.args.output_dir
        if self.args.should_save:
            shutil.rmtree(staging, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        self.args.output_dir = staging
        try:
            super()._save_checkpoint(model, trial)
            if self.args.should_save:
                self._save_extras(os.path.join(staging, name))
        finally:
            self.args.output_dir = real_output_dir
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            final = os.path.join(run_dir, name)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(os.path.join(staging, name), final)
            shutil.rmtree(staging, ignore_errors=True)
            rotate_checkpoints(output_dir=run_dir, save_total_limit=self.args.save_total_limit,
                               best_model_checkpoint=self.state.best_model_checkpoint, use_mtime=False)
        self.accelerator.wait_for_everyone()

    def _save_extras(self, folder: str) -> None:
        """memrl's own files in a checkpoint: the config that trained it, with TRL's ModelConfig (the
        model and its LoRA settings, set by build_trainer) under ``model_config``."""
        config = self.args.to_dict()
        model_args = getattr(self, "model_args", None)
        if model_args is not None:
            config["model_config"] = dataclasses.asdict(model_args)
        with open(os.path.join(folder, "memrl_config.json"), "w") as f:
            json.dump(config, f, indent=1, default=str)
