"""The update in length-sorted micro-batches, each cut to its own width.

A batch of segments is padded to its longest prompt and longest completion; segments vary a lot
in length (a stage's first turn vs a long append episode), so most of a padded batch can be
padding. Sorting rows by length and giving each micro-batch only the columns its rows use
removes most of it, and a forward + backward per micro-batch bounds activation memory by the
micro-batch instead of the batch (so gradient checkpointing is not needed on a small model).

The token-mean loss TRL uses (``dapo``: a sum over tokens divided by the batch's token count) is
a sum over rows, so the micro-batches' gradients add up to exactly the full batch's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

PROMPT_KEYS = ("prompt_ids", "prompt_mask")


def row_lengths(inputs: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """Real prompt and completion tokens of every row (prompts are left-padded, completions right)."""
    prompt = inputs["prompt_mask"].sum(1)
    completion = inputs["completion_mask"].sum(1)
    # The last real completion column, not the count: env tokens and policy tokens interleave.
    cols = torch.arange(inputs["completion_mask"].size(1), device=completion.device)
    last = torch.where(inputs["completion_mask"] > 0, cols + 1, torch.zeros_like(cols)).amax(1)
    return prompt, last


def plan(inputs: dict[str, Any], token_budget: int, multiple: int = 32, rows: torch.Tensor | None = None,
         shared: Callable[[torch.Tensor], torch.Tensor] | None = None) -> list[tuple[torch.Tensor, int, int]]:
    """Micro-batches as (row indices, prompt width, completion width): rows sorted by length,
    each micro-batch as many rows as fit ``token_budget`` padded tokens (at least one row).
    Widths are rounded up to ``multiple`` so that steps repeat shapes (CPU kernels are built
    per shape).

    rows: a boolean mask of the rows to plan (default: all).
    shared: with several processes, a function from this process's widths (2, n: prompt and
    completion, rows sorted longest first) to their maximum over processes. The cuts are then made on that maximum, so every process runs
    the same number of micro-batches with the same number of rows each — the loss gathers per-row
    metrics across processes, which fails (gloo) or hangs (NCCL) when the counts differ — while
    each process keeps its own, never wider, widths."""
    prompt, completion = row_lengths(inputs)
    total_p, total_c = inputs["prompt_ids"].size(1), inputs["completion_ids"].size(1)
    candidates = torch.arange(prompt.numel(), device=prompt.device) if rows is None else rows.nonzero().flatten()
    order = candidates[torch.argsort((prompt + completion)[candidates], descending=True, stable=True)]
    # Each row's own padded widths (rounded up, at most the batch's); a micro-batch is as wide as its widest row.
    widths = torch.stack([_round(prompt[order], multiple).clamp(max=total_p),
                          _round(completion[order].clamp(min=1), multiple).clamp(max=total_c)])
    cut_p, cut_c = (shared(widths) if shared is not None else widths).tolist()
    chunks, start = [], 0
    while start < len(order):
        end, p_w, c_w = start, 0, 0
        while end < len(order):
            p_next, c_next = max(p_w, cut_p[end]), max(c_w, cut_c[end])
            if end > start and (end - start + 1) * (p_next + c_next) > token_budget:
                break
            p_w, c_w, end = p_next, c_next, end + 1
        chunks.append((order[start:end].sort().values, int(widths[0, start:end].max()), int(widths[1, start:end].max())))
        start = end
    return chunks


def take(inputs: dict[str, Any], rows: torch.Tensor, prompt_width: int, completion_width: int) -> dict[str, Any]:
    """The micro-batch's slice of ``inputs``: its rows, its last ``prompt_width`` prompt columns
    and its first ``completion_width`` completion columns; scalars and None pass through."""
    batch, total_p = inputs["prompt_ids"].shape
    total_c = inputs["completion_ids"].size(1)
    out: dict[str, Any] = {}
    for key, value in inputs.items():
        if not isinstance(value, torch.Tensor) or value.dim() == 0 or value.size(0) != batch:
            out[key] = value
        elif key in PROMPT_KEYS:
            out[key] = value[rows][:, total_p - prompt_width :]
        elif value.dim() >= 2 and value.size(1) == total_c:
            out[key] = value[rows][:, :completion_width]
        else:
            out[key] = value[rows]
    return out


def scatter(parts: list[tuple[torch.Tensor, torch.Tensor]], batch: int, width: int) -> torch.Tensor:
    """Per-micro-batch (rows, values (n, w)) back into one (batch, width) tensor, zeros elsewhere."""
    first = parts[0][1]
    out = first.new_zeros((batch, width))
    for rows, values in parts:
        out[rows, : values.size(1)] = values
    return out


def _round(n: Any, multiple: int) -> Any:
    """``n`` (an int or a tensor of ints) rounded up to a multiple of ``multiple``."""
    return -(-n // multiple) * multiple
