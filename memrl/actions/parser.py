"""One parser from model text to a typed :class:`Action`. It never raises on model output.

Forms (one :class:`ReplyFormat` picks the answer form and MEM1's tags):

- an optional ``<think>...</think>`` (or a bare leading ``...</think>``, as Qwen3 writes it);
- ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, any number, in order (Qwen2.5 /
  Qwen3's native form; ``arguments`` may also be a JSON *string* holding an object);
- an answer: ``<answer>...</answer>`` (``"tag"``), MemAgent's ``\\boxed{...}`` (``"boxed"``) or
  MemAct's ``FINAL_ANSWER: ...`` (``"final_answer"``: the rest of the text up to the next tag);
- MEM1: the state tag's text goes to ``Action.state``; ``<search>q</search>`` becomes
  ``ToolCall("search", {"query": q})``.

What comes back when part of the text is wrong (each problem is one :class:`FormatError`):

- every well-formed, valid tool call is returned even when another one is not; a call with any
  problem (bad JSON, unknown tool, bad arguments) is dropped whole, never half-run;
- with several answers the last one is returned (``multiple_answers``); with an answer *and*
  tool calls both are returned (``answer_and_tool``) and the environment decides;
- an unclosed ``<think>`` still fills ``Action.think``; an unclosed ``<tool_call>`` or answer is
  not used (it was usually cut off mid-way);
- ``\\boxed`` and ``FINAL_ANSWER:`` count only outside ``<think>`` and ``<tool_call>``;
- control characters (C0 but tab/newline/CR, DEL, C1) and lone surrogates are removed first;
- text over ``max_chars`` is cut to its prefix (``too_long``);
- at most ``MAX_CALLS`` tool calls are read (``too_long`` beyond) and ``MAX_ERRORS`` errors kept
  (the last one says how many more there were), so junk costs bounded time and message length.

``no_action`` is reported only when nothing else explains a reply without a call or an answer.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from collections.abc import Mapping, Sequence
from typing import Any

from memrl.actions.scan import Scan, clean, find_boxed, replace_surrogates, scan_boxed, scan_tags
from memrl.actions.schema import ToolSpec, quote, suggest, unknown_tool
from memrl.actions.types import Action, FormatError, ToolCall

__all__ = ["MAX_CALLS", "MAX_ERRORS", "ReplyFormat", "ToolSpec", "parse_action", "render_tool_call", "find_boxed"]

MAX_ERRORS = 10  # errors kept per reply; the model needs the first few, not ten thousand
MAX_CALLS = 64  # tool calls read per reply (beyond: a too_long error)
ANSWER_FORMS = ("tag", "boxed", "final_answer")
FINAL_MARKER = "FINAL_ANSWER:"
CALL_FORM = '<tool_call>{"name": "<tool>", "arguments": {...}}</tool_call>'
_ARGS_FIX = 'write "arguments": {...}'
_TAG_NAME = re.compile(r"[A-Za-z_][\w.-]*\Z")
_RESERVED = ("think", "tool_call", "answer")


@dataclass(frozen=True)
class ReplyFormat:
    """Which answer and state forms a method's model writes.

    answer: ``"tag"`` (``<answer>``), ``"boxed"`` (MemAgent) or ``"final_answer"`` (MemAct).
    state_tag: MEM1's internal-state tag (e.g. ``"internal_state"``); when set, a reply without
    it is a ``missing_state`` error. ``"think"`` is allowed: the thought is then the state.
    search_tag: a tag whose text becomes ``ToolCall("search", {"query": text})`` (MEM1).
    max_chars: longer replies are cut to this prefix and flagged ``too_long``.
    """

    answer: str = "tag"
    state_tag: str | None = None
    search_tag: str | None = None
    max_chars: int = 32_000

    def __post_init__(self) -> None:
        if self.answer not in ANSWER_FORMS:
            hint = suggest(str(self.answer), list(ANSWER_FORMS))
            raise ValueError(f"ReplyFormat.answer {self.answer!r} is not one of {', '.join(ANSWER_FORMS)}{hint}")
        for name in ("state_tag", "search_tag"):
            tag = getattr(self, name)
            if tag is not None and not (isinstance(tag, str) and _TAG_NAME.match(tag)):
                raise ValueError(
                    f"ReplyFormat.{name} {tag!r} must be a bare tag name such as 'internal_state' (letters, digits, _ . -)"
                )
        if self.state_tag in ("tool_call", "answer") or self.search_tag in _RESERVED:
            raise ValueError(
                f"ReplyFormat tags state_tag={self.state_tag!r}, search_tag={self.search_tag!r} may not reuse "
                f"{', '.join(_RESERVED)} (think is allowed as the state)"
            )
        if self.state_tag is not None and self.state_tag == self.search_tag:
            raise ValueError(f"ReplyFormat.state_tag and search_tag are both {self.state_tag!r}; give them different tags")
        if isinstance(self.max_chars, bool) or not isinstance(self.max_chars, int) or self.max_chars < 1:
            raise ValueError(f"ReplyFormat.max_chars ({self.max_chars!r}) must be a positive integer")

    def tags(self) -> tuple[str, ...]:
        """The tags the scanner looks for under this protocol."""
        return _protocol_tags(self)

    def answer_form(self) -> str:
        forms = {"tag": "<answer>...</answer>", "boxed": "\\boxed{...}", "final_answer": f"{FINAL_MARKER} ..."}
        return forms[self.answer]


@functools.lru_cache(maxsize=64)
def _protocol_tags(protocol: ReplyFormat) -> tuple[str, ...]:
    tags = ["think", "tool_call"] + (["answer"] if protocol.answer == "tag" else [])
    tags += [t for t in (protocol.state_tag, protocol.search_tag) if t and t not in tags]
    return tuple(tags)


# Characters the parser would strip, and tags the scanner would see, escaped inside JSON strings
# (the only place a dump can hold them), so any rendered call parses back to itself.
_RENDER_ESCAPE = re.compile("[\x7f-\x9f\ud800-\udfff]|<(?=/?tool_call>)")


def render_tool_call(call: ToolCall) -> str:
    """The canonical text of a tool call, in Qwen's chat-template layout (for scripted agents)."""
    body = json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)
    body = _RENDER_ESCAPE.sub(lambda m: f"\\u{ord(m.group()):04x}", body)
    return f"<tool_call>\n{body}\n</tool_call>"


