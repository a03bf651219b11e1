"""Generation backends behind one interface; ``make_backend`` picks one by name."""

from __future__ import annotations

from typing import Any

from memrl.errors import UserError
from memrl.rollout.backends.base import Backend, Generation, SamplingParams
from memrl.rollout.backends.scripted import ScriptedBackend

BACKENDS = ("hf", "vllm", "vllm-server", "scripted")


def make_backend(name: str, *, model: Any = None, tokenizer: Any = None, **kwargs: Any) -> Backend:
    """Build a backend by name: ``hf`` (in-process transformers), ``vllm`` (in-process engine,
    GPU), ``vllm-server`` (a running ``trl vllm-serve``), ``scripted`` (tests)."""
    if name == "hf":
        from memrl.rollout.backends.hf import HFBackend

        return HFBackend(model, tokenizer, **kwargs)
    if name == "vllm":
        from memrl.rollout.backends.vllm import VLLMBackend

        return VLLMBackend(model, tokenizer, **kwargs)
    if name == "vllm-server":
        from memrl.rollout.backends.vllm import VLLMServerBackend

        return VLLMServerBackend(tokenizer, **kwargs)
    if name == "scripted":
        return ScriptedBackend(tokenizer, **kwargs)
    import difflib

    close = difflib.get_close_matches(name, BACKENDS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UserError(f"unknown backend {name!r}; use one of {', '.join(BACKENDS)}.{hint}")


__all__ = ["Backend", "Generation", "SamplingParams", "ScriptedBackend", "make_backend", "BACKENDS"]
