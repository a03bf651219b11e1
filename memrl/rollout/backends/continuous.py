"""Continuous batching for the hf backend: a reply that ends frees its row at once, and any
episode's next turn joins the running decode batch instead of waiting for the slowest reply.

Why: on a CPU a decode step of a small model costs about the same at batch 1, 8 or 32 (it
streams all the weights once per step), so throughput is set by the number of decode steps.
Turn-synchronous ``generate`` decodes every turn until its longest reply ends while most rows
have stopped (~20 % of rows x steps were sampled tokens, bench/results/step_time.txt).

Layout: one K/V buffer per layer, ``(rows, kv_heads, capacity, head_dim)``. Every decode step
writes one column (``end``) for all rows. A row's K/V are one contiguous span ending at
``end``: a joining row's prefix is written right-aligned there (left padding), then grows with
the others. Columns left of a row's span are holes, hidden by the 2D attention mask; each
row's ``position_ids`` count its own tokens only, so its K/V and logits are the ones a full
prefill of its sequence alone gives (up to float rounding in the order of sums). Attention
reads the view ``[start, end)`` with ``start`` the left edge of the longest live row: when a
long row ends, the view shrinks for free. The buffer is rebuilt (live columns only, fresh room)
when it runs out of columns, when a joining prefix is longer than the room on the left, or
when more than half of its rows are free.

A joining prompt's prefix (all but its last token) comes from :mod:`kv_reuse`: an append turn
prefills only the env's new tokens, the G samples of a task share one prefill. Its last token
is fed in the next decode step, like ``generate`` does after a prefill.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from memrl.rollout.backends import kv_reuse
from memrl.rollout.backends.base import Generation, SamplingParams


@dataclass
class Request:
    """One reply being sampled: the prompt, what was sampled so far and the row's K/V length."""

    key: Any
    prompt: list[int]
    sampling: SamplingParams
    generator: torch.Generator | None
    held: int = 0  # tokens whose K/V the row holds = the position of the next token fed
    out: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)

    @property
    def next_token(self) -> int:
        return self.out[-1] if self.out else self.prompt[-1]


@functools.cache
def _slot_layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class SlotLayer(DynamicLayer):
        """Writes a step's K/V at column ``end`` of the batch's buffer and hands attention the
        view ``[start, end + n)``: no per-step concatenation of the whole cache."""

        def __init__(self, batch: "SlotBatch", index: int) -> None:
            super().__init__()
            self.batch, self.index = batch, index
            self.device, self.is_initialized = batch.keys[index].device, True
            self.view(batch.end)

        def view(self, end: int) -> None:
            b = self.batch
            self.keys = b.keys[self.index][:, :, b.start : end]
            self.values = b.values[self.index][:, :, b.start : end]

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any):
            b, n = self.batch, key_states.shape[-2]
            b.keys[self.index][:, :, b.end : b.end + n] = key_states
            b.values[self.index][:, :, b.end : b.end + n] = value_states
            self.view(b.end + n)
            return self.keys, self.values

    return SlotLayer


def slot_layer(batch: "SlotBatch", index: int) -> Any:
    """A transformers cache layer over ``batch``'s buffer of layer ``index``."""
    return _slot_layer_class()(batch, index)