def _boxed(text: str) -> list[str]:
    """Kept for callers of the first parser (``memrl.scoring.text``); use :func:`find_boxed`."""
    return find_boxed(text)


# -- the parser ----------------------------------------------------------------------------------
def parse_action(
    text: Any,
    tools: Mapping[str, ToolSpec] | Sequence[ToolSpec] | None = None,
    protocol: ReplyFormat = ReplyFormat(),
) -> Action:
    """Parse one model reply into an :class:`Action`; never raises (rules: module docstring).

    ``tools`` (a name -> spec mapping or a list of specs) turns on tool-name and argument checks;
    with ``None`` any well-formed call is accepted as written.
    """
    if not isinstance(text, str) or not text.strip():
        return Action(errors=(FormatError("empty", f"the reply is empty; {_how(protocol, tools)}"),))
    errors: list[FormatError] = []
    if len(text) > protocol.max_chars:
        errors.append(FormatError("too_long", (
            f"the reply has {len(text):,} characters, over the limit of {protocol.max_chars:,}, "
            "so only the start was read; write a shorter reply"
        )))
        text = text[: protocol.max_chars]
    if tools is not None and not isinstance(tools, Mapping):
        tools = {t.name: t for t in tools}
    scan = scan_tags(clean(text), protocol.tags())
    errors += _structure_errors(scan)
    think = _think(scan)
    calls = _calls(scan, tools, protocol, errors)
    answer = _answer(scan, protocol, errors)
    state = _state(scan, protocol, errors)
    if answer is not None and calls:
        errors.append(FormatError("answer_and_tool", (
            f"an answer and {len(calls)} tool call(s) in one reply; "
            "call tools first and answer in a later turn, after their results"
        )))
    if answer is None and not calls and all(e.kind in ("too_long", "missing_state") for e in errors):
        errors.append(FormatError("no_action", f"no tool call and no answer found; {_how(protocol, tools)}"))
    return Action(think=think, tool_calls=tuple(calls), answer=answer, state=state, errors=_capped(errors))


def _how(protocol: ReplyFormat, tools: Any) -> str:
    """How to act under this protocol, for the empty / no_action messages."""
    forms = [] if isinstance(tools, (Mapping, Sequence)) and not tools else [CALL_FORM]
    if protocol.search_tag:
        forms.append(f"<{protocol.search_tag}>query</{protocol.search_tag}>")
    forms.append(protocol.answer_form())
    state = f"<{protocol.state_tag}>...</{protocol.state_tag}> and then " if protocol.state_tag else ""
    return f"write {state}{' or '.join(forms)}"


