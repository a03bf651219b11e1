"""OpChoice: a toy memory task small enough for a tiny random model to learn in CI.

Each episode shows two situations, one per turn, and the context is rewritten between them (so
every trajectory has two segments). A situation calls for one memory operation: a new fact ->
ADD, a changed fact -> UPDATE, a retracted fact -> DELETE, nothing new -> NOOP. The reply's
first token picks the operation by its id modulo 4, a fixed verbaliser: a random model is at
chance (1/4) and has to learn the situation -> operation mapping. Reward: the fraction right.
"""

from __future__ import annotations

import random

from memrl.env.base import MemoryEnv

OPS = ("ADD", "UPDATE", "DELETE", "NOOP")
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
        self.context = type(self.context)()
        self.context.append("user", f"Situation: {SITUATIONS[self.task['situations'][k]]} Which memory operation?", pinned=True)

    def step(self, text: str):
        self.turn += 1
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        chosen = ids[0] % 4 if ids else -1
        self.right += int(chosen == self.task["situations"][self.turn - 1])
        self.context.append("assistant", text)
        if self.turn == 2:
            self.done = True
            self.outcome.update(score=self.right / 2, success=self.right == 2)
            return self.context.to_messages(), self.right / 2, True, False, self._info("append", None)
        self._show(1)
        self._seen = self.context.to_messages()
        return list(self._seen), 0.0, False, False, self._info("rewrite", None)

    def finish(self, answer: str) -> float:  # not reached: step() is overridden
        return 0.0
