"""From trajectories to training rows: one row per segment, padded to tensors.

Rows are what the loss sees: the segment's prompt ids, its completion ids (policy and env tokens
interleaved), the loss mask, the sampling logprobs and the advantage. Padding rows (all-zero
mask) make the row count a multiple of what the update needs and equal on every rank, so no
segment is ever dropped by batch splitting and FSDP/ZeRO never wait on a rank with fewer rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from memrl.rollout.segments import Trajectory


@dataclass
class Row:
    prompt_ids: list[int]
    completion_ids: list[int]
    completion_mask: list[int]
    logprobs: list[float]
    advantages: list[float]  # per completion token (a trajectory's scalar broadcast, or GAE)
    trajectory: int  # index of the trajectory, -1 for padding


def rows_from_trajectories(trajectories: Sequence[Trajectory], advantages: Sequence[float]) -> list[Row]:
    """One row per segment; each gets its trajectory's advantage on every completion token."""
    rows = []
    for i, (traj, adv) in enumerate(zip(trajectories, advantages, strict=True)):
        for seg in traj.segments:
            if not seg.completion_ids:
                continue  # a segment the episode ended in before sampling: nothing to learn from
            n = len(seg.completion_ids)
            rows.append(Row(seg.prompt_ids, seg.completion_ids, seg.completion_mask, seg.logprobs, [float(adv)] * n, i))
    return rows


def padding_row(pad_id: int) -> Row:
    return Row([pad_id], [pad_id], [0], [0.0], [0.0], -1)


def pad_rows(rows: list[Row], count: int, pad_id: int) -> list[Row]:
    """``rows`` plus all-zero-mask rows up to ``count`` rows."""
    if count < len(rows):
        raise ValueError(f"cannot pad {len(rows)} rows down to {count}")
    return rows + [padding_row(pad_id) for _ in range(count - len(rows))]


def round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def collate(rows: Sequence[Row], pad_id: int) -> dict[str, torch.Tensor]:
    """Tensors in TRL's layout: prompts left-padded, completions right-padded, so every row's
    completion starts at the same column and logits line up with ``completion_ids``."""
    p_len = max(len(r.prompt_ids) for r in rows)
    c_len = max(len(r.completion_ids) for r in rows)
    n = len(rows)
    prompt_ids = torch.full((n, p_len), pad_id, dtype=torch.long)
    prompt_mask = torch.zeros((n, p_len), dtype=torch.long)
    completion_ids = torch.full((n, c_len), pad_id, dtype=torch.long)
    completion_mask = torch.zeros((n, c_len), dtype=torch.float32)
    attention = torch.zeros((n, c_len), dtype=torch.long)  # real (policy or env) completion tokens
    logps = torch.zeros((n, c_len), dtype=torch.float32)
    adv = torch.zeros((n, c_len), dtype=torch.float32)
    for i, r in enumerate(rows):
        lp, lc = len(r.prompt_ids), len(r.completion_ids)
        prompt_ids[i, p_len - lp :] = torch.tensor(r.prompt_ids)
        prompt_mask[i, p_len - lp :] = 1
        completion_ids[i, :lc] = torch.tensor(r.completion_ids)
        completion_mask[i, :lc] = torch.tensor(r.completion_mask, dtype=torch.float32)
        attention[i, :lc] = 1 if r.trajectory >= 0 else 0
        logps[i, :lc] = torch.tensor(r.logprobs)
        adv[i, :lc] = torch.tensor(r.advantages)
    return {
        "prompt_ids": prompt_ids,
        "prompt_mask": prompt_mask,
        "completion_ids": completion_ids,
        "completion_mask": completion_mask,
        "completion_attention_mask": attention,
        "sampling_logps": logps,
        "advantages": adv,
        "row_trajectory": torch.tensor([r.trajectory for r in rows], dtype=torch.long),
    }


def trajectory_weights(tokens: torch.Tensor, row_trajectory: torch.Tensor, total: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Per-row weights that turn the batch token mean into a mean over trajectories of each
    trajectory's token mean: w = N_tokens / (N_trajectories * tokens of its trajectory); 0 on
    padding rows. The clipped objective is linear in a positive advantage weight, so weighting
    advantages is weighting the loss (the KL term is not reweighted)."""
    weights = torch.zeros(len(row_trajectory), dtype=torch.float32, device=tokens.device)
    real = row_trajectory >= 0
    weights[real] = (total / (count * tokens[row_trajectory[real]].clamp(min=1.0))).float()
    return weights