def _structure_errors(scan: Scan) -> list[FormatError]:
    words = {
        "unclosed": ("unclosed_tag", "<{t}> is never closed; end it with </{t}>"),
        "stray": ("unclosed_tag", "</{t}> closes nothing; open it first: <{t}>...</{t}>"),
        "nested": ("nested_tag", "<{t}> opened inside another <{t}>; close each with </{t}> before opening the next"),
    }
    return [FormatError(words[p][0], words[p][1].format(t=tag)) for p, tag in scan.problems]


def _think(scan: Scan) -> str | None:
    thoughts = [e.body.strip() for e in scan.elements if e.tag == "think"]
    return "\n\n".join(thoughts) if thoughts else None


def _calls(
    scan: Scan, tools: Mapping[str, ToolSpec] | None, protocol: ReplyFormat, errors: list[FormatError]
) -> list[ToolCall]:
    wanted = [e for e in scan.elements if e.closed and e.tag in ("tool_call", protocol.search_tag)]
    if len(wanted) > MAX_CALLS:  # bounds the JSON work a reply of junk can cause
        errors.append(FormatError("too_long", (
            f"{len(wanted)} tool calls in one reply, over the limit of {MAX_CALLS}, "
            f"so only the first {MAX_CALLS} were read; make fewer calls per reply"
        )))
    calls: list[ToolCall] = []
    n = 0
    for element in wanted[:MAX_CALLS]:
        if element.tag == "tool_call":
            n += 1
            call = _decode_call(element.body, n, errors)
            if call is not None and tools is not None:
                call = _validate(call, tools, errors)
        else:
            call = _search(element.body, element.tag, tools, errors)
        if call is not None:
            calls.append(call)
    return calls


def _decode_call(body: str, n: int, errors: list[FormatError]) -> ToolCall | None:
    """The ToolCall a ``<tool_call>`` body holds, or None with the reason added to ``errors``."""
    where = f"<tool_call> #{n}"
    raw = body.strip()
    if not raw:
        return _bad(errors, f"{where} is empty; write {CALL_FORM}")
    try:
        obj = _JSON.decode(raw)
    except json.JSONDecodeError as e:
        near = quote(raw[max(0, e.pos - 30) : e.pos + 30], 60)
        return _bad(errors, f"{where} is not valid JSON ({e.msg} at char {e.pos}, near {near}); write {CALL_FORM}")
    except (ValueError, RecursionError) as e:  # NaN / Infinity, or absurd nesting
        return _bad(errors, f"{where} is not valid JSON ({type(e).__name__}: {quote(str(e), 60)}); write {CALL_FORM}")
    if isinstance(obj, list):
        return _bad(errors, f"{where} holds a JSON array; write one object per call: {CALL_FORM}")
    if not isinstance(obj, dict):
        return _bad(errors, f"{where} holds {type(obj).__name__} {quote(raw, 40)}, not an object; write {CALL_FORM}")
    name = obj.get("name")
    if not isinstance(name, str) or not name.strip():
        keys = quote(", ".join(map(str, obj)), 60)
        return _bad(errors, f"{where} needs a non-empty \"name\" string (got keys: {keys}); write {CALL_FORM}")
    args = _arguments(obj, where, errors)
    if args is None:
        return None
    if "\\u" in raw:  # only a JSON escape can bring a lone surrogate back
        try:
            name, args = replace_surrogates(name), _no_surrogates(args)
        except RecursionError:  # nesting json.loads allowed but recursion here does not
            return _bad(errors, f"{where}: \"arguments\" are nested too deeply; keep them flat")
    return ToolCall(name, args)


def _arguments(obj: dict[str, Any], where: str, errors: list[FormatError]) -> dict[str, Any] | None:
    if "arguments" not in obj:
        others = [str(k) for k in obj if k != "name"]
        if others:  # e.g. Llama's "parameters", or the arguments spread at the top level
            keys = quote(", ".join(others), 60)
            return _bad(errors, f'{where} has keys {keys} but no "arguments"; put them under "arguments": {CALL_FORM}')
        return {}
    args = obj["arguments"]
    if isinstance(args, str):  # some models send the arguments object as a JSON string
        try:
            args = _JSON.decode(args) if args.strip() else {}
        except (ValueError, RecursionError):
            text = quote(args, 40)
            return _bad(errors, f'{where}: "arguments" is a string that is not a JSON object ({text}); {_ARGS_FIX}')
    if args is None:
        return {}
    if not isinstance(args, dict):
        return _bad(errors, f"{where}: \"arguments\" must be a JSON object, got {type(args).__name__}; {_ARGS_FIX}")
    return args