class SlotBatch:
    """Rows of requests decoding together; ``submit`` queues, ``step`` admits and decodes once."""

    def __init__(self, model: Callable[[], Any], store: kv_reuse.PrefixStore, stop_ids: set[int], pad_id: int,
                 *, max_rows: int | None = None, room: int = 128):
        self.model = model  # a getter: sync_weights may swap the model object
        self.store, self.stop_ids, self.pad_id = store, stop_ids, pad_id
        self.max_rows, self.room = max_rows, room
        self.steps = 0  # decode steps run, for the benchmarks
        self.row_steps = 0  # rows x steps computed, of which ``tokens`` were sampled tokens
        self.tokens = 0
        self.reset()

    def reset(self) -> None:
        self.queue: list[Request] = []
        self.rows: list[Request | None] = []
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self.mask = torch.zeros((0, 0), dtype=torch.long)
        self.start = self.end = 0

    @property
    def busy(self) -> bool:
        return bool(self.queue) or any(r is not None for r in self.rows)

    def submit(self, key: Any, prompt: list[int], sampling: SamplingParams) -> None:
        if not prompt:
            raise ValueError(f"request {key!r}: an empty prompt (the chat template gives at least one token)")
        generator = None
        if sampling.seed is not None and not sampling.greedy:
            generator = torch.Generator().manual_seed(sampling.seed)
        self.queue.append(Request(key, list(prompt), sampling, generator))

    # -- one step ----------------------------------------------------------------------------
    def step(self) -> list[tuple[Any, Generation]]:
        """Admit queued requests while rows are free, decode one token for every live row, and
        return the requests that ended in this step."""
        self._admit()
        live = [r for r, req in enumerate(self.rows) if req is not None]
        if not live:
            return []
        if 2 * len(live) < len(self.rows):
            # Rows freed by episodes that ended (the engine resubmits every other one before
            # stepping): stop computing them.
            self._rebuild(live, 0)
            live = list(range(len(live)))
        logits = self._forward()
        done = []
        for r, token, logp in zip(live, *sample(logits[live], [self.rows[r] for r in live])):
            req = self.rows[r]
            req.out.append(token)
            req.logprobs.append(logp)
            reason = "stop" if token in self.stop_ids else "length" if len(req.out) >= req.sampling.max_new_tokens else None
            if reason is not None:
                self._keep(r)
                self.rows[r] = None
                done.append((req.key, Generation(req.out, req.logprobs, reason)))
        self.steps += 1
        self.row_steps += len(self.rows)
        self.tokens += len(live)
        self._narrow()
        return done

    def _forward(self) -> torch.Tensor:
        """One decode step over all rows (free rows feed a pad token that only sees itself)."""
        if self.end >= self.keys[0].shape[2]:
            self._rebuild(list(range(len(self.rows))), 0)
        rows = len(self.rows)
        tokens = torch.full((rows, 1), self.pad_id, dtype=torch.long)
        positions = torch.zeros((rows, 1), dtype=torch.long)
        for r, req in enumerate(self.rows):
            if req is not None:
                tokens[r, 0], positions[r, 0] = req.next_token, req.held
        self.mask[:, self.end] = 1
        model = self.model()
        cache = self._cache(model)
        device = model.device
        out = model(input_ids=tokens.to(device), position_ids=positions.to(device),
                    attention_mask=self.mask[:, self.start : self.end + 1].to(device), cache=cache, use_cache=True)
        self.end += 1
        for req in self.rows:
            if req is not None:
                req.held += 1
        return out.logits[:, -1].float().cpu()

    def _cache(self, model: Any) -> Any:
        from transformers import DynamicCache

        cache = DynamicCache(config=model.config)
        cache.layers = [slot_layer(self, i) for i in range(len(self.keys))]
        return cache

    # -- rows joining and leaving ---------------------------------------------------------------
    def _admit(self) -> None:
        """Move queued requests into free rows (more rows while ``max_rows`` allows), each with
        the K/V of its prompt but the last token."""
        if not self.queue:
            return
        free = [r for r, req in enumerate(self.rows) if req is None]
        room = len(free) + (len(self.queue) if self.max_rows is None else max(0, self.max_rows - len(self.rows)))
        joining, self.queue = self.queue[:room], self.queue[room:]
        if not joining:  # every row busy and no more allowed: the queue waits for a row to end
            return
        prefixes = [kv_reuse.prefill(self.model(), self.store, torch.tensor(req.prompt[:-1], dtype=torch.long))
                    if len(req.prompt) > 1 else None for req in joining]
        longest = max(len(req.prompt) - 1 for req in joining)
        extra = max(0, len(joining) - len(free))
        if not self.keys:
            self._allocate(prefixes, extra, longest)
        elif extra or longest > self.end:
            self._rebuild(list(range(len(self.rows))), extra, longest)
        free = [r for r, req in enumerate(self.rows) if req is None]
        for r, req, kv in zip(free, joining, prefixes):
            self._place(r, req, kv)

    def _place(self, r: int, req: Request, kv: list[tuple[torch.Tensor, torch.Tensor]] | None) -> None:
        n = len(req.prompt) - 1
        self.mask[r] = 0
        if n:
            lo = self.end - n
            for layer, (k, v) in enumerate(kv):
                self.keys[layer][r, :, lo : self.end] = k
                self.values[layer][r, :, lo : self.end] = v
            self.mask[r, lo : self.end] = 1
            self.start = min(self.start, lo)
        req.held = n
        self.rows[r] = req

    def _keep(self, r: int) -> None:
        """Store a finished row's K/V (its prompt and every sampled token but the last, which was
        never fed) so that an append turn prefills only what the env adds."""
        req = self.rows[r]
        seen = req.prompt + req.out[:-1]
        n = len(seen)
        assert n == req.held, f"row {r} holds {req.held} tokens' K/V but saw {n}"
        if n == 0:
            return
        lo = self.end - n
        kv = [(k[r, :, lo : self.end].clone(), v[r, :, lo : self.end].clone()) for k, v in zip(self.keys, self.values)]
        self.store.add(kv_reuse.Entry(torch.tensor(seen, dtype=torch.long), kv))

    def _narrow(self) -> None:
        """After rows left: attend over the longest live row only (a view, nothing copied)."""
        self.start = self.end - max((req.held for req in self.rows if req is not None), default=0)

    # -- the buffer ----------------------------------------------------------------------------
    def _allocate(self, prefixes: list, rows: int, width: int) -> None:
        """The first buffers, shaped like the model's K/V (taken from a prefix, or from a
        one-token forward when every prompt is a single token)."""
        kv = next((kv for kv in prefixes if kv), None) or self._one_token_kv()
        heads, dim = kv[0][0].shape[0], kv[0][0].shape[-1]
        capacity = width + self.room
        self.keys = [k.new_zeros((rows, heads, capacity, dim)) for k, _ in kv]
        self.values = [v.new_zeros((rows, heads, capacity, dim)) for _, v in kv]
        self.mask = torch.zeros((rows, capacity), dtype=torch.long)
        self.rows = [None] * rows
        self.start = self.end = width

    def _one_token_kv(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        model = self.model()
        out = model(input_ids=torch.tensor([[self.pad_id]], device=model.device), use_cache=True)
        return [(layer.keys[0], layer.values[0]) for layer in out.cache.layers]

    def _rebuild(self, keep: list[int], extra: int, width: int = 0) -> None:
        """New buffers holding rows ``keep`` (in that order) plus ``extra`` free rows, the live
        columns right-aligned at ``max(live, width)`` and fresh room after them."""
        live = self.end - self.start
        width = max(live, width)
        capacity = width + max(self.room, width // 2)
        rows = len(keep) + extra
        index = torch.tensor(keep, dtype=torch.long)
        for layer in range(len(self.keys)):
            for buffers in (self.keys, self.values):
                old = buffers[layer]
                new = old.new_zeros((rows, old.shape[1], capacity, old.shape[3]))
                new[: len(keep), :, width - live : width] = old.index_select(0, index)[:, :, self.start : self.end]
                buffers[layer] = new
        mask = torch.zeros((rows, capacity), dtype=torch.long)
        mask[: len(keep), width - live : width] = self.mask.index_select(0, index)[:, self.start : self.end]
        self.mask = mask
        self.rows = [self.rows[r] for r in keep] + [None] * extra
        self.start, self.end = width - live, width


def sample(logits: torch.Tensor, requests: list[Request]) -> tuple[list[int], list[float]]:
    """One token per row and its log-probability under the sampling distribution (logits /
    temperature, before top-k/top-p, as the trainer recomputes it; greedy rows at temperature 1).

    Each request draws from its own generator, so an episode's samples do not depend on which
    other episodes share the step; a request without a seed draws from torch's global RNG.
    """
    temps = torch.tensor([req.sampling.temperature or 1.0 for req in requests], dtype=torch.float32)
    scaled = logits / temps[:, None]
    logps = torch.log_softmax(scaled, dim=-1)
    tokens = []
    for i, req in enumerate(requests):
        s = req.sampling
        if s.greedy:
            tokens.append(int(logits[i].argmax()))
            continue
        if s.top_k > 0 or s.top_p < 1.0:
            probs = torch.softmax(warp(scaled[i : i + 1], s.top_k, s.top_p), dim=-1)[0]
        else:
            probs = logps[i].exp()
        tokens.append(draw(probs, req.generator))
    picked = logps.gather(1, torch.tensor(tokens, dtype=torch.long)[:, None]).squeeze(1)
    return tokens, picked.tolist()


def draw(probs: torch.Tensor, generator: torch.Generator | None) -> int:
    """One index drawn with probability ``probs[i] / probs.sum()`` by inverting the cumulative sum
    with a single uniform number.

    Why not ``torch.multinomial``: on a CPU it draws an exponential variate for every entry of the
    vocabulary (49k for SmolLM2), 0.8 ms a row: 11 % of a decode step at 8 rows (profiled,
    bench/results/step_time.txt). The cumulative sum runs in float64, so that the rounding of a
    long sum cannot move mass between tokens; a zero-probability token owns an empty interval
    and is never drawn.
    """
    cumulative = probs.double().cumsum(0)
    u = torch.rand((), dtype=torch.float64, generator=generator) * cumulative[-1]
    index = int(torch.searchsorted(cumulative, u, right=True))
    if index >= len(probs):  # u rounded up onto the total: the last token with mass
        index = int(torch.nonzero(probs > 0)[-1])
    return index


def warp(scores: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """transformers' TopKLogitsWarper then TopPLogitsWarper (the order ``generate`` applies
    them after the temperature), keeping at least one token."""
    from transformers import TopKLogitsWarper, TopPLogitsWarper

    if top_k > 0:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return scores
