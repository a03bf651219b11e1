"""Memory-R1 (arXiv 2508.19828): a Memory Manager and an Answer Agent over a memory bank.

- ``memrl/MemoryR1-Manager-v0`` (:mod:`.manager`): ADD / UPDATE / DELETE / NOOP per extracted
  fact; a frozen answer agent scores the bank.
- ``memrl/MemoryR1-Answer-v0`` (:mod:`.answer`): select the relevant memories, then answer.

Conversations come from the seeded generator (the CPU default), from LoCoMo (``source="locomo"``,
the paper's 152/81/1,307 split) or from a file of your own in LoCoMo's layout (``"path"``), see
:mod:`memrl.data.conversations`; the frozen answer agents are in :mod:`memrl.scoring.answerers`.
"""

from memrl.envs.memory_r1.answer import MemoryR1AnswerEnv
from memrl.envs.memory_r1.manager import MemoryR1ManagerEnv

__all__ = ["MemoryR1AnswerEnv", "MemoryR1ManagerEnv"]
