"""Mixed precision for a LoRA policy whose base weights are bf16 (CPUs with AMX/AVX512-BF16).

PEFT keeps the LoRA weights in float32 (the optimizer's masters) and, by default, casts every
adapted layer's input to float32 for the adapter's matmul and back: ~200 casts of whole
activation tensors per forward, a quarter of a CPU step (measured). Under bf16 autocast with
that cast turned off, the adapter's small matmuls run in bf16 like the rest, and the float32
weights still receive the gradients.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Any, Iterator

import torch


def runs_bf16_on_cpu(model: Any) -> bool:
    weight = next(model.parameters(), None)
    return weight is not None and weight.device.type == "cpu" and any(
        p.dtype == torch.bfloat16 for p in model.parameters())


@contextmanager
def bf16_lora(model: Any) -> Iterator[None]:
    """bf16 autocast with PEFT's input casting off, for a bf16 model on a CPU; a no-op otherwise."""
    with ExitStack() as stack:
        if runs_bf16_on_cpu(model):
            stack.enter_context(torch.autocast("cpu", dtype=torch.bfloat16))
            if hasattr(model, "peft_config"):
                from peft.helpers import disable_input_dtype_casting

                stack.enter_context(disable_input_dtype_casting(model))
        yield
