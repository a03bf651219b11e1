"""LoRA merged into copies of the base weights for a forward-only stretch (a rollout).

A decode step of the embedded 135M model on 2 CPU cores is bound by reading its weights (212 MB
of bf16 linear weights a step); LoRA on every linear layer adds two small matmuls, a scale and
an add per layer, which made a step of 8 rows 106 ms against 76 ms without them (measured,
``bench/results/step_time.txt``). :func:`merged_lora` swaps each adapted layer's base weight for
a merged copy ``W + scale * B @ A`` (computed in float32, stored in the base weight's dtype) and
bypasses the adapters; on exit the original weight tensors are put back untouched and the copies
are dropped. PEFT's own ``merge_adapter`` / ``unmerge_adapter`` would add and subtract in place,
which in bf16 does not give the original weights back: every step would move the frozen model.

The merged model differs from the adapted one by one rounding of each merged weight: sampled
log-probs move by about as much as bf16 autocast moves them already, and the trainer logs and
corrects that gap (``rollout/logp_mismatch_mean``, ``--sampling_correction``).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import torch


def mergeable_lora_layers(model: Any) -> list[Any]:
    """The model's LoRA layers when every one of them can be merged this way (plain LoRA on
    ``nn.Linear``, no DoRA, not already merged), else an empty list."""
    if not hasattr(model, "peft_config") or not hasattr(model, "disable_adapter"):
        return []
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # another tuner type: nothing to merge here
        return []
    if any(not getattr(cfg, "peft_type", None) or cfg.peft_type.value != "LORA" for cfg in model.peft_config.values()):
        return []
    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    for layer in layers:
        base = layer.get_base_layer()
        if (not isinstance(base, torch.nn.Linear) or layer.merged or layer.disable_adapters
                or any(layer.use_dora.get(a, False) for a in layer.active_adapters)):
            return []
    return layers


@contextmanager
def merged_lora(model: Any, enabled: bool | None = None) -> Iterator[bool]:
    """Forward passes inside run on merged weights (yields True), or unchanged (yields False:
    ``enabled`` off, not a LoRA model, a layer that cannot be merged, or a sharded model).
    ``enabled=None``: only where the weights are on a CPU (measured faster there; on a GPU the
    copies would cost a model's size of its memory)."""
    if enabled is None:
        weight = next(model.parameters(), None)
        enabled = weight is not None and weight.device.type == "cpu"
    layers = mergeable_lora_layers(model) if enabled else []
    if not layers or _sharded():
        yield False
        return
    swapped: list[tuple[torch.nn.Linear, torch.nn.Parameter]] = []
    try:
        with torch.no_grad():
            for (device, dtype), group in _by_storage(layers).items():
                # One allocation per device and dtype, the merged weights views into it: freed as a
                # whole at exit (a block this size is its own mapping, so the memory goes back to the
                # system instead of fragmenting the heap the update allocates from next).
                flat = torch.empty(sum(layer.get_base_layer().weight.numel() for layer in group), dtype=dtype, device=device)
                offset = 0
                for layer in group:
                    base = layer.get_base_layer()
                    original = base.weight
                    merged = flat[offset : offset + original.numel()].view_as(original)
                    offset += original.numel()
                    merged.copy_(original)
                    for adapter in layer.active_adapters:
                        if adapter in layer.lora_A:
                            merged.add_(layer.get_delta_weight(adapter).float())  # float32 sum, one rounding
                    base.weight = torch.nn.Parameter(merged, requires_grad=False)
                    swapped.append((base, original))
        with model.disable_adapter():
            yield True
    finally:
        for base, original in swapped:
            base.weight = original


def _by_storage(layers: list[Any]) -> dict[tuple[Any, Any], list[Any]]:
    groups: dict[tuple[Any, Any], list[Any]] = {}
    for layer in layers:
        weight = layer.get_base_layer().weight
        groups.setdefault((weight.device, weight.dtype), []).append(layer)
    return groups


def _sharded() -> bool:
    """More than one process: the weights may be sharded or hooked (ZeRO-3, FSDP); leave them."""
    return torch.distributed.is_available() and torch.distributed.is_initialized() \
        and torch.distributed.get_world_size() > 1
