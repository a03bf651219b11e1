"""memrl environments in TRL's own multi-turn GRPO: ``GRPOTrainer(environment_factory=...)``.

    from trl import GRPOConfig, GRPOTrainer
    from memrl.integrations.trl import env_reward, environment_factory, tool_chat_template

    tokenizer = tool_chat_template(tokenizer)  # SmolLM2's own template renders no tool calls
    Env = environment_factory("memrl/FactLookup-v0")
    trainer = GRPOTrainer(
        model=model, processing_class=tokenizer, reward_funcs=env_reward, environment_factory=Env,
        train_dataset=Env.dataset("train", 256, tokenizer=tokenizer),
        args=GRPOConfig(max_tool_calling_iterations=Env.max_tool_calling_iterations, ...),
    )

The class exposes the env's memory tools as public typed, docstringed methods (TRL renders
their schemas and calls them), ``reset(**row)`` starts the episode of the row's task, and
:func:`env_reward` scores the final reply with the env's own ``step``/``finish``.

TRL's loop is append-only: the prompt, then model turns and tool results, until a reply without
a tool call. So only environments whose episodes have exactly that shape run faithfully: no
stage that resets the context, no pruning or rewriting, no env message but tool results, no
turn that continues after a reply without a tool call. That rules out FactRecall (the context
is cleared before the question), AgeMem (stages), MemAct (prunes), MEM1 (a rebuilt context every
turn), MemAgent (a new conversation per chunk) and Memory-R1's manager (a new prompt per fact);
:func:`environment_factory` refuses them in one line. They work: ``memrl/FactLookup-v0``
(FactRecall's question stage, multi-turn tool use) and ``memrl/MemoryR1-Answer-v0`` (one turn).

Two more differences from memrl's own loop, by construction of TRL's: a malformed tool call or
a reply without an answer ends the episode (memrl shows the format error and lets the model try
again), and the episode's token budget (``max_completion_length``) counts tool results too.
"""

from __future__ import annotations

import inspect
import json
import typing
from typing import Any, Callable

import memrl.integrations.lookup  # noqa: F401  (registers memrl/FactLookup-v0)
from memrl.actions import ToolCall
from memrl.env.base import MemoryEnv
from memrl.env.registry import make, spec
from memrl.errors import UserError

SUPPORTED = ("memrl/FactLookup-v0", "memrl/MemoryR1-Answer-v0")
REWRITES = {
    # Why each built-in env outside SUPPORTED cannot be shown through TRL's append-only loop.
    "memrl/FactRecall-v0": "the context is cleared between the facts and the question (use memrl/FactLookup-v0, its append-only question stage)",
    "memrl/AgeMem-v0": "its three stages reset the context and Summary_context/Filter_context rewrite it",
    "memrl/MemAct-v0": "prune_context deletes earlier messages and every message carries an [id] prefix",
    "memrl/MEM1-v0": "every turn rebuilds the context from the agent's internal state",
    "memrl/MemAgent-v0": "every chunk is a new conversation with the rewritten memory",
    "memrl/MemoryR1-Manager-v0": "every dialogue fact is a new prompt over the updated memory bank",
}
_HOOKS = ("reset", "step", "parse", "after_turn", "render", "may_append")  # hooks that change the turn loop/context


def environment_factory(env_id: str, **env_kwargs: Any) -> type:
    """A class for ``GRPOTrainer(environment_factory=...)`` that plays ``env_id`` (with
    ``env_kwargs``) through TRL's tool loop; a UserError in one line for an env whose context
    is rewritten. The class also carries ``dataset(...)`` (the tasks as TRL wants them) and
    ``max_tool_calling_iterations`` (the env's turn cap minus the answer turn)."""
    probe = None if env_id in REWRITES else make(env_id, **env_kwargs)
    try:
        problem = REWRITES.get(env_id) or _rewrite_reason(probe)
        if problem:
            raise UserError(f"{env_id} cannot run on TRL's environment_factory: {problem}, and TRL's loop only "
                            f"appends tool results; train it with memrl (MemoryGRPOTrainer). Append-only envs: "
                            f"{', '.join(SUPPORTED)}")
        specs, max_turns = dict(probe.tool_specs), probe.max_turns
        tools = {name: _tool_method(name, getattr(type(probe), name), specs[name]) for name in specs}
    finally:
        if probe is not None:
            probe.close()
    name = spec(env_id).id.split("/")[-1].replace("-", "_").replace(".", "_")
    namespace = {**tools, "_env_id": env_id, "_env_kwargs": dict(env_kwargs),
                 "max_tool_calling_iterations": max(max_turns - 1, 0), "__module__": __name__,
                 "__doc__": f"{env_id} for TRL's GRPOTrainer(environment_factory=...) (memrl.integrations.trl)."}
    return type(f"TRL_{name}", (_TRLEnv,), namespace)


