"""transformers' SDPA attention, with one change for decode steps on a CPU.

For a single query token transformers runs grouped-query attention two ways: with an attention
mask it packs the query heads that share a key/value head into one batch of queries
(``pack_gqa``); without one (every row of the batch the same length, or one row alone) it calls
torch's kernel with ``enable_gqa=True``. On a CPU that kernel can be several times slower than the
packed call: 3.1 ms against 0.56 ms a layer for 8 rows x 600 keys x 9/3 heads of SmolLM2-135M on a
2-core AVX512-BF16 machine without AMX (session 21, bench/results/step_time.txt). Here a decode
step on a CPU always gets a mask (all ones where transformers had none), so it always takes the
packed path. Everything else, prefill and the training forward included, is transformers' SDPA
unchanged. Measured there: one row decoding alone 55.1 -> 45.5 ms a step; the rollout's continuous
batch, whose rows nearly always differ in length, unchanged.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

NAME = "memrl_sdpa"


def sdpa_packed_decode(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                       attention_mask: torch.Tensor | None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' ``sdpa_attention_forward``, with an all-ones mask for CPU decode steps of
    grouped-query models (a mask makes it pack the heads instead of calling the GQA kernel)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if (attention_mask is None and query.shape[2] == 1 and query.device.type == "cpu"
            and getattr(module, "num_key_value_groups", 1) > 1 and kwargs.get("position_bias") is None):
        attention_mask = torch.ones((query.shape[0], 1, 1, key.shape[2]), dtype=torch.bool, device=query.device)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


@functools.cache
def register() -> str:
    """Register the attention (and its mask, SDPA's) with transformers, once; returns its name."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, sdpa_packed_decode)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME


def use_packed_decode(model: Any) -> bool:
    """Switch a CPU model that runs transformers' SDPA to :func:`sdpa_packed_decode`; True if
    switched. Models on other devices or with another attention are left as they are."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    compatible = getattr(type(model), "is_backend_compatible", None)  # models that call transformers' attention
    if compatible is None or not compatible() or next(model.parameters()).device.type != "cpu":
        return False
    model.set_attn_implementation(register())
    return True
