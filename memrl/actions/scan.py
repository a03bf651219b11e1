"""Linear scanners over model text: tag elements, ``\\boxed{...}`` spans, control characters.

Every scanner here is one pass of ``re.finditer`` over literal tokens (no backtracking patterns,
no rescans from each candidate), so cost grows linearly with the text even on adversarial junk
such as ``"\\boxed{" * 10_000``.

Tag rules (what :func:`scan_tags` does):

- Inside an open element only its *own* tags count. Anything else is content: a memory written
  by a tool call may say ``<answer>``, and a thought may mention ``<tool_call>``.
- The same tag opened again before it closed is a ``nested`` problem; the inner element wins
  (the outer one's text so far is dropped), and one later stray closing tag is absorbed, so
  ``<a>x<a>y</a></a>`` reports one problem, not two.
- A closing tag that closes nothing is ``stray``; an element still open at the end is
  ``unclosed`` (its text is kept, flagged, for the parser to decide).
- A leading ``</think>`` with no ``<think>`` closes an implicit thought that started at the top
  of the text: Qwen3 / DeepSeek-R1 chat templates put ``<think>`` in the prompt, not the reply.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import NamedTuple

# C0 controls except \t \n \r, DEL, C1 controls and lone surrogates. None is valid raw inside JSON
# strings or tags, and lone surrogates cannot be encoded to UTF-8 (tokenizers and SQLite raise).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_BOX_OPEN = re.compile(r"\\boxed\{")
_BRACE = re.compile(r"\\.|[{}]", re.S)  # an escape (\{ \} \\ ...) is one token, so it never counts


def clean(text: str) -> str:
    """``text`` without the characters in ``_UNSAFE`` (one C-level pass; no copy when clean)."""
    return _UNSAFE.sub("", text) if _UNSAFE.search(text) else text


def replace_surrogates(text: str) -> str:
    """Lone surrogates (JSON ``\\ud800`` escapes decode to them) -> U+FFFD, so text stays encodable."""
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


class Element(NamedTuple):
    """One ``<tag>body</tag>``; ``closed`` is False for an element still open at the end."""

    # A NamedTuple, not a frozen dataclass: junk can hold thousands and its __init__ is 3x faster.

    tag: str
    body: str
    closed: bool = True


@dataclass
class Scan:
    """What :func:`scan_tags` found: elements and the text between them, in order."""

    elements: list[Element] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # ("nested"|"stray"|"unclosed", tag)

    def problem(self, kind: str, tag: str) -> None:
        # Each (kind, tag) once: junk with 10,000 stray tags says the same thing 10,000 times.
        if (kind, tag) not in self.problems:
            self.problems.append((kind, tag))


@functools.lru_cache(maxsize=64)
def _tag_pattern(tags: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("<(/?)(" + "|".join(map(re.escape, tags)) + ")>")


def scan_tags(text: str, tags: tuple[str, ...]) -> Scan:
    """Split ``text`` into ``<tag>...</tag>`` elements of the given tags (rules: module docstring)."""
    scan = Scan()
    open_tag: str | None = None
    body_at = outside_at = 0  # where the open element's body / the current outside run starts
    absorb: dict[str, int] = {}  # closing tags owed to a nested opening we already reported
    for m in _tag_pattern(tags).finditer(text):
        slash, tag = m.groups()
        closing = slash == "/"
        if open_tag is None:
            if not closing:
                scan.outside.append(text[outside_at : m.start()])
                open_tag, body_at = tag, m.end()
            elif tag == "think" and outside_at == 0 and not scan.elements and not scan.problems:
                scan.elements.append(Element("think", text[: m.start()]))  # implicit <think>
                outside_at = m.end()
            elif absorb.get(tag):
                absorb[tag] -= 1
            else:
                scan.problem("stray", tag)
        elif tag == open_tag:
            if closing:
                scan.elements.append(Element(tag, text[body_at : m.start()]))
                open_tag, outside_at = None, m.end()
            else:
                scan.problem("nested", tag)
                absorb[tag] = absorb.get(tag, 0) + 1
                body_at = m.end()
    if open_tag is None:
        scan.outside.append(text[outside_at:])
    else:
        scan.problem("unclosed", open_tag)
        scan.elements.append(Element(open_tag, text[body_at:], closed=False))
    return scan


@dataclass(frozen=True)
class Boxes:
    """``\\boxed{...}`` in a text: closed top-level contents, and how many were nested / unclosed."""

    contents: tuple[str, ...] = ()
    nested: int = 0
    unclosed: int = 0


def scan_boxed(text: str) -> Boxes:
    """Every ``\\boxed{`` matched to its closing brace by one stack pass over the braces."""
    openers = {m.end() - 1 for m in _BOX_OPEN.finditer(text)}  # index of each box's "{"
    if not openers:
        return Boxes()
    stack: list[int] = []
    spans: list[tuple[int, int]] = []
    for m in _BRACE.finditer(text):
        token = m.group()
        if token == "{":
            stack.append(m.start())
        elif token == "}" and stack:
            start = stack.pop()
            if start in openers:
                spans.append((start, m.start()))
    spans.sort()
    top: list[tuple[int, int]] = []
    nested = 0
    for start, end in spans:  # spans from a stack never cross: each is inside the last or after it
        if top and start < top[-1][1]:
            nested += 1
        else:
            top.append((start, end))
    unclosed = sum(1 for start in stack if start in openers)
    return Boxes(tuple(text[s + 1 : e] for s, e in top), nested, unclosed)


def find_boxed(text: str) -> list[str]:
    """Contents of every closed top-level ``\\boxed{...}`` (balanced braces), in order."""
    return list(scan_boxed(text).contents)