def _rewrite_reason(env: Any) -> str | None:
    """Why ``env`` cannot be shown append-only, or None (built-ins are named in REWRITES). An env
    qualifies by its shape: the base class's turn loop unchanged, and a [system, user] start."""
    if not isinstance(env, MemoryEnv):
        return f"it is a {type(env).__name__}, not a memrl MemoryEnv"
    overridden = [h for h in _HOOKS if getattr(type(env), h) is not getattr(MemoryEnv, h)]
    if overridden:
        return f"{type(env).__name__} overrides {', '.join(overridden)} (a stage change or a rewritten context)"
    if env.show_message_ids:
        return "it prefixes messages with [id], which TRL's tool results would not carry"
    if env.tool_role != "tool":
        return f"its env messages use role {env.tool_role!r}, not tool results"
    messages, _ = env.reset(seed=0)
    roles = [m["role"] for m in messages]
    if roles not in (["user"], ["system", "user"]):
        return f"its episodes start with {roles}, not [system, user]"
    return None


def _tool_method(name: str, fn: Callable[..., str], tool_spec: Any) -> Callable[..., str]:
    """A public method with ``fn``'s signature, type hints and docstring (TRL builds the tool
    schema from them, as memrl does), that runs the call on the wrapped env."""

    def method(self: "_TRLEnv", **arguments: Any) -> str:
        return self._call(tool_spec, arguments)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = fn.__doc__
    method.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    # Hints resolved in the env's module: a wrapper here cannot evaluate its string annotations.
    method.__annotations__ = typing.get_type_hints(fn)
    return method


class _TRLEnv:
    """One memrl env instance behind TRL's environment protocol (the public tool methods are
    added per env by :func:`environment_factory`; nothing else here may be public, or TRL would
    offer it to the model as a tool)."""

    _env_id: str = ""
    _env_kwargs: dict[str, Any] = {}
    max_tool_calling_iterations: int = 0

    def __init__(self) -> None:
        self._env = make(self._env_id, **self._env_kwargs)

    def reset(self, **row: Any) -> None:
        """Start the episode of the row's task; the prompt is already the row's ``prompt``."""
        if "task" not in row:
            raise UserError(f"the TRL dataset rows need a 'task' column; pass train_dataset={type(self).__name__}.dataset(...)")
        task = json.loads(row["task"]) if isinstance(row["task"], str) else row["task"]
        _show_schemas(self._env, row.get("schemas_in_prompt", True))
        self._env.reset(seed=row.get("seed"), options={"task": task})
        return None

    def _call(self, tool_spec: Any, arguments: dict[str, Any]) -> str:
        # The same argument checks and messages as memrl's parser, so a bad call reads alike.
        conformed, errors = tool_spec.check_arguments(arguments)
        if errors:
            return "\n".join(f"Format error ({e.kind}): {e.message}" for e in errors)
        return self._env.run_tool(ToolCall(tool_spec.name, conformed))

    def _final(self, completion: list[dict[str, Any]]) -> float:
        """The env's reward for the episode's last reply (0.0 when it still asked for tools:
        TRL stopped at its turn cap or token budget before an answer)."""
        replies = [m for m in completion if m.get("role") == "assistant"]
        if not replies or replies[-1].get("tool_calls") or self._env.done:
            return 0.0
        last = replies[-1]
        text = last.get("content") or ""
        if last.get("reasoning_content"):  # the response parser split the <think> block off
            text = f"<think>{last['reasoning_content']}</think>{text}"
        _, reward, *_ = self._env.step(text)
        return float(reward)

    @classmethod
    def dataset(cls, split: str = "train", n: int = 100, seed: int = 0, *, tokenizer: Any = None,
                tasks: list[dict[str, Any]] | None = None) -> Any:
        """The env's tasks as a ``datasets.Dataset`` for TRL: ``prompt`` (the env's first
        messages), ``task`` (JSON: task fields differ between envs and Arrow wants one schema)
        and ``seed``. With a ``tokenizer`` whose chat template renders ``tools=`` (Qwen's, Llama
        3.1's), memrl's own tool schemas are left out of the system prompt, since TRL renders them."""
        from datasets import Dataset

        in_prompt = tokenizer is None or not template_renders_tools(tokenizer)
        env = make(cls._env_id, **cls._env_kwargs)
        try:
            tasks = list(tasks) if tasks is not None else env.make_tasks(split, n, seed)
            _show_schemas(env, in_prompt)
            rows = []
            for i, task in enumerate(tasks):
                messages, _ = env.reset(seed=i, options={"task": task})
                rows.append({"prompt": messages, "task": json.dumps(task), "seed": i, "schemas_in_prompt": in_prompt})
        finally:
            env.close()
        return Dataset.from_list(rows)


