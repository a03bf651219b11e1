"""transformers backend: batched ``generate`` with left padding and the KV cache, CPU or GPU.

Prompts are prefilled through :mod:`memrl.rollout.backends.kv_reuse`: a prefix the model has
already read (the previous turn of an append episode, the shared prompt of a group) is not
read again. ``kv_reuse=False`` gives plain ``generate``.

``continuous=True`` adds the streaming API (``submit`` / ``step``, see
:mod:`memrl.rollout.backends.continuous`): the engine then lets a turn that ended start the
episode's next turn at once, in the running decode batch. It needs a model whose cache is plain
per-layer K/V (as K/V reuse does); other models keep the turn-synchronous ``generate``.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from typing import Any, Iterator

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from memrl.models.merged import merged_lora
from memrl.models.precision import bf16_lora
from memrl.rollout.backends import kv_reuse
from memrl.rollout.backends.base import Backend, Generation, SamplingParams, cut_at_stop
from memrl.rollout.backends.continuous import SlotBatch


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

    def __init__(self, model: Any, tokenizer: Any, *, batch_size: int | None = None, kv_reuse: bool = True,
                 continuous: bool = False, merge_lora: bool | None = None):
        super().__init__(tokenizer)
        self.model = model
        self.merge_lora = merge_lora  # sample from LoRA merged into copies of the weights; None: on a CPU (memrl.models.merged)
        self.batch_size = batch_size  # None: one call for the whole batch (continuous: no row cap)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.store = kv_reuse_store(model) if kv_reuse else None
        self.slots = None
        self._in_session = False
        if continuous:
            # Continuous batching reads every prefix through a store: it changes what is computed,
            # never the result, so it is on there even with kv_reuse=False.
            store = self.store or kv_reuse_store(model)
            if store is not None:
                self.slots = SlotBatch(lambda: self.model, store, self.stop_ids, self.pad_id, max_rows=batch_size)

    @property
    def streaming(self) -> bool:
        return self.slots is not None

    @property
    def max_rows(self) -> int | None:
        """The continuous batch's row cap (``batch_size``); None: every episode at once."""
        return self.slots.max_rows if self.slots is not None else None

    def submit(self, key: Any, prompt: list[int], sampling: SamplingParams) -> None:
        self.slots.submit(key, prompt, sampling)

    def step(self) -> list[tuple[Any, Generation]]:
        with self.stream_session():  # a no-op inside the engine's session
            return self.slots.step()

    @contextmanager
    def stream_session(self) -> Iterator[None]:
        """Eval mode, no grad, bf16 autocast and merged LoRA for a whole rollout. Entered per decode
        step they walked every module twice a token: 25% of a rollout's time (py-spy,
        bench/results/step_time.txt); entered per ``generate`` call (turn by turn) the merged
        weights were rebuilt every turn. ``generate`` outside a session still enters them itself."""
        if self._in_session:
            yield
            return
        was_training = self.model.training
        self.model.eval()
        self._in_session = True
        try:
            with torch.no_grad(), bf16_lora(self.model), merged_lora(self.model, self.merge_lora):
                yield
        finally:
            self._in_session = False
            self.model.train(was_training)

    def sync_weights(self, model: Any) -> None:
        # The hf backend samples from the training model object itself; a step changes it in place,
        # so every stored K/V is stale.
        self.model = model
        self.clear_cache()

    def clear_cache(self) -> None:
        if self.store is not None:
            self.store.clear()
        if self.slots is not None:
            self.slots.store.clear()
            self.slots.reset()

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
        reuse = self.store is not None and width > 1
        was_training = model.training
        model.eval()
        stack = ExitStack()
        try:
            if not self._in_session:  # inside the engine's session both are already entered
                stack.enter_context(bf16_lora(model))
                stack.enter_context(merged_lora(model, self.merge_lora))
            # Everything but each prompt's last token comes from stored K/V where it can.
            cache = self._prefilled(prompts, width - 1, sampling.max_new_tokens + 1) if reuse else None
            if sampling.seed is not None:
                torch.manual_seed(sampling.seed)
            out = model.generate(
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
                cache=cache,
                return_dict_in_generate=True,
            )
        finally:
            stack.close()
            model.train(was_training)
        seqs = out.sequences
        new = seqs[:, width:].cpu()
        logps = recorder.finish(seqs[:, -1]).cpu()
        result = []
        for row in range(len(prompts)):
            toks, reason = cut_at_stop(new[row].tolist(), self.stop_ids)
            result.append(Generation(toks, logps[row, : len(toks)].tolist(), reason))
        if reuse:
            kv_reuse.keep_rows(self.store, out.cache, prompts, [g.token_ids for g in result], width)
        return result

    @torch.no_grad()
    def _prefilled(self, prompts: list[list[int]], width: int, room: int) -> Any:
        """A left-padded cache of every prompt but its last token; each distinct prompt is
        prefilled once, from the longest prefix already stored."""
        done: dict[tuple[int, ...], list] = {}
        parts = []
        for p in prompts:
            key = tuple(p[:-1])
            if key not in done:
                done[key] = kv_reuse.prefill(self.model, self.store, torch.tensor(key, dtype=torch.long))
            parts.append(done[key])
        return kv_reuse.batch_cache(self.model, parts, width, room)


def kv_reuse_store(model: Any) -> kv_reuse.PrefixStore | None:
    """A prefix store for models whose cache is plain per-layer K/V (no sliding windows, no
    recurrent state); None for the others, which then prefill every prompt in full."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:  # a config the cache cannot read: no reuse, plain generate
        return None
    if not layers or any(type(layer) is not DynamicLayer for layer in layers):
        return None
    return kv_reuse.PrefixStore()
