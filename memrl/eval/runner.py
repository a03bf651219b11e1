"""Play policies and baselines on the same held-out tasks and turn trajectories into table rows.

``run_policy`` plays one policy (an in-memory model, or any backend) on one env in one memory
mode; ``evaluate`` runs every policy plus the untrained base's baselines over every env and
returns an :class:`EvalResult`. Model loading stays outside: a policy is ``(model, tokenizer)``,
a ready :class:`Backend`, or a callable returning a context manager that yields
``(model, tokenizer)`` (how the CLI applies an adapter only while it is evaluated).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Mapping, Sequence, Union

from memrl.env.registry import make
from memrl.errors import UserError
from memrl.eval.metrics import episode_record, policy_row, score_name
from memrl.eval.result import EvalResult, add_paired_differences
from memrl.eval.tasks import check_tasks, generated_tasks, read_tasks_file
from memrl.rollout import Backend, RolloutEngine, RolloutLimits, SamplingParams, Trajectory, make_backend

PolicyLike = Union[tuple[Any, Any], Backend, Callable[[], ContextManager[tuple[Any, Any]]]]
BASE = "base"
WINDOW_CAP = 8192  # the default context budget: the model's window, capped (CPU memory, speed)


def default_context_tokens(model: Any) -> int:
    """The model's window capped at 8,192 tokens (4,096 when the model does not say)."""
    window = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    return min(int(window), WINDOW_CAP) if window else 4096


def streaming(backend: str, batch_size: int) -> dict[str, Any]:
    """The hf backend batches continuously, at most ``batch_size`` episodes at a time: an episode
    whose turn ended steps and rejoins the decode batch at once, and a finished one's row goes to
    the next task (greedy: the same episodes as turn by turn, tested)."""
    return {"continuous": True, "batch_size": batch_size} if backend == "hf" else {}


def run_policy(
    model: Any,
    tokenizer: Any,
    env_id: str,
    tasks: Sequence[dict[str, Any]],
    *,
    memory_mode: str = "agent",
    env_kwargs: Mapping[str, Any] | None = None,
    backend: str | Backend = "hf",
    max_new_tokens: int = 128,
    max_context_tokens: int | None = None,
    max_turns: int | None = None,
    max_episode_tokens: int | None = None,
    temperature: float = 0.0,
    seed: int = 0,
    batch_size: int = 8,
    rewards: Any = None,
    progress: Any = None,
) -> list[Trajectory]:
    """One episode per task, ``batch_size`` episodes decoded together (the hf backend: a continuous
    batch of at most ``batch_size`` rows; others: chunks of ``batch_size``); greedy by default.

    Episode ``i`` gets env seed ``seed + i`` whatever the policy, so policies differ only in
    what they do. ``rewards`` (a :class:`~memrl.scoring.RewardSet`) rescores the trajectories
    the way the trainer does; without it the reward is the env's own. ``progress`` (a tqdm bar)
    is advanced by one per finished episode.
    """
    if batch_size < 1:
        raise UserError(f"--batch-size ({batch_size}) must be at least 1")
    kwargs = dict(env_kwargs or {})
    if not isinstance(backend, Backend):
        backend = make_backend(backend, model=model, tokenizer=tokenizer, **streaming(backend, batch_size))
    limits = RolloutLimits(max_turns=max_turns, max_new_tokens=max_new_tokens,
                           max_context_tokens=max_context_tokens or default_context_tokens(model),
                           **({"max_episode_tokens": max_episode_tokens} if max_episode_tokens else {}))
    engine = RolloutEngine(backend, limits=limits, record_turns=False,
                           sampling=SamplingParams(max_new_tokens, temperature, seed=seed))
    trajectories: list[Trajectory] = []
    # A streaming backend takes every task in one continuous batch of at most batch_size rows (no
    # chunk waits for its slowest episode); the others play chunks of batch_size.
    size = max(len(tasks), 1) if backend.streaming else batch_size
    for start in range(0, len(tasks), size):
        chunk = list(tasks[start : start + size])
        envs = [make(env_id, **kwargs, memory_mode=memory_mode) for _ in chunk]
        items = [(start + i, 0, task, seed + start + i) for i, task in enumerate(chunk)]
        trajectories += engine.play(envs, items, on_finish=progress.update if progress is not None else None)
    score_trajectories(trajectories, rewards)
    return trajectories


def score_trajectories(trajectories: list[Trajectory], rewards: Any = None) -> None:
    """Set ``reward`` (and per-plugin ``rewards``) as ``MemoryGRPOTrainer._score`` does."""
    from memrl.scoring import score_trajectories as score

    score(trajectories, rewards)


def resolve_baselines(env_id: str, env_kwargs: Mapping[str, Any], baselines: str | Sequence[str]) -> list[str]:
    """``"all"``: every non-agent mode the env supports; ``"none"``/empty: no baselines."""
    env = make(env_id, **env_kwargs)
    supported = [m for m in env.supported_modes if m != "agent"]
    env.close()
    if isinstance(baselines, str):
        if baselines.strip() in ("all", ""):
            return supported if baselines.strip() == "all" else []
        if baselines.strip() == "none":
            return []
        baselines = [b.strip() for b in baselines.split(",") if b.strip()]
    unknown = [b for b in baselines if b not in supported]
    if unknown:
        raise UserError(f"{env_id} has no baseline {', '.join(map(repr, unknown))}; it supports "
                        f"{', '.join(supported) or 'none'} (or use --baselines all / none)")
    return list(baselines)


