"""The environment base class: Gymnasium-style, text in and text out.

``reset(*, seed, options) -> (messages, info)`` and ``step(text) -> (messages, reward,
terminated, truncated, info)``. ``messages`` is always the whole context the model sees next.
``info["context"]`` says how it relates to what the model saw before:

- ``"append"``: the new messages are the old ones + the model's reply + new env messages, so the
  rollout engine can extend the token ids it already has (no re-rendering, no drift);
- ``"rewrite"``: anything else (a stage reset, a summary, a prune, MEM1's consolidation), so the
  engine starts a new segment with exactly what the model is shown.

What the rollout engine, the trainers and eval read of an env is :class:`memrl.env.contract.Env`;
this class fulfils it. A subclass never overrides ``reset`` or ``step``: it fills these hooks.

Task and score (every env):

- :meth:`sample_task` (one task from an rng) and :meth:`make_tasks` (seeded splits that never
  share a task; by default drawn from ``sample_task``);
- :meth:`begin` fills ``self.context`` with the episode's first messages;
- :meth:`finish` scores an answer, records ``outcome["score"]`` / ``outcome["success"]`` and
  returns the terminal reward;
- tools are methods marked ``@tool``; their docstrings and type hints are the schemas.

The turn (override where a method does something else):

- :meth:`parse` — how a reply becomes an :class:`~memrl.actions.Action` (default: the env's
  ``protocol`` reply format over its tools; MemAgent's read turns take the whole reply as the
  memory, ``Action(state=text)``, with no format error);
- :meth:`run_tool` — one validated call's result text (MEM1 wraps it in ``<information>``);
- :meth:`after_turn` — advance stages after a turn that gave no answer; True ends the episode;
- :meth:`conclude` — the reward when ``after_turn`` ended it (Memory-R1's manager scores its bank);
- :meth:`truncation_reward` — the reward when the episode runs out before an answer, at
  ``max_turns`` or at a token limit the rollout engine hit (:meth:`cut`); AgeMem's -1 penalty.

What the model is shown:

- :meth:`render` — the context as chat messages (``show_message_ids`` prefixes ``[id]``; MemAct
  also names the call a tool result answers);
- :meth:`may_append` — False to start a new training segment even where the next messages
  extend the last (MEM1 trains one segment per turn). A stage that clears the context
  (:meth:`start_stage`) always starts one.

A tool that raises does not end the episode: the model sees a typed ``Tool error (env_error)``
line, ``info["env_error"]`` holds it, ``info["memory_ops"]["env_error"]`` counts them (logged as
``memory/ops/env_error``), and the exception is logged with its traceback and the episode id,
because a well-formed call that raises is an env bug someone must see. Tool arguments reach the
tool only after the parser checked them against the schema, numeric bounds included.

Baselines (``memory_mode``, :mod:`memrl.env.modes`) run on the same env and tasks as the trained
policy, so an evaluation compares like with like (``memrl eval``). Each mode is one object the
base holds as ``self.mode``; an env lists the modes it supports in ``supported_modes`` and never
branches on their names. Outside ``"agent"`` the memory tools (``memory_tools``, default every
tool) are hidden, and the episode starts with :meth:`begin_baseline` (default :meth:`begin`;
AgeMem, MemAgent and Memory-R1's manager skip the turns that only build memory). The env uses
four helpers, which the mode answers: :meth:`observe` on every piece of information it shows
(``retrieval`` indexes it; ``heuristic`` stores :meth:`heuristic_fact` of each sentence, keyed
by :meth:`fact_key`), :meth:`start_stage` where a stage clears the context (``full_context``
keeps it), :meth:`recall` before the question, and :meth:`memory_hint` for an instruction that
names the tools. Where an env's own rule depends on the mode it asks ``self.mode.is_agent`` or
``self.mode.keeps_context``, never the name (MEM1 drops the reply without memory).

An episode that ends without a score gets ``answered: false`` and score 0 (``answered: true``
otherwise); ``size_key`` names the task field that measures task size. A scripted expert
(``expert_reply()``, :class:`memrl.env.contract.ScriptedExpert`: what a good agent writes now)
is optional; the SFT warm start needs it and the tests use it.
"""

