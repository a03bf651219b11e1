"""PPO with a critic and GAE over each trajectory's policy tokens, across its segments.

MEM1 and Memory-R1 trained with PPO. TRL 1.16 has no PPO trainer, so this one reuses the GRPO
trainer's machinery (rollout, rows, padding, atomic checkpoints, accelerate) and changes the
credit: a value head on the policy's last hidden state (shared backbone, so LoRA adapts both),
GAE over the policy tokens of a trajectory in order (env tokens are not steps, and credit flows
from a later segment into earlier ones), and a clipped value loss beside the clipped policy loss.
"""

from __future__ import annotations

import os
import time
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from memrl.train import microbatch
from memrl.train.advantages import gae
from memrl.train.grpo import MemoryGRPOTrainer

VALUE_HEAD = "value_head.safetensors"


def _add_values(module: nn.Module, args: Any, output: Any) -> Any:
    hidden = getattr(output, "hidden_states", None)
    if hidden is not None:
        # Kept beside the output, not in it: DDP rebuilds the output dataclass from its fields.
        module.value_preds = module.v_head(hidden[-1].to(module.v_head.weight.dtype)).squeeze(-1)
    return output


class MemoryPPOTrainer(MemoryGRPOTrainer):
    """PPO: per-token advantages from GAE with a learned value head; outcome reward on the last
    policy token of the trajectory."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        model = self.accelerator.unwrap_model(self.model)
        hidden = model.config.get_text_config().hidden_size
        # A submodule of the policy, so the Trainer's optimizer, DDP and device moves include it.
        model.v_head = nn.Linear(hidden, 1).to(device=next(model.parameters()).device)
        nn.init.zeros_(model.v_head.weight)
        nn.init.zeros_(model.v_head.bias)
        # Values are computed in a forward hook, inside the (DDP-wrapped) forward: a head applied
        # after DDP's forward trips its "parameter marked ready twice" check.
        model.register_forward_hook(_add_values)

    @property
    def v_head(self) -> nn.Linear:
        return self.accelerator.unwrap_model(self.model).v_head

    # -- forward: logps, entropies and values in one pass -----------------------------------------
    def _forward(self, model: Any, batch: dict[str, torch.Tensor], scored: torch.Tensor | None = None,
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probs and entropies on the ``scored`` positions (default: the trained ones; 0
        elsewhere) and the values of every completion position, from one forward."""
        ids = torch.cat([batch["prompt_ids"], batch["completion_ids"]], dim=1)
        attention = torch.cat([batch["prompt_mask"], batch["completion_mask"]], dim=1)
        keep = batch["completion_ids"].size(1)
        scored = self._trained_mask(batch) if scored is None else scored
        logps, entropies = self._completion_logps(model, ids, attention, keep, scored, output_hidden_states=True)
        values = self.accelerator.unwrap_model(model).value_preds[:, -keep - 1 : -1].float()
        if self._loss_chunk is not None and torch.is_grad_enabled():
            self._correct_sampling(logps, self._loss_chunk)  # before the loss reads the advantages
        return logps, entropies.detach(), values

    def _batch_values(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Value predictions for a whole batch, in the update's length-sorted micro-batches (no
        position is scored: the values need no logits)."""
        parts = []
        with torch.no_grad():
            for rows, p_w, c_w in microbatch.plan(batch, self.args.update_tokens_per_forward):
                chunk = microbatch.take(batch, rows, p_w, c_w)
                _, _, values = self._forward(self.model, chunk, scored=torch.zeros_like(chunk["completion_mask"]))
                parts.append((rows, values))
        return microbatch.scatter(parts, batch["prompt_ids"].size(0), batch["completion_ids"].size(1))

    # -- ADVANTAGE: GAE ----------------------------------------------------------------------------
    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        t0 = time.perf_counter()
        trajectories = self._rollout(inputs)
        t_rollout = time.perf_counter() - t0
        rewards = self._score(trajectories)
        batch = self._rows(trajectories, [0.0] * len(trajectories))  # advantages come from GAE below
        real, policy = batch["completion_attention_mask"], batch["completion_mask"]
        values = self._batch_values({**batch, "completion_mask": real})
        advantages, returns = self._gae(batch["row_trajectory"].tolist(), rewards, values, policy)
        # Whiten over this batch's policy tokens: PPO's usual variance control.
        flat = advantages[policy.bool()]
        if flat.numel() > 1:
            advantages = torch.where(policy.bool(), (advantages - flat.mean()) / (flat.std() + 1e-8), advantages)
        batch["advantages"] = advantages
        out = self._finish_batch(trajectories, flat.tolist() or [0.0], batch, t_rollout)  # raw GAE advantages
        out["old_values"], out["returns"] = values, returns
        return out

    def _gae(self, row_trajectory: list[int], rewards: list[float], values: torch.Tensor, policy: torch.Tensor):
        advantages = torch.zeros_like(values)
        returns = torch.zeros_like(values)
        by_traj: dict[int, list[int]] = {}
        for r, t in enumerate(row_trajectory):
            if t >= 0:  # padding rows have -1
                by_traj.setdefault(t, []).append(r)
        for t, row_ids in by_traj.items():
            # The trajectory's policy tokens in order, across its segments (rows keep segment order).
            positions = [(r, c) for r in row_ids for c in policy[r].nonzero().flatten().tolist()]
            if not positions:
                continue
            v = torch.stack([values[r, c] for r, c in positions])
            reward = torch.zeros_like(v)
            reward[-1] = float(rewards[t])
            adv, ret = gae(reward, v, gamma=self.args.gae_gamma, lam=self.args.gae_lambda)
            for k, (r, c) in enumerate(positions):
                advantages[r, c], returns[r, c] = adv[k], ret[k]
        return advantages, returns

    # -- UPDATE ------------------------------------------------------------------------------------
    def _rows_with_gradient(self, inputs: dict[str, Any]) -> None:
        return None  # the value loss trains on every row, whatever its advantage

    def _compute_loss(self, model: Any, inputs: dict[str, Any]) -> torch.Tensor:
        logps, entropies, values = self._forward(model, inputs)
        mask = inputs["completion_mask"] * inputs["tool_mask"]
        old = inputs.get("old_per_token_logps")
        old = logps.detach() if old is None else old
        ratio = torch.exp(logps - old)
        adv = inputs["advantages"]
        pg = -torch.min(ratio * adv, torch.clamp(ratio, 1 - self.epsilon_low, 1 + self.epsilon_high) * adv)
        old_v, ret = inputs["old_values"], inputs["returns"]
        v_clipped = old_v + torch.clamp(values - old_v, -self.args.cliprange_value, self.args.cliprange_value)
        vf = 0.5 * torch.max((values - ret) ** 2, (v_clipped - ret) ** 2)
        per_token = pg + self.args.vf_coef * vf
        if self.beta != 0.0:
            ref = inputs["ref_per_token_logps"]
            per_token = per_token + self.beta * (torch.exp(ref - logps) - (ref - logps) - 1)
        # Token mean over the global batch, the same normaliser as TRL's "dapo" loss.
        normalizer = inputs["num_items_in_batch"].clamp(min=1.0) / self.accelerator.num_processes
        normalizer = normalizer * self.current_gradient_accumulation_steps / self.args.steps_per_generation
        loss = (per_token * mask).sum() / normalizer
        self._log_ppo(mask, ratio, vf, entropies, values, ret)
        return loss

    def _log_ppo(self, mask, ratio, vf, entropies, values, returns) -> None:
        def mean(x: torch.Tensor) -> float:
            totals = self.accelerator.reduce(torch.stack([(x * mask).sum(), mask.sum()]).detach(), reduction="sum")
            return (totals[0] / totals[1].clamp(min=1.0)).item()

        m = self._metrics["train"]
        m["clip_ratio/region_mean"].append(mean(((ratio - 1).abs() > self.epsilon_low).float()))
        m["entropy"].append(mean(entropies))
        m["value/loss"].append(mean(vf))
        m["value/mean"].append(mean(values))
        var_ret = mean((returns - mean(returns)) ** 2)
        m["value/explained_variance"].append(1 - mean((returns - values) ** 2) / var_ret if var_ret > 0 else 0.0)

    # -- CHECKPOINT -------------------------------------------------------------------------------
    def _save_extras(self, folder: str) -> None:
        super()._save_extras(folder)
        save_file({k: v.detach().cpu().contiguous() for k, v in self.v_head.state_dict().items()}, os.path.join(folder, VALUE_HEAD))

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: Any = None) -> None:
        super()._load_from_checkpoint(resume_from_checkpoint, model)
        path = os.path.join(resume_from_checkpoint, VALUE_HEAD)
        if os.path.exists(path):
            self.v_head.load_state_dict(load_file(path, device=str(self.v_head.weight.device)))
