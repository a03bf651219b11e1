"""A backend that returns given texts: env, rollout and trainer tests need no model."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from memrl.rollout.backends.base import Backend, Generation, SamplingParams, cut_at_stop

Policy = Callable[[str], str]


class ScriptedBackend(Backend):
    """Answers each prompt with ``policy(prompt_text)`` (or the next text of a list), tokenized.

    The completion ends with the tokenizer's EOS like a real model's, is cut at
    ``max_new_tokens``, and gets ``logprob`` for every token.
    """

    name = "scripted"

    def __init__(self, tokenizer: Any, policy: Policy | Sequence[str], *, logprob: float = -1.0):
        super().__init__(tokenizer)
        if callable(policy):
            self._policy = policy
        else:
            texts = list(policy)
            self._policy = lambda _prompt, _it=iter(texts * 10_000): next(_it)
        self.logprob = logprob
        self.calls = 0

    def generate(self, prompts: list[list[int]], sampling: SamplingParams) -> list[Generation]:
        self.calls += 1
        out = []
        eos = self.tokenizer.eos_token_id
        for prompt in prompts:
            text = self._policy(self.tokenizer.decode(prompt))
            ids = self.tokenizer.encode(text, add_special_tokens=False) + [eos]
            ids, reason = cut_at_stop(ids[: sampling.max_new_tokens], self.stop_ids)
            out.append(Generation(ids, [self.logprob] * len(ids), reason))
        return out