def env_reward(completions: list[list[dict[str, Any]]], environments: list[Any] | None = None, **kwargs: Any) -> list[float]:
    """TRL reward function: each rollout's final reply scored by its memrl env (the env's own
    reward: parsed with its protocol, then ``finish``). Pass it as ``reward_funcs=env_reward``."""
    if not environments:
        raise UserError("env_reward scores memrl envs: pass environment_factory=environment_factory(env_id) to GRPOTrainer")
    return [env._final(completion) for env, completion in zip(environments, completions, strict=True)]


def _show_schemas(env: MemoryEnv, in_prompt: bool) -> None:
    if in_prompt:
        env.__dict__.pop("system_prompt", None)
    else:
        # The chat template renders the schemas from tools=: the env's copy would show them twice.
        env.system_prompt = lambda instructions: instructions  # type: ignore[method-assign]


# -- chat templates --------------------------------------------------------------------------------
CHATML_TOOLS_TEMPLATE = (
    # ChatML with Qwen2.5's tool-call and tool-response layout. Tool schemas are not rendered from
    # tools=: memrl's env already lists them in its system prompt, so TRL and memrl see the same text.
    "{%- for message in messages %}"
    "{%- if message.role == 'tool' %}"
    "{%- if loop.first or messages[loop.index0 - 1].role != 'tool' %}{{- '<|im_start|>user' }}{%- endif %}"
    "{{- '\\n<tool_response>\\n' + message.content + '\\n</tool_response>' }}"
    "{%- if loop.last or messages[loop.index0 + 1].role != 'tool' %}{{- '<|im_end|>\\n' }}{%- endif %}"
    "{%- elif message.role == 'assistant' and message.tool_calls %}"
    "{{- '<|im_start|>assistant' }}"
    "{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}"
    "{%- for tool_call in message.tool_calls %}"
    "{%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}"
    "{{- '\\n<tool_call>\\n{\"name\": \"' + tool_call.name + '\", \"arguments\": ' + (tool_call.arguments | tojson) + '}\\n</tool_call>' }}"
    "{%- endfor %}"
    "{{- '<|im_end|>\\n' }}"
    "{%- else %}"
    "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


def tool_chat_template(tokenizer: Any) -> Any:
    """``tokenizer`` ready for TRL's tool loop: unchanged if its template already renders tool
    calls; a ChatML template (SmolLM2's) gets :data:`CHATML_TOOLS_TEMPLATE` and Qwen's response
    parser, so ``<tool_call>{json}</tool_call>`` replies (memrl's format) become TRL tool calls."""
    from trl.chat_template_utils import supports_tool_calling

    if supports_tool_calling(tokenizer):
        return tokenizer
    if "<|im_start|>" not in (tokenizer.chat_template or ""):
        raise UserError("the tokenizer's chat template renders no tool calls and is not ChatML; "
                        "set a tool-calling chat template (e.g. the model family's official one) for TRL")
    from trl.chat_template_utils import qwen3_template

    tokenizer.chat_template = CHATML_TOOLS_TEMPLATE
    tokenizer.response_template = qwen3_template
    return tokenizer


def template_renders_tools(tokenizer: Any) -> bool:
    """Whether the chat template writes ``tools=`` schemas into the prompt (then TRL shows them)."""
    probe = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
    schema = {"type": "function", "function": {"name": "memrl_probe_tool", "description": "d",
                                               "parameters": {"type": "object", "properties": {}}}}
    return "memrl_probe_tool" in tokenizer.apply_chat_template(probe, tools=[schema], tokenize=False)
