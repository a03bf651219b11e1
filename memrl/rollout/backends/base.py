"""One interface for every generation backend: token-id prompts in, token ids and logprobs out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SamplingParams:
    """How to sample one turn. ``temperature=0`` means greedy."""

    max_new_tokens: int = 256
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens ({self.max_new_tokens}) must be at least 1")
        if self.temperature < 0:
            raise ValueError(f"temperature ({self.temperature}) must be >= 0 (0 = greedy)")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p ({self.top_p}) must be in (0, 1]")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Generation:
    """One sampled completion: ids exactly as sampled (up to and including the stop token).

    ``logprobs[i]`` is the log-probability of ``token_ids[i]`` under the sampling distribution
    (logits / temperature, before top-p/top-k truncation, which is what the trainer recomputes).
    ``finish_reason`` is ``"stop"`` (a stop token) or ``"length"`` (hit ``max_new_tokens``).
    """

    token_ids: list[int]
    logprobs: list[float]
    finish_reason: str


class Backend(ABC):
    """Batched generation over token ids. Subclasses: ``hf``, ``vllm``, ``scripted``."""

    name: str = "backend"

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.stop_ids = _stop_ids(tokenizer)

    @abstractmethod
    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        """One completion per prompt, in order, in a single batched call."""

    # -- streaming (continuous batching); a backend that offers it sets ``streaming`` ----------
    @property
    def streaming(self) -> bool:
        """True when ``submit``/``step`` work: the engine then starts an episode's next turn as
        soon as its last one ended, instead of one ``generate`` call per turn for all episodes."""
        return False

    def submit(self, key: Any, prompt: list[int], sampling: SamplingParams) -> None:
        """Queue one completion of ``prompt``; ``step`` returns it under ``key`` when it ends."""
        raise NotImplementedError(f"the {self.name} backend has no streaming API; call generate")

    def step(self) -> list[tuple[Any, Generation]]:
        """Advance every queued and running completion by one token; return those that ended."""
        raise NotImplementedError(f"the {self.name} backend has no streaming API; call generate")

    @property
    def max_rows(self) -> int | None:
        """Rows a streaming backend decodes at once; None: every submitted request."""
        return None

    def stream_session(self) -> Any:
        """A context the engine holds around a whole rollout (continuous or turn by turn), so that
        per-rollout set-up (model modes, precision contexts, merged weights) is done once and not
        at every ``step`` or ``generate`` call."""
        return nullcontext()

    def sync_weights(self, model: Any) -> None:
        """Make the next ``generate`` use ``model``'s current weights (after an optimizer step)."""

    def clear_cache(self) -> None:
        """Forget any state kept between ``generate`` calls (the engine calls it around each
        ``play``: the same model object may carry other weights next time)."""


def _stop_ids(tokenizer: Any) -> set[int]:
    ids = set()
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    elif isinstance(eos, (list, tuple)):
        ids.update(eos)
    return ids


def cut_at_stop(ids: list[int], stop_ids: set[int]) -> tuple[list[int], str]:
    """Keep ids up to and including the first stop token; say why the completion ended."""
    for i, t in enumerate(ids):
        if t in stop_ids:
            return ids[: i + 1], "stop"
    return ids, "length"