def load_tasks(env_id: str, env_kwargs: Mapping[str, Any], *, episodes: int, split: str, task_seed: int,
               tasks_file: str | None = None) -> list[dict[str, Any]]:
    """The one task list every policy plays on ``env_id``, checked against the env up front."""
    if episodes < 1:
        raise UserError(f"--episodes ({episodes}) must be at least 1")
    if tasks_file is None:
        return generated_tasks(env_id, dict(env_kwargs), split=split, episodes=episodes, task_seed=task_seed)
    tasks = read_tasks_file(tasks_file, episodes)
    check_tasks(env_id, dict(env_kwargs), tasks, str(tasks_file))
    return tasks


def evaluate(
    policies: Mapping[str, PolicyLike],
    env_ids: Sequence[str],
    *,
    episodes: int = 100,
    split: str = "test",
    task_seed: int = 0,
    tasks_file: str | None = None,
    tasks: Mapping[str, list[dict[str, Any]]] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    baselines: str | Sequence[str] = "all",
    backend: str = "hf",
    temperature: float = 0.0,
    seed: int = 0,
    max_new_tokens: int = 128,
    max_context_tokens: int | None = None,
    max_turns: int | None = None,
    max_episode_tokens: int | None = None,
    batch_size: int = 8,
    reward_plugins: Mapping[str, float] | None = None,
    config: Mapping[str, Any] | None = None,
) -> EvalResult:
    """Every policy in agent mode, then the baselines on ``policies["base"]``, on the same tasks.

    ``tasks`` (env id -> task list) replaces the generator and ``tasks_file``. Returns rows per
    (policy, env) with score CIs and, for every policy, the paired bootstrap CI of its score
    minus the base's over the same tasks.
    """
    from tqdm.auto import tqdm

    kwargs = dict(env_kwargs or {})
    if isinstance(env_ids, str):
        env_ids = [env_ids]
    if tasks is None:
        tasks = {e: load_tasks(e, kwargs, episodes=episodes, split=split, task_seed=task_seed, tasks_file=tasks_file)
                 for e in env_ids}
    modes = {e: resolve_baselines(e, kwargs, baselines) for e in env_ids}
    if any(modes.values()) and BASE not in policies:
        raise UserError(f"baselines run on the untrained base: pass a policy named {BASE!r} (or baselines='none')")
    rewards = None
    if reward_plugins:
        from memrl.scoring import RewardSet

        rewards = RewardSet(dict(reward_plugins))
        for env_tasks in tasks.values():  # a missing task column fails now, not after the episodes
            if env_tasks:
                rewards.check_fields(list(env_tasks[0]))
    run_kwargs = dict(env_kwargs=kwargs, max_new_tokens=max_new_tokens, max_context_tokens=max_context_tokens,
                      max_turns=max_turns, max_episode_tokens=max_episode_tokens, temperature=temperature, seed=seed, batch_size=batch_size, rewards=rewards)
    jobs = [(name, "agent", [(e, "agent") for e in env_ids]) for name in policies]
    if any(modes.values()):
        jobs.append((BASE, "baseline", [(e, m) for e in env_ids for m in modes[e]]))
    total = sum(len(tasks[e]) for _, _, runs in jobs for e, _ in runs)
    rows = []
    with tqdm(total=total, desc="eval", unit="episode") as bar:
        for name, kind, runs in jobs:
            with _policy(policies[name]) as (model, tokenizer, policy_backend):
                # One backend per policy: a vLLM engine is expensive to start, the hf one is free.
                policy_backend = policy_backend or make_backend(backend, model=model, tokenizer=tokenizer,
                                                                **streaming(backend, batch_size))
                for env_id, mode in runs:
                    label = name if kind == "agent" else mode
                    bar.set_description(f"{label} · {env_id}")
                    t0 = time.perf_counter()
                    trajs = run_policy(model, tokenizer, env_id, tasks[env_id], memory_mode=mode,
                                       backend=policy_backend, progress=bar, **run_kwargs)
                    rows.append(_row(label, kind, mode, env_id, kwargs, trajs, time.perf_counter() - t0))
    add_paired_differences(rows, BASE)
    run_config = dict(config or {})
    run_config.update(env_ids=list(env_ids), episodes=episodes, split=split, task_seed=task_seed, tasks_file=tasks_file,
                      env_kwargs=kwargs, baselines=modes, backend=backend, temperature=temperature, seed=seed,
                      max_new_tokens=max_new_tokens, max_context_tokens=max_context_tokens, max_turns=max_turns,
                      max_episode_tokens=max_episode_tokens, batch_size=batch_size, reward_plugins=dict(reward_plugins or {}))
    return EvalResult(config=run_config, rows=rows)


def _row(label: str, kind: str, mode: str, env_id: str, env_kwargs: dict[str, Any], trajs: list[Trajectory],
         wall_s: float) -> dict[str, Any]:
    env = make(env_id, **env_kwargs)  # only for task_size / size_key: the plots' x axis
    records = [episode_record(t, env.task_size(t.task)) for t in trajs]
    row = policy_row(label, kind, mode, env_id, trajs, records, wall_s)
    row["size_key"] = env.size_key
    row["metric"] = score_name(env)  # what "score" measures, for the tables and plots
    env.close()
    return row


def _policy(policy: PolicyLike) -> ContextManager[tuple[Any, Any, Backend | None]]:
    """(model, tokenizer, backend-or-None) for any PolicyLike, as a context manager."""
    from contextlib import contextmanager

    if isinstance(policy, Backend):
        return nullcontext((None, policy.tokenizer, policy))
    if isinstance(policy, tuple):
        return nullcontext((*policy, None))
    if callable(policy):
        @contextmanager
        def entered():
            with policy() as (model, tokenizer):
                yield model, tokenizer, None

        return entered()
    raise TypeError(f"a policy must be (model, tokenizer), a Backend or a loader; got {type(policy).__name__}")
