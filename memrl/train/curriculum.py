"""A curriculum: training tasks laid out easy to hard in the order the trainer draws them.

A recipe names its stages as env settings, easiest first, the last being the configured task
(AgeMem: store and recall; then distractors; then corrections, see ``recipes/agemem.py``).
:func:`curriculum_tasks` generates each stage's tasks from the train split and lays them out so
that the steps of the run are split evenly between the stages; ``--curriculum`` also turns off
TRL's ``shuffle_dataset``, so its sampler (``RepeatSampler``) draws the tasks in this order.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from memrl.errors import UserError

Stages = Callable[[Any], "Sequence[dict[str, Any]]"]  # config -> env-setting overrides per stage, easiest first


def tasks_per_generation(config: Any) -> int:
    """Distinct tasks in one generation batch: TRL repeats each task ``num_generations`` times."""
    return config.generation_batch_size // config.num_generations


def generations_in_run(config: Any) -> int | None:
    """Generation batches the run draws (None when ``max_steps`` is -1: the dataset sets it).

    An optimizer step takes ``gradient_accumulation_steps`` micro-batches; a generation batch
    feeds ``steps_per_generation`` micro-batches ``num_iterations`` times (TRL's sampler)."""
    if config.max_steps <= 0:
        return None
    micro_steps = config.max_steps * config.gradient_accumulation_steps
    return math.ceil(micro_steps / (config.steps_per_generation * config.num_iterations))


def curriculum_tasks(config: Any, stages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Train tasks in stage order: the run's generation batches split evenly between the stages
    (an earlier stage gets the extra one), then tasks of the last stage up to ``train_tasks``.
    With ``max_steps`` -1 the ``train_tasks`` are split instead (every epoch repeats the order)."""
    from memrl.env.registry import make

    if not stages:
        raise UserError("a curriculum needs at least one stage")
    per_batch = tasks_per_generation(config)
    batches = generations_in_run(config) or max(1, config.train_tasks // per_batch)
    if batches < len(stages):
        raise UserError(f"--curriculum has {len(stages)} stages but the run draws {batches} generation batch(es): "
                        f"raise --max_steps to at least {len(stages)} batches' worth")
    counts = [per_batch * (batches // len(stages) + (k < batches % len(stages))) for k in range(len(stages))]
    counts[-1] += max(0, config.train_tasks - sum(counts))
    tasks: list[dict[str, Any]] = []
    for overrides, n in zip(stages, counts):
        env = make(config.env_id, **{**config.env_kwargs, **overrides})
        try:
            # The same seed for every stage: their tasks differ by the stage's settings (and ids).
            tasks += env.make_tasks("train", n, config.task_seed)
        except ValueError as exc:
            raise UserError(f"--curriculum stage {overrides}: {exc}") from None
        finally:
            env.close()
    return tasks


def ordered_train_tasks(config: Any, stages: Stages | None, recipe: str) -> list[dict[str, Any]] | None:
    """The curriculum's tasks when ``--curriculum`` is on (and TRL's shuffling off), else None."""
    if not config.curriculum:
        return None
    if stages is None:
        raise UserError(f"{recipe} has no curriculum; drop --curriculum (recipes with one: recipes/agemem.py)")
    # TRL shuffles the train dataset by default: the order below would be lost.
    config.shuffle_dataset = False
    return curriculum_tasks(config, list(stages(config)))