def _validate(call: ToolCall, tools: Mapping[str, ToolSpec], errors: list[FormatError]) -> ToolCall | None:
    spec = tools.get(call.name)
    if spec is None:
        errors.append(unknown_tool(call.name, tools))
        return None
    args, problems = spec.check_arguments(call.arguments)
    errors += problems
    return None if problems else ToolCall(call.name, args)


def _search(body: str, tag: str, tools: Mapping[str, ToolSpec] | None, errors: list[FormatError]) -> ToolCall | None:
    # The protocol itself offers the search tag, so it is never an unknown tool; a "search"
    # spec, when given, still checks the arguments.
    query = body.strip()
    if not query:
        message = f"<{tag}></{tag}> is empty; put the query inside: <{tag}>your query</{tag}>"
        errors.append(FormatError("missing_argument", message))
        return None
    call = ToolCall("search", {"query": query})
    return _validate(call, tools, errors) if tools is not None and "search" in tools else call


def _answer(scan: Scan, protocol: ReplyFormat, errors: list[FormatError]) -> str | None:
    if protocol.answer == "tag":
        answers = [e.body.strip() for e in scan.elements if e.tag == "answer" and e.closed]
    elif protocol.answer == "boxed":
        answers = _boxed_answers(scan, errors)
    else:
        answers = [a for seg in scan.outside for a in seg.split(FINAL_MARKER)[1:]]
        answers = [a.strip() for a in answers]
    if len(answers) > 1:
        form = protocol.answer_form()
        message = f"{len(answers)} answers in one reply; give exactly one {form} (the last one was read)"
        errors.append(FormatError("multiple_answers", message))
    return answers[-1] if answers else None


def _boxed_answers(scan: Scan, errors: list[FormatError]) -> list[str]:
    answers: list[str] = []
    nested = unclosed = 0
    for segment in scan.outside:
        boxes = scan_boxed(segment)
        answers += [b.strip() for b in boxes.contents]
        nested, unclosed = nested + boxes.nested, unclosed + boxes.unclosed
    if nested:
        message = "\\boxed{ inside another \\boxed{; box the final answer once: \\boxed{answer}"
        errors.append(FormatError("nested_tag", message))
    if unclosed:
        errors.append(FormatError("unclosed_tag", "\\boxed{ is never closed; balance its braces: \\boxed{answer}"))
    return answers


def _state(scan: Scan, protocol: ReplyFormat, errors: list[FormatError]) -> str | None:
    tag = protocol.state_tag
    if tag is None:
        return None
    states = [e for e in scan.elements if e.tag == tag]
    closed = [e.body.strip() for e in states if e.closed]
    if not states:
        message = f"no <{tag}> found; begin every reply with your updated state inside <{tag}>...</{tag}>"
        errors.append(FormatError("missing_state", message))
    return closed[-1] if closed else None  # the latest consolidation wins


# -- helpers -------------------------------------------------------------------------------------
def _bad(errors: list[FormatError], message: str) -> None:
    errors.append(FormatError("malformed_json", message))
    return None


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; use a finite number or null")


_JSON = json.JSONDecoder(parse_constant=_no_constant)  # one decoder: json.loads(**kw) builds one per call


def _no_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return replace_surrogates(value)
    if isinstance(value, list):
        return [_no_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {replace_surrogates(k): _no_surrogates(v) for k, v in value.items()}
    return value


def _capped(errors: list[FormatError]) -> tuple[FormatError, ...]:
    """Errors without repeats, at most MAX_ERRORS; the last kept one counts the rest."""
    unique = list(dict.fromkeys(errors))
    if len(unique) <= MAX_ERRORS:
        return tuple(unique)
    last = unique[MAX_ERRORS - 1]
    more = len(unique) - MAX_ERRORS
    note = FormatError(last.kind, f"{last.message} (and {more} more format errors not shown)")
    return (*unique[: MAX_ERRORS - 1], note)
