"""OpChoice: a toy memory task small enough for a tiny random model to learn in CI.

Each episode shows two situations, one per turn, and the context is rewritten between them (so
every trajectory has two segments). A situation calls for one memory operation: a new fact ->
"add", a changed fact -> "update", a retracted fact -> "delete", nothing new -> "skip". The reply's first
word is the operation. Reward: the fraction of the two turns answered right.

A random model never writes those words, so :func:`prime_operation_words` gives the tiny model
the prior a format warm start would: the four words' output embeddings point along the model's
mean final hidden state, so it answers with one of them, at about chance (1/4) between them,
and RL has to learn which situation calls for which.
"""

from __future__ import annotations

import random

import torch

from memrl.actions import Action
from memrl.env.base import MemoryEnv

OPS = ("add", "update", "delete", "skip")  # ADD, UPDATE, DELETE, NOOP: one token each in SmolLM2's vocabulary
SITUATIONS = (
    "A new fact arrived that memory does not hold yet.",
    "A fact in memory has changed its value.",
    "A fact in memory was retracted as false.",
    "Nothing new was said.",
)


class OpChoiceEnv(MemoryEnv):
    max_turns = 2

    def __init__(self, tokenizer, **kwargs):
        self.tokenizer = tokenizer
        super().__init__(**kwargs)

    def sample_task(self, rng: random.Random) -> dict:
        return {"id": f"op-{rng.getrandbits(32)}", "situations": [rng.randrange(4), rng.randrange(4)]}

    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict]:
        rng = random.Random(f"{split}/{seed}")
        return [self.sample_task(rng) for _ in range(n)]

    def begin(self, task: dict) -> None:
        self.right = 0
        self._show(0)

    def _show(self, k: int) -> None:
        self.start_stage(("user", f"Situation: {SITUATIONS[self.task['situations'][k]]} Which memory operation?"))

    def parse(self, text: str) -> Action:
        return Action(state=text)  # the reply is free text (its first word the operation), not a tool call

    def after_turn(self, action: Action) -> bool:
        words = (action.state or "").split()
        chosen = OPS.index(words[0]) if words and words[0] in OPS else -1
        self.right += int(chosen == self.task["situations"][self.turn - 1])
        if self.turn == 1:
            self._show(1)  # a new context: the second situation is a new segment
            return False
        return True

    def conclude(self) -> float:
        self.outcome.update(score=self.right / 2, success=self.right == 2)
        return self.right / 2

    def finish(self, answer: str) -> float:  # not reached: parse() never gives an answer
        return 0.0


def op_token_ids(tokenizer) -> list[int]:
    ids = [tokenizer.encode(op, add_special_tokens=False)[0] for op in OPS]
    assert len(set(ids)) == 4 and [tokenizer.decode([i]) for i in ids] == list(OPS), "op words must be single tokens"
    return ids


@torch.no_grad()
def prime_operation_words(model, tokenizer, *, logit: float = 12.0, spread: float = 1.0, seed: int = 0) -> None:
    """Point the four operation words' output embeddings along the mean final hidden state of
    the toy's prompts (logit ~ ``logit``), plus seeded noise so situations can be told apart."""
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": f"Situation: {s} Which memory operation?"}],
                                             tokenize=False, add_generation_prompt=True) for s in SITUATIONS]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    hidden = model(**batch, output_hidden_states=True).hidden_states[-1][:, -1]
    hidden = model.model.norm(hidden) if hasattr(model, "model") else hidden
    mean = hidden.mean(0)
    gen = torch.Generator().manual_seed(seed)
    weight = model.get_output_embeddings().weight
    for token in op_token_ids(tokenizer):
        noise = torch.randn(mean.shape, generator=gen) * spread / mean.norm()
        weight[token] = mean * (logit / mean.norm() ** 2) + noise


def outcome_score(completions, outcome, **kwargs):
    """The episode's score from its outcome (exercises reward plugins on trajectories)."""
    return [float(o.get("score", 0.0)) for o in outcome]
