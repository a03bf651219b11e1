"""What a reward plugin is called with: TRL's batch, one row per episode, plus the episode.

TRL's GRPOTrainer calls ``fn(prompts=, completions=, completion_ids=, **columns, trainer_state=,
log_extra=, log_metric=)``. memrl calls a plugin the same way, so a plugin written for one runs in
the other; a row is an episode, and its completion is the episode's final reply:

- ``prompts[i]``: the messages that final reply answered (the context the model saw then);
- ``completions[i]``: ``[{"role": "assistant", "content": <final reply>}]``;
- ``completion_ids[i]``: that reply's token ids as sampled (empty when the episode never replied);
- every task column, as lists (``answer``, ``question``...);
- :data:`EPISODE_FIELDS`, what only memrl has: the whole episode.

The episode's fields win over task columns of the same name. ``log_extra`` and ``log_metric``
are accepted and dropped (memrl logs ``reward/<name>/mean`` itself); ``trainer_state`` is given
in training only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from memrl.rollout.segments import Trajectory
    from memrl.scoring.compose import RewardOutput, RewardSet

EPISODE_FIELDS = {
    "trajectory": "the whole episode (memrl.rollout.Trajectory): segments, metrics, turns, outcome",
    "turns": "every turn: policy_text, env_messages, context (append/rewrite), reward, format_error, memory (a "
             "snapshot after the turn); empty where the engine did not record turns",
    "outcome": "the env's outcome dict (score, success, answered, components...)",
    "env_reward": "the env's own total reward for the episode",
    "final_memory": "the long-term memory when the episode ended: [{id, content, metadata}]",
    "memory_ops": "memory and context operations by kind (add, update, delete, retrieve, summary, error...)",
}
TRL_FIELDS = ("prompts", "completions", "completion_ids", "trainer_state", "log_extra", "log_metric")
BATCH_FIELDS = frozenset(TRL_FIELDS) | frozenset(EPISODE_FIELDS)


def assistant(text: str) -> list[dict[str, str]]:
    """A reply in TRL's conversational form: one assistant message."""
    return [{"role": "assistant", "content": text}]


def episode_batch(trajectories: Sequence[Trajectory]) -> tuple[list[Any], dict[str, list[Any]]]:
    """(completions, fields) for one batch of episodes; ``fields`` holds ``prompts`` too."""
    columns: dict[str, None] = {}  # ordered union: a batch may mix tasks of different shapes
    for t in trajectories:
        columns.update(dict.fromkeys(t.task))
    fields: dict[str, list[Any]] = {k: [t.task.get(k) for t in trajectories] for k in columns}
    fields.update(
        prompts=[list(t.final_prompt) for t in trajectories],
        completion_ids=[list(t.final_ids) for t in trajectories],
        trajectory=list(trajectories),
        turns=[t.turns for t in trajectories],
        outcome=[t.outcome for t in trajectories],
        env_reward=[t.env_reward for t in trajectories],
        final_memory=[t.final_memory for t in trajectories],
        memory_ops=[dict(t.metrics.get("memory_ops", {})) for t in trajectories],
    )
    return [assistant(t.final_text) for t in trajectories], fields


def _ignore(*args: Any, **kwargs: Any) -> None:
    """TRL's ``log_extra`` / ``log_metric`` stand-in: memrl logs each plugin's mean itself."""


def score_trajectories(trajectories: Sequence[Trajectory], rewards: RewardSet | None,
                       **context: Any) -> RewardOutput | None:
    """Set each trajectory's ``reward`` (and per-plugin ``rewards``): the env's own reward when
    ``rewards`` is None, else the plugins' weighted total. ``context`` is passed to every plugin
    as is (the trainer passes ``trainer_state``)."""
    if rewards is None or not trajectories:
        for t in trajectories:
            t.reward = t.env_reward
        return None
    completions, fields = episode_batch(trajectories)
    fields.update(log_extra=_ignore, log_metric=_ignore)
    out = rewards(completions, **fields, **context)
    for i, t in enumerate(trajectories):
        t.reward = out.total[i]
        t.rewards = {name: values[i] for name, values in out.components.items()}
    return out
