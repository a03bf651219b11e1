"""transformers backend: batched ``generate`` with left padding and the KV cache, CPU or GPU."""

from __future__ import annotations

from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from memrl.rollout.backends.base import Backend, Generation, SamplingParams, cut_at_stop


class _SampledLogprobs(LogitsProcessor):
    """Records log p(sampled token) step by step, holding one (batch, vocab) row at a time.

    transformers runs custom processors before the temperature/top-k/top-p warpers, so the
    scores seen here are the model's logits; dividing by the temperature gives the same
    distribution the trainer recomputes (``output_logits`` would instead keep every step's
    full vocabulary: gigabytes for a 150k-token vocabulary).
    """

    def __init__(self, temperature: float):
        self.temperature = temperature if temperature > 0 else 1.0
        self.prev: torch.Tensor | None = None
        self.steps: list[torch.Tensor] = []

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        self._gather(input_ids[:, -1])
        self.prev = torch.log_softmax(scores.float() / self.temperature, dim=-1)
        return scores

    def _gather(self, tokens: torch.Tensor) -> None:
        if self.prev is not None:
            self.steps.append(self.prev.gather(1, tokens[:, None]).squeeze(1))
            self.prev = None

    def finish(self, last_tokens: torch.Tensor) -> torch.Tensor:
        self._gather(last_tokens)
        return torch.stack(self.steps, dim=1) if self.steps else torch.zeros(len(last_tokens), 0)


class HFBackend(Backend):
    """Generates with a transformers model in-process (the policy itself, so weights never drift)."""

    name = "hf"

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int | None = None):
        super().__init__(tokenizer)
        self.model = model
        self.batch_size = batch_size  # None: one call for the whole batch
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def sync_weights(self, model: Any) -> None:
        # The hf backend samples from the training model object itself; a step changes it in place.
        self.model = model

    @torch.no_grad()
    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        if not prompts:
            return []
        size = self.batch_size or len(prompts)
        out: list[Generation] = []
        for start in range(0, len(prompts), size):
            out.extend(self._generate_batch(prompts[start : start + size], sampling))
        return out

    def _generate_batch(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        model = self.model
        device = next(model.parameters()).device
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, p in enumerate(prompts):  # left padding: every prompt ends where generation starts
            ids[row, width - len(p) :] = torch.tensor(p, dtype=torch.long)
            mask[row, width - len(p) :] = 1
        recorder = _SampledLogprobs(sampling.temperature)
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        was_training = model.training
        model.eval()
        try:
            seqs = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=sampling.max_new_tokens,
                do_sample=not sampling.greedy,
                temperature=sampling.temperature if not sampling.greedy else None,
                top_p=sampling.top_p if not sampling.greedy else None,
                top_k=sampling.top_k if not sampling.greedy else None,
                eos_token_id=sorted(self.stop_ids) or None,
                pad_token_id=self.pad_id,
                logits_processor=LogitsProcessorList([recorder]),
                use_cache=True,
            )
        finally:
            model.train(was_training)
        new = seqs[:, width:].cpu()
        logps = recorder.finish(seqs[:, -1]).cpu()
        result = []
        for row in range(len(prompts)):
            toks, reason = cut_at_stop(new[row].tolist(), self.stop_ids)
            result.append(Generation(toks, logps[row, : len(toks)].tolist(), reason))
        return result