from __future__ import annotations

import logging
import random
import re
import string
from typing import Any

from memrl.actions import Action, ReplyFormat, ToolCall, parse_action
from memrl.env.modes import MEMORY_MODES, MODES, MemoryMode
from memrl.env.splits import generate_split
from memrl.env.tools import call_tool, collect_tools, compact_tools_prompt, tools_prompt
from memrl.errors import UserError
from memrl.memory import Context, make_store, store_class, unknown_store_settings

Messages = list[dict[str, str]]

# SQuAD normalisation (memrl.scoring.text.normalize, which tests/env/test_fact_key.py checks this
# against), here so the env layer does not import the reward package above it.
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation)
log = logging.getLogger(__name__)
_REPORTED: set[tuple[str, str, str]] = set()


class MemoryEnv:
    """Base class of memrl's text environments (see the module docstring for the hooks).

    A subclass documents itself in Gymnasium's template, the sections in this order (checked for
    every built-in by :func:`memrl.env.checker.check_docstring`)::

        Description:      what an episode is, stage by stage
        Memory tools:     the tools (or "none") and what they change
        Observation:      the messages the model is shown
        Rewards:          the reward and what outcome records
        Episode end:      terminated / truncated, and when
        Arguments:        every constructor setting
        Version history:  v0: first version (bump the id's -vN when behaviour changes)
    """

    protocol: ReplyFormat = ReplyFormat()
    max_turns: int = 8
    tool_role: str = "tool"
    spec: Any = None  # set by the registry's make()
    hidden_tools: tuple[str, ...] = ()
    supported_modes: tuple[str, ...] = ("agent",)
    memory_tools: tuple[str, ...] | None = None  # hidden in baseline modes; None = every tool
    size_key: str | None = None  # the task field that measures task size (for eval plots)
    score_name: str | None = None  # what outcome["score"] measures, for eval tables (None: the env's metric setting)
    recall_top_k: int = 5
    show_message_ids: bool = False  # prefix each message with "[id] " (tools that name messages)

    def __init__(self, *, max_turns: int | None = None, memory: str = "inprocess", memory_mode: str = "agent",
                 tool_prompt: str = "json", **memory_kwargs: Any):
        if max_turns is not None:
            if max_turns < 1:
                raise ValueError(f"max_turns ({max_turns}) must be at least 1")
            self.max_turns = max_turns
        if memory_mode not in self.supported_modes:
            known = "" if memory_mode in MEMORY_MODES else f" (known modes: {', '.join(MEMORY_MODES)})"
            raise UserError(f"{type(self).__name__} does not support memory_mode {memory_mode!r}{known}; "
                            f"it supports {', '.join(self.supported_modes)}")
        if memory_mode not in MODES:
            raise UserError(f"{type(self).__name__}.supported_modes names {memory_mode!r}, which is no memory mode "
                            f"(known modes: {', '.join(MEMORY_MODES)})")
        self.memory_mode = memory_mode
        self.mode: MemoryMode = MODES[memory_mode]
        if tool_prompt not in ("json", "compact"):
            raise UserError(f"tool_prompt ({tool_prompt!r}) must be 'json' (Hermes/Qwen schemas) or 'compact' (one line per tool)")
        self.tool_prompt = tool_prompt
        if not self.mode.is_agent:
            hide = self.memory_tools if self.memory_tools is not None else tuple(n for n, _ in collect_tools(self).items())
            self.hidden_tools = tuple(self.hidden_tools) + tuple(hide)
        try:
            store_class(memory)  # a misspelt store kind fails here, not at the first reset
        except ValueError as exc:
            raise UserError(f"{type(self).__name__}: {exc}") from None
        unknown = unknown_store_settings(memory, memory_kwargs)
        if unknown:  # every setting an env does not name goes to its store: a typo would fail only at reset
            raise UserError(f"{type(self).__name__} has no setting {unknown[0]!r} (nor has its {memory!r} memory store); "
                            f"check env_kwargs / --env-kwargs against the settings in its docstring")
        self._memory_kind, self._memory_kwargs = memory, memory_kwargs
        self._tools = collect_tools(self)
        self.tool_specs = {name: spec for name, (spec, _) in self._tools.items()}
        self.memory = None
        self.context: Context | None = None
        # What memrl.env.contract.Env promises before the first reset too (an empty episode).
        self.task: dict[str, Any] = {}
        self.outcome: dict[str, Any] = {}
        self.seed: int | None = None
        self.turn = self.format_errors = self.env_errors = 0
        self.done, self._new_stage = True, False

    # -- hooks: task and score ----------------------------------------------------------------
    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        """``n`` seeded tasks of a split (train / validation / test never share a task). By default
        drawn from :meth:`sample_task` and split by a hash of their content (:mod:`memrl.env.splits`)."""
        content = lambda task: {k: v for k, v in task.items() if k != "id"}  # noqa: E731  (an id is not content)
        return generate_split(self.sample_task, content, split=split, n=n, seed=seed, prefix=type(self).__name__)

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        """A task drawn from the environment's own generator (used when reset gets no task)."""
        raise NotImplementedError(f"{type(self).__name__} has no task generator (sample_task); pass tasks explicitly")

    def begin(self, task: dict[str, Any]) -> None:
        """Fill ``self.context`` with the first messages of the episode."""
        raise NotImplementedError(f"{type(self).__name__} must implement begin()")

    def begin_baseline(self, task: dict[str, Any]) -> None:
        """:meth:`begin` for a baseline memory mode (no memory tools). By default the same
        episode; an env whose first turns only build memory with the tools skips them here and
        shows what is left at question time (AgeMem's stages 1-2, MemAgent's reading, Memory-R1's
        manager turns), calling :meth:`observe` on what those turns would have shown."""
        self.begin(task)

    def finish(self, answer: str) -> float:
        """Score the final answer, record it in ``self.outcome``, return the terminal reward."""
        raise NotImplementedError(f"{type(self).__name__} must implement finish()")

    # -- hooks: the turn -----------------------------------------------------------------------
    def parse(self, text: str) -> Action:
        """How this turn's reply becomes an action: by default the ``protocol`` reply format over
        the env's tools (bad output becomes a format error, never an exception). A turn whose
        reply is not an action returns ``Action(state=text)``: no tool, no answer, no error."""
        return parse_action(text, self.tool_specs, self.protocol)

    def after_turn(self, action: Action) -> bool:
        """Advance stages after a turn without a final answer (its tool results are already in the
        context); return True to end the episode (terminated, rewarded by :meth:`conclude`)."""
        return False

    def conclude(self) -> float:
        """:meth:`after_turn` ended the episode without an answer: record the outcome, return the
        terminal reward (default 0.0: without ``outcome["score"]`` the episode is unanswered)."""
        return 0.0

    def truncation_reward(self, reason: str) -> float:
        """The episode ran out before an answer: ``reason`` is ``"turn_limit"`` (``max_turns``), or
        ``"context_limit"`` / ``"episode_token_limit"`` when the rollout engine cut it (:meth:`cut`).
        Record what it scores in the outcome and return its reward (default 0.0)."""
        return 0.0

    # -- hooks: what the model is shown -------------------------------------------------------
    def render(self) -> Messages:
        """The context as the chat messages the model sees. With ``show_message_ids`` every message
        but the model's own replies starts with ``[id]`` (a prefixed reply would no longer match
        what was sampled, so every turn would start a new segment)."""
        if not self.show_message_ids:
            return self.context.to_messages()
        return [{"role": m.role, "content": m.content if m.role == "assistant" else f"[{m.id}] {m.content}"}
                for m in self.context.messages]

    def may_append(self) -> bool:
        """Whether this turn's next messages may extend what the model saw (``"append"``) when they
        do; False starts a new training segment anyway (MEM1: one segment per turn)."""
        return True

    # -- the contract (not overridden: subclasses fill the hooks above) ------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Messages, dict]:
        options = options or {}
        self.seed = seed
        self.rng = random.Random(seed)
        self.task = dict(options["task"]) if options.get("task") is not None else self.sample_task(self.rng)
        if self.memory is not None:
            self.memory.close()
        self.memory = make_store(self._memory_kind, **self._memory_kwargs)
        self.context = Context()
        self.turn, self.format_errors, self.env_errors, self.done = 0, 0, 0, False
        self._env_error: str | None = None
        self.outcome: dict[str, Any] = {}
        self.mode.begin(self, self.task)  # begin, or begin_baseline in a baseline mode
        self._seen = self.render()
        self._new_stage = False
        return list(self._seen), self._info("rewrite", None)

    def step(self, text: str) -> tuple[Messages, float, bool, bool, dict]:
        if self.done:
            raise RuntimeError("step() called on a finished episode; call reset() first")
        self.turn += 1
        self._env_error = None
        text = text if isinstance(text, str) else ""
        action = self.parse(text)
        self.context.append("assistant", text)
        if not action.ok:
            self.format_errors += 1
        reward, terminated = self._act(action)
        truncated = not terminated and self.turn >= self.max_turns
        if truncated:
            self.outcome.setdefault("truncated", "turn_limit")
            reward += float(self.truncation_reward("turn_limit"))
        self.done = terminated or truncated
        if self.done:
            self._settle_outcome()
        messages = self.render()
        # A stage that cleared the context is a new segment even where its messages extend the last.
        append = self.may_append() and not self._new_stage and self._extends(messages, text)
        self._seen, self._new_stage = messages, False
        return list(messages), reward, terminated, truncated, self._info("append" if append else "rewrite", action)

    def cut(self, reason: str) -> float:
        """The rollout engine ended the episode at a token limit: it ends unanswered, scored by
        :meth:`truncation_reward` (0 by default)."""
        self.done = True
        self.outcome.setdefault("truncated", reason)
        reward = float(self.truncation_reward(reason))
        self._settle_outcome()
        return reward

    def close(self) -> None:
        if self.memory is not None:
            self.memory.close()

    # -- helpers for subclasses --------------------------------------------------------------
    def run_tool(self, call: ToolCall) -> str:
        """Run one validated tool call; the returned text is what the model sees. A tool that
        raises becomes a typed tool error (see the module docstring), not the end of the rollout."""
        _, method = self._tools[call.name]
        try:
            return call_tool(method, call.arguments)
        except Exception as exc:  # noqa: BLE001 - contained per call, counted and logged loudly
            return self._tool_failed(call, exc)

    def system_prompt(self, instructions: str) -> str:
        """Instructions followed by the generated tool schemas."""
        specs = list(self.tool_specs.values())
        if not specs:
            return instructions
        render = compact_tools_prompt if self.tool_prompt == "compact" else tools_prompt
        return f"{instructions}\n\n{render(specs)}"

    # -- baseline agents (memory_mode) -------------------------------------------------------
    def observe(self, text: str, *, facts: list[str] | None = None) -> None:
        """Call on every piece of information the env shows (facts, distractors, chunks): the
        ``retrieval`` baseline indexes ``text`` as is, the ``heuristic`` one stores its sentences
        (or those of ``facts``, the facts the env knows ``text`` states); the other modes keep
        nothing (:mod:`memrl.env.modes`)."""
        self.mode.observe(self, text, facts)

    def memory_hint(self, text: str, otherwise: str = "") -> str:
        """``text`` (an instruction that names the memory tools) where the tools are shown, in
        ``agent`` mode; ``otherwise`` in the baselines, which do not have them."""
        return text if self.mode.is_agent else otherwise

    def task_size(self, task: dict[str, Any]) -> float | None:
        """The size of a task (objectives, facts, document tokens) from ``size_key``; a list counts its items."""
        value = task.get(self.size_key) if self.size_key else None
        if isinstance(value, (list, tuple)):
            return float(len(value))
        return float(value) if isinstance(value, (int, float)) else None

    def fact_key(self, sentence: str) -> str:
        """What a fact is about, for the heuristic's replace-on-conflict rule: by default its
        first three normalized words ("Alice lives in Paris" -> "alice lives in")."""
        return " ".join(_ARTICLES.sub(" ", sentence.lower().translate(_PUNCT)).split()[:3])

    def start_stage(self, *messages: tuple[str, str]) -> None:
        """Begin a stage whose context would be cleared: a fresh context pinned with
        ``messages`` ((role, content) pairs), shown as a new training segment; in
        ``full_context`` mode the old messages stay and only the non-system messages are appended."""
        if self.mode.keeps_context and len(self.context):
            for role, content in messages:
                if role != "system":
                    self.context.append(role, content, pinned=True)
            return
        ops = self.context.ops if self.context is not None else None
        self.context = Context()
        if ops is not None:
            self.context.ops = ops  # operation counts are per episode, not per stage
        for role, content in messages:
            self.context.append(role, content, pinned=True)
        self._new_stage = True  # a new segment, even if the fresh context happened to extend the last

    def recall(self, query: str) -> str:
        """Text to put before a question: the store's top-``recall_top_k`` hits in the
        ``retrieval`` and ``heuristic`` modes, nothing otherwise."""
        return self.mode.recall(self, query)

    def heuristic_fact(self, sentence: str) -> str:
        """What the ``heuristic`` baseline stores for a sentence it was shown (default: the
        sentence; AgeMem stores the fact a correction makes true)."""
        return sentence

    # -- internals ---------------------------------------------------------------------------
    def _act(self, action: Action) -> tuple[float, bool]:
        """One turn's action: an answer alone is scored by :meth:`finish`; anything else shows
        its format error, runs its tool calls and lets :meth:`after_turn` advance the stages."""
        if action.answer is not None and not action.tool_calls:
            return float(self.finish(action.answer)), True
        if not action.ok:
            self.context.append(self.tool_role, action.error_message)
        for call in action.tool_calls:
            self.context.append(self.tool_role, self.run_tool(call))
        if self.after_turn(action):
            return float(self.conclude()), True
        return 0.0, False

    def _tool_failed(self, call: ToolCall, exc: Exception) -> str:
        self.env_errors += 1
        reason = (str(exc).strip().splitlines() or [""])[0][:200]
        self._env_error = f"Tool error (env_error): {call.name} failed with {type(exc).__name__}" + (f": {reason}" if reason else "")
        env_id = getattr(self.spec, "id", None) or type(self).__name__
        episode = (getattr(self, "task", None) or {}).get("id")
        args = repr(call.arguments)
        key = (env_id, call.name, type(exc).__name__)
        first = key not in _REPORTED  # the traceback once per env, tool and exception type; a line each time
        _REPORTED.add(key)
        log.error("%s episode %r turn %d: tool %s(%s) raised %s; the model is shown a tool error and the episode goes on "
                  "(an env bug: a call that passed the schema should not raise)", env_id, episode, self.turn, call.name,
                  args if len(args) <= 300 else args[:297] + "...", type(exc).__name__, exc_info=exc if first else None)
        return self._env_error

    def _settle_outcome(self) -> None:
        """An ended episode says whether it was answered (``finish`` records a score); one that
        was not scores 0, so no table can leave it out or count it as a wrong answer."""
        self.outcome.setdefault("answered", "score" in self.outcome)
        self.outcome.setdefault("score", 0.0)

    def _extends(self, messages: Messages, text: str) -> bool:
        seen = self._seen
        n = len(seen)
        return (
            len(messages) > n
            and messages[:n] == seen
            and messages[n] == {"role": "assistant", "content": text}
        )

    def _info(self, mode: str, action: Action | None) -> dict[str, Any]:
        ops = dict(self.memory.ops) if self.memory is not None else {}
        for kind, count in self.context.ops.items():
            ops[kind] = ops.get(kind, 0) + count
        if self.env_errors:
            ops["env_error"] = self.env_errors
        return {
            "context": mode,
            "turn": self.turn,
            "format_error": None if action is None or action.ok else action.error_message,
            "env_error": self._env_error,
            "memory_ops": ops,
            "outcome": dict(self.outcome),
        }
