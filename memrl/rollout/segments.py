"""Trajectories as segments of exact token ids.

A segment is one unbroken context: the prompt ids it started from, then everything appended
after it (the model's sampled tokens and the env's tokens, interleaved), with a loss mask
(1 = policy token, 0 = env token) and the sampling logprob of each policy token. Appending
turns extend a segment; rewriting turns start a new one. Every method memrl reproduces is
this one mechanism with a different cut.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Segment:
    prompt_ids: list[int]
    completion_ids: list[int] = field(default_factory=list)
    completion_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)  # 0.0 on env tokens

    def add_policy(self, ids: list[int], logprobs: list[float]) -> None:
        if len(ids) != len(logprobs):
            raise ValueError(f"{len(ids)} policy ids but {len(logprobs)} logprobs")
        self.completion_ids += ids
        self.completion_mask += [1] * len(ids)
        self.logprobs += logprobs

    def add_env(self, ids: list[int]) -> None:
        self.completion_ids += ids
        self.completion_mask += [0] * len(ids)
        self.logprobs += [0.0] * len(ids)

    @property
    def ids(self) -> list[int]:
        """The whole context as the model last saw it (prompt + completion)."""
        return self.prompt_ids + self.completion_ids

    @property
    def policy_tokens(self) -> int:
        return sum(self.completion_mask)

    @property
    def env_tokens(self) -> int:
        """Env tokens after the prompt (the prompt itself is env text too; see ``prompt_ids``)."""
        return len(self.completion_mask) - self.policy_tokens

    def __len__(self) -> int:
        return len(self.prompt_ids) + len(self.completion_ids)


@dataclass
class Trajectory:
    """One episode: its task, segments, outcome, rewards and metrics, plus a turn log."""

    task_id: str
    group: int  # index of the task in the batch: trajectories of one group share a task
    sample: int  # index within the group (0..G-1)
    task: dict[str, Any]
    segments: list[Segment] = field(default_factory=list)
    env_reward: float = 0.0
    rewards: dict[str, float | None] = field(default_factory=dict)  # per reward plugin
    reward: float = 0.0  # the total the advantage is computed from
    outcome: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    turns: list[dict[str, Any]] = field(default_factory=list)  # for inspection
    final_text: str = ""  # the model's last reply
    # What reward plugins see besides final_text (memrl.scoring.batch): the messages that reply
    # answered, its token ids as sampled, and the long-term memory when the episode ended.
    final_prompt: list[dict[str, Any]] = field(default_factory=list)
    final_ids: list[int] = field(default_factory=list)
    final_memory: list[dict[str, Any]] = field(default_factory=list)

    @property
    def truncated(self) -> str | None:
        return self.metrics.get("truncated")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "Trajectory":
        row = dict(row)
        row["segments"] = [Segment(**s) for s in row.get("segments", [])]
        return cls(**row)
