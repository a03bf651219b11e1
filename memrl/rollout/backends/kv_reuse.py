"""Key/value reuse for the hf backend: prefill each distinct token prefix once.

Multi-turn rollouts re-send what the model has already read: an append turn's prompt is the last
turn's prompt plus the sampled reply plus the env's message, and the G episodes of a task start
from the same prompt. Plain batched ``generate`` re-prefills all of it every turn. Here every
sequence the model processed leaves its keys/values behind; the next call looks up, per prompt,
the longest prefix it has K/V for, prefills only the rest (once per distinct prompt, at batch 1,
so no padding is computed) and hands ``generate`` a left-padded batch cache that covers every
prompt but its last token. Decoding then starts exactly where a full prefill would have.

Exactness: a token's K/V depend only on the tokens before it (causal attention) and on its
position, and both are the same here as in a full left-padded prefill (positions count real
tokens only). The results equal plain ``generate`` up to float rounding in the order of sums
(see ``tests/rollout/test_kv_reuse.py`` for the tolerance). Entries are dropped whenever the
weights change (``clear``): K/V computed under old weights are not the new policy's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class Entry:
    ids: torch.Tensor  # (L,) the tokens whose K/V are held
    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer: keys, values, each (heads, L, head_dim)


class PrefixStore:
    """K/V of recently processed token sequences, looked up by longest common prefix."""

    def __init__(self, max_entries: int = 64):
        self.max_entries = max_entries
        self.entries: list[Entry] = []
        self.reused_tokens = 0  # prompt tokens whose prefill was skipped, for the benchmarks
        self.prefilled_tokens = 0

    def clear(self) -> None:
        self.entries.clear()

    def add(self, entry: Entry) -> None:
        if len(entry.ids) == 0:
            return
        self.entries.append(entry)
        del self.entries[: -self.max_entries]  # oldest first out

    def longest(self, ids: torch.Tensor, limit: int) -> tuple[int, Entry | None]:
        """The entry sharing the longest prefix with ``ids`` (at most ``limit`` tokens)."""
        best, best_entry = 0, None
        for entry in reversed(self.entries):  # newest first: ties go to the latest turn
            n = min(len(entry.ids), limit)
            if n <= best:
                continue
            same = entry.ids[:n] == ids[:n]
            n = n if bool(same.all()) else int(same.to(torch.int8).argmin())
            if n > best:
                best, best_entry = n, entry
        return best, best_entry


def _cache_from(kv: list[tuple[torch.Tensor, torch.Tensor]], config: Any, room: int = 0) -> Any:
    """A transformers cache holding ``kv``; with ``room`` > 0 its layers append into spare
    capacity (see :class:`GrowingLayer`)."""
    from transformers import DynamicCache

    cache = DynamicCache(ddp_cache_data=[(k, v) for k, v in kv], config=config)
    if room > 0:
        cache.layers = [growing_layer(k, v, room) for k, v in kv]
    return cache


def growing_layer(keys: torch.Tensor, values: torch.Tensor, room: int) -> Any:
    """A cache layer that writes each decode step's K/V into preallocated room.

    transformers' DynamicLayer concatenates the whole cache with the new token on every step:
    per step a copy of all K/V of every layer, a third of a CPU decode step here (measured).
    Writing into spare capacity and handing attention a view costs only the new token.
    """
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        def __init__(self) -> None:
            super().__init__()
            b, h, n, d = keys.shape
            self.buffers = [keys.new_zeros((b, h, n + room, d)), values.new_zeros((b, h, n + room, d))]
            self.buffers[0][:, :, :n], self.buffers[1][:, :, :n] = keys, values
            self.length, self.device, self.is_initialized = n, keys.device, True
            self._views()

        def _views(self) -> None:
            self.keys, self.values = (buf[:, :, : self.length] for buf in self.buffers)

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
            n = key_states.shape[-2]
            if self.length + n > self.buffers[0].shape[-2]:  # out of room: double it
                grow = max(n, self.buffers[0].shape[-2])
                self.buffers = [torch.cat([buf, buf.new_zeros(buf.shape[:2] + (grow,) + buf.shape[3:])], dim=2) for buf in self.buffers]
            self.buffers[0][:, :, self.length : self.length + n] = key_states
            self.buffers[1][:, :, self.length : self.length + n] = value_states
            self.length += n
            self._views()
            return self.keys, self.values

    return GrowingLayer()


def prefill(model: Any, store: PrefixStore, ids: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """K/V for all of ``ids`` (batch 1), computing only the part no stored prefix covers."""
    n, entry = store.longest(ids, len(ids))
    kv = [(k[:, :n], v[:, :n]) for k, v in entry.kv] if entry is not None else None
    store.reused_tokens += n
    if n < len(ids):
        rest = ids[n:].unsqueeze(0).to(model.device)
        cache = _cache_from([(k[None], v[None]) for k, v in kv], model.config) if kv else None
        positions = torch.arange(n, len(ids), device=model.device).unsqueeze(0)
        out = model(input_ids=rest, position_ids=positions, cache=cache, use_cache=True, logits_to_keep=1)
        kv = [(layer.keys[0], layer.values[0]) for layer in out.cache.layers]
        store.prefilled_tokens += len(ids) - n
        store.add(Entry(ids, kv))
    return kv


def batch_cache(model: Any, parts: list[list[tuple[torch.Tensor, torch.Tensor]]], width: int, room: int = 0) -> Any:
    """One left-padded cache of ``width`` positions from per-row K/V of varying lengths (padding
    slots are zeros; the attention mask hides them)."""
    rows = len(parts)
    kv = []
    for layer in range(len(parts[0])):
        k0, v0 = parts[0][layer]
        keys = k0.new_zeros((rows, k0.size(0), width, k0.size(2)))
        values = v0.new_zeros((rows, v0.size(0), width, v0.size(2)))
        for r, row in enumerate(parts):
            k, v = row[layer]
            keys[r, :, width - k.size(1) :] = k
            values[r, :, width - v.size(1) :] = v
        kv.append((keys, values))
    return _cache_from(kv, model.config, room)


def keep_rows(store: PrefixStore, cache: Any, prompts: list[list[int]], outputs: list[list[int]], width: int) -> None:
    """Store each row's K/V after ``generate``: its prompt and every sampled token but the last
    (the last one was sampled, never fed back). ``width`` is the padded prompt width."""
    for r, (prompt, out) in enumerate(zip(prompts, outputs)):
        seen = prompt + out[:-1]
        start = width - len(prompt)
        kv = [(layer.keys[r, :, start : start + len(seen)], layer.values[r, :, start : start + len(seen)]) for layer in cache.layers]
        store.add(Entry(torch.tensor(seen, dtype=torch.long), kv))
