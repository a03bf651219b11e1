"""Frozen answer agents: they answer a question from a list of memories (Memory-R1's reward).

A Memory Manager is rewarded by how well a frozen answer agent does with the bank it built, so
the answerer is part of the reward: the default, :func:`extractive_answerer`, is cheap and
deterministic; :class:`LLMAnswerer` runs a frozen model greedily. :func:`make_answerer` builds
one from a setting (``"extractive"``, ``"llm"``, a ``"module:function"`` path or a callable
``(question, memories) -> answer``).
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable

from memrl.errors import UserError
from memrl.memory.inprocess import STOPWORDS

Answerer = Callable[[str, list[str]], str]
NOT_MENTIONED = "Not mentioned in the conversation."

_WORD = re.compile(r"[^\W_]+")
_DATE = re.compile(r"\b\d{1,2} [A-Z][a-z]+,? \d{4}\b")
_NOTE = re.compile(r"\s*\(said on [^)]*\)")
_QUESTION_WORDS = frozenset("what which who whom whose where when why how does do did has have had now would could "
                            "was were is are been".split())


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` without stop words and question words."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and w not in _QUESTION_WORDS]


def _same_word(a: str, b: str) -> bool:
    # A crude stem: "pets"/"pet" differ by a plural s; "lives"/"lived", "works"/"working" share
    # their first four letters.
    return a.rstrip("s") == b.rstrip("s") or (len(a) >= 4 and len(b) >= 4 and a[:4] == b[:4])


def extractive_answerer(question: str, memories: list[str]) -> str:
    """The default frozen answer agent: cheap, deterministic, and only as good as the bank.

    It takes the memory sharing the most content words with the question (ties: the earlier one,
    i.e. the better-ranked), says the information is not mentioned when none shares at least two
    (one for a one-word question), returns the date for a "When" question, and otherwise the
    memory's words that are not in the question ("Alice has a pet cat" -> "cat"). A stale or
    duplicate memory therefore costs points, and a deleted one makes "not mentioned" right.
    """
    asked = content_words(question)
    best, best_overlap = None, 0
    for memory in memories:
        words = set(content_words(memory))
        overlap = sum(any(_same_word(q, w) for w in words) for q in asked)
        if overlap > best_overlap:
            best, best_overlap = memory, overlap
    if best is None or best_overlap < min(2, len(asked)):
        return NOT_MENTIONED
    if question.strip().lower().startswith("when") and (date := _DATE.search(best)):
        return date.group(0)
    body = _NOTE.sub("", best)
    kept = [w for w in _WORD.findall(body) if w.lower() not in STOPWORDS and w.lower() not in _QUESTION_WORDS
            and not any(_same_word(w.lower(), q) for q in asked)]
    return " ".join(kept) or body


def greedy_reply(model: Any, tokenizer: Any, prompt: str, max_new_tokens: int) -> str:
    """A frozen chat model's greedy reply to one user message."""
    import torch

    ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True, return_tensors="pt")
    ids = ids if isinstance(ids, torch.Tensor) else ids["input_ids"]
    with torch.no_grad():
        out = model.generate(ids.to(model.device), max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


class LLMAnswerer:
    """A frozen LLM answer agent (greedy decoding): ``LLMAnswerer(model, tokenizer)(question, memories)``."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int = 32):
        self.model, self.tokenizer, self.max_new_tokens = model, tokenizer, max_new_tokens

    def __call__(self, question: str, memories: list[str]) -> str:
        bank = "\n".join(f"- {m}" for m in memories) or "(empty)"
        prompt = (f"Memories:\n{bank}\n\nQuestion: {question}\nAnswer in a few words. "
                  f"If the memories do not say, answer '{NOT_MENTIONED}'")
        return greedy_reply(self.model, self.tokenizer, prompt, self.max_new_tokens)


_MODELS: dict[str | None, tuple[Any, Any]] = {}


def frozen_model(name: str | None) -> tuple[Any, Any]:
    """(model, tokenizer) of ``name`` (a path or hub id; None: the embedded model), loaded once per process."""
    if name not in _MODELS:
        from memrl.models import load_model_and_tokenizer

        _MODELS[name] = load_model_and_tokenizer(name)
    return _MODELS[name]


def load_callable(spec: str) -> Callable[..., Any]:
    """The function a ``"module:function"`` path names."""
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UserError(f"cannot load {spec!r} ({e}); give 'module:function' of an importable module") from None


def make_answerer(spec: str | Answerer, model: str | None = None) -> Answerer:
    """``"extractive"``, ``"llm"`` (``model``: a path or hub id; None = the embedded model, loaded
    once per process), a ``"module:function"`` path, or a callable ``(question, memories) -> str``."""
    if callable(spec):
        return spec
    if spec == "extractive":
        return extractive_answerer
    if spec == "llm":
        return LLMAnswerer(*frozen_model(model))
    if isinstance(spec, str) and ":" in spec:
        return load_callable(spec)
    raise UserError(f"answerer {spec!r} must be 'extractive', 'llm', a 'module:function' path or a callable")
