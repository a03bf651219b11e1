"""vLLM backends (GPU only; vLLM is an optional extra, imported lazily).

``VLLMBackend`` runs an in-process engine and serves the policy's LoRA as an *adapter*: after
each optimizer step the adapter is saved and a new ``LoRARequest`` (a new id) points at it, so
the next turn samples from the new weights without reloading the base. ``VLLMServerBackend``
talks to a running ``trl vllm-serve`` for multi-GPU set-ups and pushes merged weights to it
through TRL's communicator.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from memrl.errors import UserError
from memrl.rollout.backends.base import Backend, Generation, SamplingParams, cut_at_stop

_INSTALL = "the vllm backend needs vLLM on a CUDA machine: pip install 'memrl[vllm]' (or use --backend hf)"


def _import_vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise UserError(_INSTALL) from None
    return vllm


def _is_peft(model: Any) -> bool:
    return hasattr(model, "peft_config") and hasattr(model, "save_pretrained")


class VLLMBackend(Backend):
    """In-process vLLM engine; LoRA adapters are refreshed after each step via ``sync_weights``."""

    name = "vllm"

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        base_model: str | None = None,
        gpu_memory_utilization: float = 0.5,
        max_model_len: int | None = None,
        max_lora_rank: int = 64,
        dtype: str = "bfloat16",
        adapter_dir: str | None = None,
        **engine_kwargs: Any,
    ):
        super().__init__(tokenizer)
        vllm = _import_vllm()
        self._vllm = vllm
        base = base_model or _base_path(model)
        self.lora = _is_peft(model)
        self.llm = vllm.LLM(
            model=base,
            tokenizer=base,
            dtype=dtype,
            enable_lora=self.lora,
            max_lora_rank=max_lora_rank,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            # Match the hf backend and the trainer: logprobs of logits / temperature.
            logprobs_mode="processed_logprobs",
            **engine_kwargs,
        )
        self.adapter_dir = Path(adapter_dir or tempfile.mkdtemp(prefix="memrl-lora-"))
        self.version = 0
        self.lora_request = None
        if self.lora:
            self.sync_weights(model)

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        from vllm import SamplingParams as VSampling
        from vllm.inputs import TokensPrompt

        params = VSampling(
            max_tokens=sampling.max_new_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k if sampling.top_k > 0 else -1,
            seed=sampling.seed,
            logprobs=0,  # only the sampled token's
            stop_token_ids=sorted(self.stop_ids),
        )
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=p) for p in prompts], params, lora_request=self.lora_request, use_tqdm=False
        )
        result = []
        for out in outputs:
            choice = out.outputs[0]
            ids = list(choice.token_ids)
            logprobs = [step[token].logprob for step, token in zip(choice.logprobs, ids)]
            ids, reason = cut_at_stop(ids, self.stop_ids)
            result.append(Generation(ids, logprobs[: len(ids)], reason))
        return result

    def sync_weights(self, model: Any) -> None:
        if self.lora:
            from vllm.lora.request import LoRARequest

            self.version += 1
            path = self.adapter_dir / f"v{self.version}"
            model.save_pretrained(path, safe_serialization=True)
            # A new id per version: vLLM caches adapters by id, so reusing one would keep old weights.
            self.lora_request = LoRARequest(f"policy-v{self.version}", self.version, str(path))
            return
        state = ((name, p.data) for name, p in model.named_parameters())
        self.llm.collective_rpc("load_weights", kwargs={"weights": list(state)})
        self.llm.reset_prefix_cache()


class VLLMServerBackend(Backend):
    """A running ``trl vllm-serve --model BASE`` (one or more GPUs); weights pushed after each step."""

    name = "vllm-server"

    def __init__(self, tokenizer: Any, *, base_url: str = "http://127.0.0.1:8000", connection_timeout: float = 240.0):
        super().__init__(tokenizer)
        _import_vllm()
        from trl.generation.vllm_client import VLLMClient

        self.client = VLLMClient(base_url=base_url, connection_timeout=connection_timeout)
        self._communicator = False

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        out = self.client.generate(
            prompts,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k,
            max_tokens=sampling.max_new_tokens,
            logprobs=0,
            generation_kwargs={"seed": sampling.seed, "stop_token_ids": sorted(self.stop_ids)},
        )
        result = []
        for ids, lps in zip(out["completion_ids"], out["logprobs"]):
            ids, reason = cut_at_stop(list(ids), self.stop_ids)
            result.append(Generation(ids, [step[0] for step in lps][: len(ids)], reason))
        return result

    def sync_weights(self, model: Any) -> None:
        if not self._communicator:
            self.client.init_communicator()
            self._communicator = True
        if _is_peft(model):
            # The server holds plain base weights: merge LoRA in, push base-named tensors, unmerge.
            model.merge_adapter()
            try:
                for name, param in model.named_parameters():
                    if "lora_" in name or "modules_to_save" in name:
                        continue
                    clean = name.removeprefix("base_model.model.").replace(".base_layer", "")
                    self.client.update_named_param(clean, param.data)
            finally:
                model.unmerge_adapter()
        else:
            self.client.update_model_params(model)
        self.client.reset_prefix_cache()


def _base_path(model: Any) -> str:
    base = getattr(getattr(model, "config", None), "_name_or_path", None) or getattr(model, "name_or_path", None)
    if not base:
        raise UserError("the vllm backend needs the base model's id or path: pass base_model=...")
    return str(base)
