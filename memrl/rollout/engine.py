"""The multi-turn rollout engine: many episodes at once, one batched generate call per turn,
or, on a streaming backend (hf with ``continuous=True``), continuous batching: an episode whose
turn ended takes its env step at once and its next turn joins the running decode batch.

It records exactly what the model saw and sampled. An *append* turn extends the current
segment with the env's new tokens (the prefix is never re-rendered into ids); a *rewrite*
turn, or a chat template that turns out not to be prefix-preserving, starts a new segment from
the rendered context. Hitting a limit ends the episode as truncated, with the reason recorded.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from memrl.env.contract import Env
from memrl.rollout.backends.base import Backend, Generation, SamplingParams
from memrl.rollout.segments import Segment, Trajectory

from memrl.rollout.summary import TRUNCATION_REASONS  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class RolloutLimits:
    """Explicit budgets. Per turn: ``max_new_tokens``; per model call: ``max_context_tokens``
    (prompt + new tokens); per episode: ``max_turns`` and ``max_episode_tokens`` (policy tokens)."""

    max_turns: int | None = None  # None: the environment's own max_turns
    max_new_tokens: int = 256
    max_context_tokens: int = 4096
    max_episode_tokens: int = 16_384

    def __post_init__(self) -> None:
        for name in ("max_new_tokens", "max_context_tokens", "max_episode_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 1")
        if self.max_turns is not None and self.max_turns < 1:
            raise ValueError(f"max_turns ({self.max_turns}) must be at least 1")


class ChatRenderer:
    """Renders messages with the tokenizer's chat template and tokenizes text without adding
    special tokens (the template already wrote them).

    These run every episode-turn, so where it is safe they skip transformers' per-call wrapping
    (input sanitising, batch detection): the compiled template and the Rust tokenizer are called
    directly, after a probe checked that both give exactly what the slow path gives.
    """

    _PROBE = [
        {"role": "system", "content": "probe"},
        {"role": "user", "content": "Hello <b>wörld</b> 123"},
        {"role": "assistant", "content": "<think>x</think> y\n"},
        {"role": "tool", "content": "stored m1"},
    ]

    def __init__(self, tokenizer: Any, **template_kwargs: Any):
        self.tokenizer = tokenizer
        self.template_kwargs = template_kwargs
        self._template = self._rust = None
        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template

            self._template = _compile_jinja_template(tokenizer.chat_template)
            self._special = {**tokenizer.special_tokens_map, **template_kwargs}
            probe_ok = self._fast_render(self._PROBE) == self._slow_render(self._PROBE)
        except Exception:  # any template the fast path cannot reproduce takes the slow path
            probe_ok = False
        if not probe_ok:
            self._template = None
        # The G episodes of a group are shown identical prompts (same task, same stage), so a
        # small cache turns most full-prompt encodes into a lookup.
        self.encode_prompt = functools.lru_cache(maxsize=4096)(lambda text: tuple(self.encode(text)))
        rust = getattr(tokenizer, "_tokenizer", None)
        text = self._slow_render(self._PROBE)
        if rust is not None and rust.encode(text, add_special_tokens=False).ids == self._slow_encode(text):
            ids = self._slow_encode(text)
            if all(rust.decode(ids, skip_special_tokens=s) == tokenizer.decode(ids, skip_special_tokens=s) for s in (True, False)):
                self._rust = rust

    def render(self, messages: list[dict[str, str]]) -> str:
        return self._fast_render(messages) if self._template is not None else self._slow_render(messages)

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        return self._rust.encode(text, add_special_tokens=False).ids if self._rust is not None else self._slow_encode(text)

    def decode(self, ids: list[int], *, skip_special: bool) -> str:
        if self._rust is not None:
            return self._rust.decode(ids, skip_special_tokens=skip_special)
        return self.tokenizer.decode(ids, skip_special_tokens=skip_special)

    def _fast_render(self, messages: list[dict[str, str]]) -> str:
        return self._template.render(messages=messages, add_generation_prompt=True, **self._special)

    def _slow_render(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, **self.template_kwargs
        )

    def _slow_encode(self, text: str) -> list[int]:
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class _Episode:
    env: Env
    traj: Trajectory
    messages: list[dict[str, str]]
    rendered: str  # the text the current segment's ids stand for
    max_turns: int
    started: float
    policy_tokens: int = 0
    peak: int = 0
    turn: int = 0
    finish_length: int = 0
    template_breaks: int = 0
    done: bool = False

    @property
    def segment(self) -> Segment:
        return self.traj.segments[-1]

    @property
    def context_len(self) -> int:
        return len(self.segment)


@dataclass
class RolloutStats:
    """Where the wall time of the last ``play`` went (for ``bench/rollout.py`` and logging)."""

    total_s: float = 0.0
    generate_s: float = 0.0  # in the backend (generate, or submit + step when streaming)
    episode_turns: int = 0
    generate_calls: int = 0  # batched backend calls: one per turn, or one per decode step when streaming
    policy_tokens: int = 0

    @property
    def outside_generate_s(self) -> float:
        return self.total_s - self.generate_s


class RolloutEngine:
    """Plays episodes turn by turn on a backend and returns segmented trajectories."""

    def __init__(
        self,
        backend: Backend,
        *,
        limits: RolloutLimits = RolloutLimits(),
        sampling: SamplingParams = SamplingParams(),
        record_turns: bool = True,
        chat_template_kwargs: dict[str, Any] | None = None,
        progress: bool | str = False,
    ):
        self.progress = progress  # a bar while episodes play (True, or the bar's label)
        self.backend = backend
        self.limits = limits
        self.sampling = sampling
        self.record_turns = record_turns
        self.chat = ChatRenderer(backend.tokenizer, **(chat_template_kwargs or {}))
        self.stats = RolloutStats()
        self._on_finish: Callable[[int], Any] | None = None
        self._reported = 0

    # -- public ------------------------------------------------------------------------------
    def rollout(
        self,
        make_env: Callable[[], Env],
        tasks: Sequence[dict[str, Any]],
        *,
        group_size: int = 1,
        seed: int = 0,
    ) -> list[Trajectory]:
        """G = ``group_size`` episodes per task (grouped, task-major), each with its own env."""
        envs, items = [], []
        for g, task in enumerate(tasks):
            for k in range(group_size):
                envs.append(make_env())
                items.append((g, k, task, seed + g * group_size + k))
        return self.play(envs, items)

    def play(self, envs: list[Env], items: list[tuple[int, int, dict[str, Any] | None, int]],
             on_finish: Callable[[int], Any] | None = None) -> list[Trajectory]:
        """Run ``envs[i]`` on ``items[i] = (group, sample, task, seed)`` until every episode ends;
        ``on_finish(n)`` is called as n more episodes end (a caller's progress bar)."""
        self.stats = RolloutStats()
        self._on_finish, self._reported = on_finish, 0
        start = time.perf_counter()
        self.backend.clear_cache()
        episodes = [self._start(env, *item) for env, item in zip(envs, items)]
        with self._bar(len(episodes)) as bar, self.backend.stream_session():
            if self.backend.streaming:
                self._play_continuous(episodes, bar, start)
            else:
                self._play_by_turns(episodes, bar, start)
        self.stats.total_s = time.perf_counter() - start
        if on_finish is not None and len(episodes) > self._reported:  # episodes that ended at reset
            on_finish(len(episodes) - self._reported)
        self.backend.clear_cache()
        for e in episodes:
            e.env.close()
        return [e.traj for e in episodes]

    def _play_by_turns(self, episodes: list[_Episode], bar: Any, start: float) -> None:
        """Turn-synchronous: every active episode's next turn in one batched ``generate`` call."""
        active = [e for e in episodes if not e.done]
        while active:
            budgets = [self._budget(e) for e in active]
            ready = [(e, b) for e, b in zip(active, budgets) if b > 0]
            if ready:
                gens = self._generate([e for e, _ in ready], self._request(max(b for _, b in ready)))
                for (episode, budget), gen in zip(ready, gens):
                    self._advance(episode, gen, budget)
            active = [e for e in active if not e.done]
            self._show(bar, len(episodes) - len(active), len(active), start)

    def _play_continuous(self, episodes: list[_Episode], bar: Any, start: float) -> None:
        """Continuous batching on a streaming backend: an episode whose turn ended is stepped in
        its env at once and its next turn joins the running batch (no wait for the slowest reply)."""
        waiting = [i for i, e in enumerate(episodes) if not e.done]
        # With a row cap, an episode starts when one ends: the next turn of a started episode never
        # queues behind the first turns of all the others (which would finish every episode at
        # the very end and keep every episode's cached prefix at once).
        cap = self.backend.max_rows or len(waiting)
        ready, waiting = waiting[:cap], waiting[cap:]
        running: dict[int, int] = {}  # episode index -> its budget for the turn in flight
        while ready or running:
            while ready:
                i = ready.pop(0)
                e = episodes[i]
                budget = self._budget(e)
                if budget > 0:
                    running[i] = budget
                    self.backend.submit(i, e.segment.ids, self._sampling(self._request(budget), i, e.turn))
                elif waiting:  # it ended out of room: the next episode takes its place
                    ready.append(waiting.pop(0))
            if not running:
                continue
            t0 = time.perf_counter()
            finished = self.backend.step()
            self.stats.generate_s += time.perf_counter() - t0
            self.stats.generate_calls += 1
            for i, gen in finished:
                self._advance(episodes[i], gen, running.pop(i))
                if not episodes[i].done:
                    ready.append(i)
                elif waiting:
                    ready.append(waiting.pop(0))
            if finished:
                self._show(bar, sum(e.done for e in episodes), len(running) + len(ready), start)

    # -- progress ----------------------------------------------------------------------------
    def _bar(self, total: int) -> Any:
        """A tqdm bar over finished episodes (a no-op context when progress is off)."""
        from tqdm.auto import tqdm

        label = self.progress if isinstance(self.progress, str) else "rollout"
        return tqdm(total=total, desc=label, unit="ep", leave=False, dynamic_ncols=True, disable=not self.progress)

    def _show(self, bar: Any, finished: int, running: int, start: float) -> None:
        if self._on_finish is not None and finished > self._reported:
            self._on_finish(finished - self._reported)
            self._reported = finished
        if bar.disable:
            return
        bar.update(finished - bar.n)
        elapsed = max(time.perf_counter() - start, 1e-9)
        bar.set_postfix(running=running, turns=self.stats.episode_turns, tok_s=f"{self.stats.policy_tokens / elapsed:.0f}", refresh=False)
        if finished == bar.total:
            bar.refresh()  # the last update may come within tqdm's mininterval of the one before

    # -- one episode -------------------------------------------------------------------------
    def _start(self, env: Env, group: int, sample: int, task: dict[str, Any] | None, seed: int) -> _Episode:
        messages, info = env.reset(seed=seed, options={"task": task} if task is not None else None)
        task = dict(env.task)
        traj = Trajectory(task_id=str(task.get("id", f"task-{group}")), group=group, sample=sample, task=task,
                          final_prompt=list(messages))
        rendered = self.chat.render(messages)
        traj.segments.append(Segment(list(self.chat.encode_prompt(rendered))))
        max_turns = min(env.max_turns, self.limits.max_turns or env.max_turns)
        episode = _Episode(env, traj, messages, rendered, max_turns, time.perf_counter())
        self._log_turn(episode, None, messages, "rewrite", 0.0, info)
        return episode

    def _budget(self, e: _Episode) -> int:
        """New tokens this episode may sample now; <= 0 ends it as truncated with the reason."""
        room_context = self.limits.max_context_tokens - e.context_len
        room_episode = self.limits.max_episode_tokens - e.policy_tokens
        budget = min(self.limits.max_new_tokens, room_context, room_episode)
        if budget <= 0:
            self._end(e, "context_limit" if room_context <= room_episode else "episode_token_limit")
        return budget

    def _request(self, budget: int) -> int:
        """New tokens to ask for: the budget, plus one when the episode's room (not the turn's
        max_new_tokens) set it, so that a reply which does not end within it is seen as cut."""
        return budget if budget >= self.limits.max_new_tokens else budget + 1

    def _sampling(self, max_new: int, episode: int, turn: int) -> SamplingParams:
        s = self.sampling
        # Each episode-turn its own seed: samples that do not depend on which other episodes
        # share the decode batch, and no two turns drawing the same stream.
        seed = None if s.seed is None else s.seed + 100_003 * episode + turn
        return SamplingParams(max_new, s.temperature, s.top_p, s.top_k, seed)

    def _generate(self, episodes: list[_Episode], max_new: int) -> list[Generation]:
        s = self.sampling
        # A fresh seed per call: the same seed every turn would correlate the turns' samples.
        seed = None if s.seed is None else s.seed + self.stats.generate_calls
        sampling = SamplingParams(max_new, s.temperature, s.top_p, s.top_k, seed)
        t0 = time.perf_counter()
        gens = self.backend.generate([e.segment.ids for e in episodes], sampling)
        self.stats.generate_s += time.perf_counter() - t0
        self.stats.generate_calls += 1
        return gens

    def _advance(self, e: _Episode, gen: Generation, budget: int) -> None:
        ids, logprobs = gen.token_ids[:budget], gen.logprobs[:budget]
        e.segment.add_policy(ids, logprobs)
        e.policy_tokens += len(ids)
        e.peak = max(e.peak, e.context_len)
        e.turn += 1
        self.stats.episode_turns += 1
        self.stats.policy_tokens += len(ids)
        cut = len(gen.token_ids) > budget
        if gen.finish_reason == "length" or cut:
            e.finish_length += 1
        if cut and budget < self.limits.max_new_tokens:
            # The episode, not the turn, ran out of room: the reply is incomplete, so the env
            # does not see it and the episode ends here.
            room_context = self.limits.max_context_tokens - e.context_len
            self._end(e, "context_limit" if room_context <= 0 else "episode_token_limit")
            return
        text = self.chat.decode(ids, skip_special=True)
        messages, reward, terminated, truncated, info = e.env.step(text)
        e.traj.env_reward += reward
        e.traj.final_text, e.traj.final_prompt, e.traj.final_ids = text, list(e.messages), list(ids)
        if terminated or truncated:
            self._log_turn(e, text, messages, info["context"], reward, info)
            reason = e.env.outcome.get("truncated", "turn_limit") if truncated else None
            self._end(e, reason, info)
            return
        env_ids = self._extension(e, ids, messages) if info["context"] == "append" else None
        if env_ids is None:
            mode, rendered = "rewrite", self.chat.render(messages)
            next_len, next_ids = 0, list(self.chat.encode_prompt(rendered))
        else:
            mode, (rendered, next_ids) = "append", env_ids
            next_len = len(e.segment)
        if next_len + len(next_ids) >= self.limits.max_context_tokens:
            # The next context would leave no room to answer: end here, without recording
            # tokens the model was never shown.
            self._log_turn(e, text, messages, mode, reward, info)
            self._end(e, "context_limit", info)
            return
        if mode == "rewrite":
            e.traj.segments.append(Segment(next_ids))
        else:
            e.segment.add_env(next_ids)
        e.rendered = rendered
        self._log_turn(e, text, messages, mode, reward, info)
        e.messages = messages
        if e.turn >= e.max_turns:
            self._end(e, "turn_limit", info)

    def _extension(self, e: _Episode, sampled: list[int], messages: list[dict[str, str]]) -> tuple[str, list[int]] | None:
        """The rendered context and the env ids that extend the segment; None if the template
        forbids appending (then the caller starts a new segment)."""
        rendered = self.chat.render(messages)
        prefix = e.rendered + self.chat.decode(sampled, skip_special=False)
        if not rendered.startswith(prefix):
            # Not prefix-preserving (e.g. a template that drops earlier <think> blocks, or a
            # reply the template re-renders differently): keep what was sampled in this
            # segment and show the model the re-rendered context in a new one.
            e.template_breaks += 1
            return None
        return rendered, self.chat.encode(rendered[len(prefix) :])

    def _end(self, e: _Episode, reason: str | None, info: dict[str, Any] | None = None) -> None:
        e.done = True
        env, traj = e.env, e.traj
        if reason in ("context_limit", "episode_token_limit") and not env.done:
            # The engine, not the env, ended it: an env that scores its ends (AgeMem's turn-limit
            # penalty and components) scores this one too, so no reward plugin finds it unscored.
            traj.env_reward += float(env.cut(reason) or 0.0)
        traj.outcome = dict(env.outcome)
        memory = env.memory
        traj.final_memory = memory.snapshot() if memory is not None else []
        traj.reward = traj.env_reward
        policy = sum(s.policy_tokens for s in traj.segments)
        shown = sum(len(s) for s in traj.segments) - policy
        traj.metrics = {
            "turns": e.turn,
            "segments": len(traj.segments),
            "policy_tokens": policy,
            "env_tokens": shown,
            "peak_context_tokens": max(e.peak, e.context_len),
            "memory_ops": dict((info or {}).get("memory_ops", {})),
            "format_errors": int(env.format_errors),
            "truncated": reason,
            "finish_length": e.finish_length,
            "template_breaks": e.template_breaks,
            "wall_s": time.perf_counter() - e.started,
        }

    def _log_turn(self, e: _Episode, text: str | None, messages: list, mode: str, reward: float, info: dict) -> None:
        if not self.record_turns:
            return
        shown = messages[len(e.messages) + 1 :] if mode == "append" else messages
        memory = e.env.memory
        e.traj.turns.append({
            "turn": e.turn,
            "segment": len(e.traj.segments) - 1,
            "policy_text": text,
            "context": mode,
            "env_messages": list(shown),
            "reward": reward,
            "format_error": info.get("format_error"),
            "memory": memory.snapshot() if memory is not None else [],
        })
