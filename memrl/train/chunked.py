"""Token log-probs, entropies and accuracy from the last hidden states, a chunk of positions at a time.

With a 49,152-token vocabulary the full-vocabulary logits are the largest tensors of a step: a
float32 copy of one 2,048-token row is 0.4 GB, and log-softmax, entropy and the gradient each
make another (issue #25). Only the scored positions (policy tokens in RL, completion tokens in
SFT) need them, and only one at a time: the model is run with its LM head switched off (its
output is then the final hidden states, through the full wrapped forward, so DDP, PEFT and
forward hooks such as PPO's value head still see a normal call), and ``HeadLogProbs`` applies
the head to ``chunk`` scored positions at once. Its backward recomputes each chunk's logits
instead of keeping them, so neither pass holds more than one chunk of logits.

The results equal the unchunked ones (tests/train/test_chunked_logps.py: fp32, atol 1e-5);
positions that are not scored get 0.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch
from torch import nn

DEFAULT_CHUNK = 256  # positions per chunk: 256 x 49,152 float32 logits = 50 MB per temporary
# Config fields that change the logits after the head: the head's output would not be them.
_LOGIT_TRANSFORMS = ("final_logit_softcapping", "logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling")


def plain_head(model: Any) -> nn.Linear | None:
    """The model's LM head when its logits are just ``head(hidden)`` (a plain Linear, no
    softcapping or scaling after it), else None: such models keep the unchunked path."""
    get = getattr(model, "get_output_embeddings", None)
    head = get() if get is not None else None
    if type(head) is not nn.Linear:  # e.g. a LoRA-adapted or modules_to_save head
        return None
    config = model.config.get_text_config()
    if any(getattr(config, name, None) not in (None, 1.0) for name in _LOGIT_TRANSFORMS):
        return None
    return head


def _identity(hidden: torch.Tensor) -> torch.Tensor:
    return hidden


@contextmanager
def head_off(head: nn.Linear) -> Iterator[None]:
    """Inside, ``head`` returns its input: the model's ``logits`` are the hidden states of the
    positions ``logits_to_keep`` selects (the instance attribute shadows the class's forward, and
    any hook-installed forward is put back after)."""
    previous = head.__dict__.get("forward")
    head.forward = _identity
    try:
        yield
    finally:
        if previous is None:
            del head.forward
        else:
            head.forward = previous


def _compute_dtype(hidden: torch.Tensor, weight: torch.Tensor) -> torch.dtype:
    """The dtype the head's matmul would run in: autocast's, else the wider of the two."""
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return torch.promote_types(hidden.dtype, weight.dtype)


def _chunk_logits(hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, inv_t: float) -> torch.Tensor:
    """float32 logits of one chunk, divided by the temperature (the matmul in the inputs' dtype,
    as ``head(hidden).float() / T`` computes them)."""
    logits = torch.mm(hidden, weight.t())
    if bias is not None:
        logits = logits + bias
    return logits.float().mul_(inv_t)


class HeadLogProbs(torch.autograd.Function):
    """``log_softmax(hidden @ weight.T + bias) / T)[target]`` and the entropy per row of ``hidden``
    (N, H), and whether the target is the argmax, computed ``chunk`` rows at a time. The backward
    recomputes each chunk's logits (one more head matmul) and turns them into the gradient in
    place: the logits never exist for more than one chunk."""

    @staticmethod
    def forward(ctx, hidden, weight, bias, targets, inv_t: float, chunk: int):
        ctx.set_materialize_grads(False)  # the entropy is mostly a metric: no zero gradient for it
        dtype = _compute_dtype(hidden, weight)
        w = weight.to(dtype)
        b = None if bias is None else bias.to(dtype)
        n = hidden.size(0)
        logps = hidden.new_empty(n, dtype=torch.float32)
        entropy, log_z = torch.empty_like(logps), torch.empty_like(logps)
        top1 = torch.empty(n, dtype=torch.bool, device=hidden.device)
        for s in range(0, n, chunk):
            z = _chunk_logits(hidden[s : s + chunk].to(dtype), w, b, inv_t)
            t = targets[s : s + chunk]
            target = z.gather(1, t[:, None]).squeeze(1)
            top1[s : s + chunk] = z.argmax(-1) == t
            lz = torch.logsumexp(z, -1)
            log_z[s : s + chunk], logps[s : s + chunk] = lz, target - lz
            z.sub_(lz[:, None])  # log-probs, in place
            entropy[s : s + chunk] = -(z.exp() * z).sum(-1)
        ctx.save_for_backward(hidden, weight, bias, targets, log_z, entropy)
        ctx.inv_t, ctx.chunk, ctx.dtype = inv_t, chunk, dtype
        ctx.mark_non_differentiable(top1)
        return logps, entropy, top1

    @staticmethod
    def backward(ctx, grad_logps, grad_entropy, _grad_top1):
        hidden, weight, bias, targets, log_z, entropy = ctx.saved_tensors
        need_h, need_w, need_b = ctx.needs_input_grad[:3]
        if grad_logps is None and grad_entropy is None:
            return None, None, None, None, None, None
        dtype, inv_t, chunk = ctx.dtype, ctx.inv_t, ctx.chunk
        w = weight.to(dtype)
        b = None if bias is None else bias.to(dtype)
        grad_h = torch.empty_like(hidden) if need_h else None
        grad_w = torch.zeros(weight.shape, dtype=torch.float32, device=weight.device) if need_w else None
        grad_b = torch.zeros(bias.shape, dtype=torch.float32, device=bias.device) if need_b else None
        for s in range(0, hidden.size(0), chunk):
            h = hidden[s : s + chunk].to(dtype)
            dz = _chunk_grad(_chunk_logits(h, w, b, inv_t), log_z[s : s + chunk], entropy[s : s + chunk],
                             targets[s : s + chunk], _part(grad_logps, s, chunk), _part(grad_entropy, s, chunk))
            dz = dz.mul_(inv_t).to(dtype)  # through the temperature
            if grad_h is not None:
                grad_h[s : s + chunk] = torch.mm(dz, w).to(hidden.dtype)
            if grad_w is not None:
                grad_w += torch.mm(dz.t(), h).float()
            if grad_b is not None:
                grad_b += dz.float().sum(0)
        return (grad_h, None if grad_w is None else grad_w.to(weight.dtype),
                None if grad_b is None else grad_b.to(bias.dtype), None, None, None)


def _part(grad: torch.Tensor | None, start: int, chunk: int) -> torch.Tensor | None:
    return None if grad is None else grad[start : start + chunk].float()


def _chunk_grad(z, log_z, entropy, targets, g_logp, g_entropy) -> torch.Tensor:
    """The gradient w.r.t. one chunk's (temperature-scaled) logits ``z``, in place of ``z``:
    d log p_t / dz_j = 1[j = t] - p_j and d H / dz_j = -p_j (log p_j + H)."""
    log_p = z.sub_(log_z[:, None])
    if g_entropy is not None:
        scale = log_p.add(entropy[:, None]).mul_(-g_entropy[:, None])  # -g_H (log p_j + H)
        if g_logp is not None:
            scale.sub_(g_logp[:, None])
        dz = log_p.exp_().mul_(scale)
    else:
        dz = log_p.exp_().mul_(-g_logp[:, None])
    if g_logp is not None:
        dz[torch.arange(dz.size(0), device=dz.device), targets] += g_logp
    return dz


def token_logps(hidden: torch.Tensor, head: nn.Linear, targets: torch.Tensor, scored: torch.Tensor, *,
                temperature: float = 1.0, chunk: int = DEFAULT_CHUNK) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-position (log-prob of ``targets``, entropy, target is the argmax) for hidden states
    (B, W, H) that predict ``targets`` (B, W), computed only where ``scored`` (B, W) is true
    (0 / False elsewhere). Log-probs and entropies are differentiable w.r.t. ``hidden`` and the head."""
    scored = scored.bool()
    h = hidden[scored].to(head.weight.device)
    t = targets[scored].to(head.weight.device)
    logps, entropy, top1 = HeadLogProbs.apply(h, head.weight, head.bias, t, 1.0 / temperature, max(1, int(chunk)))
    scored = scored.to(logps.device)
    # masked_scatter keeps the output connected to the graph even when nothing is scored.
    full = logps.new_zeros(scored.shape).masked_scatter(scored, logps)
    return full, entropy.new_zeros(scored.shape).masked_scatter(scored, entropy), \
        top1.new_zeros(scored.shape).masked_scatter(scored, top1)
