"""RULER-style long documents for MemAgent: a question's gold paragraphs hidden among distractors.

Two task sources, both seeded and split-disjoint (``memrl.env.splits``):

- ``hotpotqa``: a HotpotQA question's supporting paragraphs among other HotpotQA paragraphs
  (its own distractors first, then other questions'), shuffled, up to a target length; beyond
  what the data holds (~143K tokens in the 100 dev-distractor items) generated filler text
  makes up the rest. Read by :mod:`memrl.data.hotpotqa` (the data folder's ``hotpotqa/``, a
  file given as ``path``, or the Hub).
- ``needle``: RULER's multi-key needle in a haystack: ``n_needles`` sentences "The special magic
  number for <key> is <7 digits>." in generated filler; the question asks for one key's number.
  Needs no data (tests and CI use it).

Lengths are in *approximate* tokens: ``ceil(chars / 4)``. On the HotpotQA paragraphs this is
within 3 % of SmolLM2's tokenizer (146.7K vs 142.8K tokens over all 992 paragraphs); digit-heavy
text is denser (SmolLM2 writes one token per digit). A document's paragraphs add up to exactly its
target length under that count (the joined text counts at most one token per paragraph less), and
``doc_tokens``, the env's ``size_key``, is that target.

Gold paragraphs are spread over the document: with k of them, the i-th lands in the i-th of k
equal depth bands at a seeded uniform position inside it (stratified), so over many tasks the
gold is as often at the start as in the middle or at the end, and two golds never bunch up.
"""

from __future__ import annotations

import os
import random
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator, Sequence

from memrl.data.hotpotqa import Source, hotpotqa_source, rows_from
from memrl.env.splits import check_split, generate_split, split_of
from memrl.errors import UserError

TokenCounter = Callable[[str], int]
CHARS_PER_TOKEN = 4
FILLER_TOKENS = 100  # a generated paragraph is about as long as a HotpotQA paragraph


def approx_tokens(text: str) -> int:
    """Approximate token count: ``ceil(len(text) / 4)`` (see the module docstring for its error)."""
    return -(-len(text) // CHARS_PER_TOKEN)


def cut_to_tokens(text: str, limit: int, count: TokenCounter = approx_tokens) -> tuple[str, bool]:
    """``text`` cut to at most ``limit`` tokens under ``count`` (at a word boundary where one is
    near), and whether it was cut."""
    if count(text) <= limit:
        return text, False
    lo, hi = 0, len(text)  # the longest prefix that fits: binary search on characters
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if count(text[:mid]) <= limit else (lo, mid - 1)
    space = text.rfind(" ", 0, lo + 1)
    end = space if space > lo // 2 else lo  # a long word-free run is cut mid-word
    return text[:end].rstrip(), True


# -- generated text ------------------------------------------------------------------------------
_ADJ = ["quiet", "amber", "distant", "narrow", "silver", "gentle", "hollow", "crimson", "steady", "faded",
        "northern", "wooden", "bright", "humble", "rusty", "open", "patient", "hidden", "rapid", "pale"]
_NOUN = ["river", "lantern", "orchard", "harbor", "meadow", "bridge", "engine", "garden", "valley", "market",
         "tower", "forest", "canal", "village", "mirror", "station", "window", "island", "ledger", "compass"]
_VERB = ["follows", "crosses", "faces", "shelters", "outlasts", "echoes", "frames", "borders", "guards", "joins"]
_PLACE = ["at dawn", "in winter", "after the rain", "by the road", "near the hills", "under grey skies",
          "at the edge of town", "in the old quarter", "beside the fields", "along the coast"]


def filler_sentence(rng: random.Random) -> str:
    """One grammatical sentence that states nothing a question could ask about."""
    a, b = rng.sample(_NOUN, 2)
    return f"The {rng.choice(_ADJ)} {a} {rng.choice(_VERB)} the {rng.choice(_ADJ)} {b} {rng.choice(_PLACE)}."


def filler_paragraph(rng: random.Random, tokens: int = FILLER_TOKENS, count: TokenCounter = approx_tokens) -> str:
    """Generated filler of about ``tokens`` tokens (whole sentences, at least one)."""
    sentences = [filler_sentence(rng)]
    while count(" ".join(sentences)) < tokens:
        sentences.append(filler_sentence(rng))
    return " ".join(sentences)


def filler_stream(rng: random.Random, count: TokenCounter = approx_tokens) -> Iterator[str]:
    while True:
        yield filler_paragraph(rng, count=count)


# -- assembling a document -----------------------------------------------------------------------
def spread_positions(rng: random.Random, n_gold: int, n_total: int) -> list[int]:
    """Indices for ``n_gold`` paragraphs in a document of ``n_total``: the i-th in the i-th of
    ``n_gold`` equal depth bands, at a seeded uniform depth inside it; distinct and increasing."""
    if n_gold > n_total:
        raise ValueError(f"{n_gold} gold paragraphs do not fit in {n_total}")
    positions: list[int] = []
    for i in range(n_gold):
        depth = (i + rng.random()) / n_gold
        lowest = positions[-1] + 1 if positions else 0
        highest = n_total - (n_gold - i)  # room for the golds still to place
        positions.append(min(max(int(depth * n_total), lowest), highest))
    return positions


def build_document(rng: random.Random, gold: Sequence[str], distractors: Iterable[str], target_tokens: int,
                   count: TokenCounter = approx_tokens) -> tuple[list[str], list[int]]:
    """Paragraphs totalling exactly ``target_tokens`` (under ``count``, joined by blank lines) with
    ``gold`` spread over them (:func:`spread_positions`); returns (paragraphs, gold positions).

    ``distractors`` is read in order until the document is full (pass a shuffled, endless stream,
    e.g. real paragraphs followed by :func:`filler_stream`); the last one is cut to fit.
    """
    sep = count("\n\n")
    need = sum(count(g) for g in gold) + sep * len(gold)
    if need > target_tokens:
        raise UserError(f"target length {target_tokens} tokens is shorter than the gold text ({need} tokens); "
                        "ask for a longer document")
    room = target_tokens - need + sep  # no separator before the first paragraph
    filler: list[str] = []
    for paragraph in distractors:
        if room <= sep:
            break
        size = count(paragraph) + sep
        if size > room:
            paragraph, _ = cut_to_tokens(paragraph, room - sep, count)
            size = count(paragraph) + sep
            if not paragraph:
                break
        filler.append(paragraph)
        room -= size
    positions = spread_positions(rng, len(gold), len(filler) + len(gold))
    paragraphs, rest = [], iter(filler)
    golds = dict(zip(positions, gold))
    for i in range(len(filler) + len(gold)):
        paragraphs.append(golds[i] if i in golds else next(rest))
    return paragraphs, positions


def chunk_document(paragraphs: Sequence[str], chunk_tokens: int, count: TokenCounter = approx_tokens) -> list[str]:
    """Sections of at most ``chunk_tokens`` tokens: whole paragraphs packed in order; a paragraph
    longer than a section is split at word boundaries."""
    if chunk_tokens < 8:
        raise UserError(f"chunk_tokens ({chunk_tokens}) must be at least 8")
    chunks: list[str] = []
    current: list[str] = []
    for paragraph in paragraphs:
        while count(paragraph) > chunk_tokens:  # too long for any section: split it
            head, _ = cut_to_tokens(paragraph, chunk_tokens, count)
            head = head or paragraph[: chunk_tokens * CHARS_PER_TOKEN]
            _flush(chunks, current)
            chunks.append(head)
            paragraph = paragraph[len(head):].lstrip()
        if current and count("\n\n".join(current + [paragraph])) > chunk_tokens:
            _flush(chunks, current)
        if paragraph:
            current.append(paragraph)
    _flush(chunks, current)
    return chunks


def _flush(chunks: list[str], current: list[str]) -> None:
    if current:
        chunks.append("\n\n".join(current))
        current.clear()


# -- HotpotQA ------------------------------------------------------------------------------------
def hotpot_items(data_dir: str | os.PathLike | None = None, path: str | os.PathLike | None = None) -> tuple[dict[str, Any], ...]:
    """The HotpotQA items as ``{question, answer, gold: [paragraph], other: [paragraph]}``; a
    paragraph is ``"<title>: <text>"``. No data is a one-line UserError."""
    return _items(hotpotqa_source(data_dir, path))


@lru_cache(maxsize=4)
def _items(source: Source) -> tuple[dict[str, Any], ...]:
    items = []
    for row in rows_from(source):
        titles, sentences = row["context"]["title"], row["context"]["sentences"]
        supporting = set(row["supporting_facts"]["title"])
        paragraphs = {t: f"{t}: {''.join(s).strip()}" for t, s in zip(titles, sentences)}
        items.append({
            "question": row["question"], "answer": row["answer"],
            "gold": [p for t, p in paragraphs.items() if t in supporting],
            "other": [p for t, p in paragraphs.items() if t not in supporting],
        })
    return tuple(items)


def hotpot_tasks(split: str, n: int, seed: int, lengths: Sequence[int], data_dir: str | os.PathLike | None = None,
                 count: TokenCounter = approx_tokens, path: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """``n`` documents for the questions of ``split`` (a question's split is the hash of its text,
    so a held-out question never appears in training); task k has length ``lengths[k % len]``.

    Distractors: the question's own HotpotQA distractors first (hard negatives), then shuffled
    paragraphs of other questions, then filler. Supporting paragraphs of other splits' questions
    are never used, so no training document holds the evidence for a held-out answer.
    """
    check_split(split)
    items = hotpot_items(data_dir, path)
    mine = [it for it in items if split_of(it["question"]) == split]
    if not mine:
        raise UserError(f"no HotpotQA question falls in split {split!r}")
    banned = {p for it in items if split_of(it["question"]) != split for p in it["gold"]}
    pool = sorted({p for it in items for p in it["gold"] + it["other"]} - banned)
    rng = random.Random(f"memagent-hotpotqa/{seed}/{split}")
    order = rng.sample(range(len(mine)), len(mine))
    tasks = []
    for k in range(n):
        item = mine[order[k % len(mine)]]
        own = rng.sample(item["other"], len(item["other"]))
        others = [p for p in rng.sample(pool, len(pool)) if p not in item["gold"] and p not in item["other"]]
        stream = _chain(own, others, filler_stream(random.Random(rng.random()), count))
        target = lengths[k % len(lengths)]
        gold = rng.sample(item["gold"], len(item["gold"]))  # which gold comes first varies
        paragraphs, positions = build_document(rng, gold, stream, target, count)
        tasks.append({
            "id": f"memagent-hotpotqa-{split}-{seed}-{k}", "split": split, "source": "hotpotqa",
            "question": item["question"], "answer": [item["answer"]], "paragraphs": paragraphs,
            "gold_positions": positions, "doc_tokens": target,
        })
    return tasks


def _chain(*streams: Iterable[str]) -> Iterator[str]:
    for stream in streams:
        yield from stream


# -- needles ------------------------------------------------------------------------------------
def needle_spec(rng: random.Random, n_needles: int) -> dict[str, Any]:
    """Keys and 7-digit values of ``n_needles`` needles, and which one the question asks about."""
    keys = set()
    while len(keys) < n_needles:
        keys.add(f"{rng.choice(_ADJ)}-{rng.choice(_NOUN)}")
    needles = [[key, str(rng.randrange(1_000_000, 10_000_000))] for key in sorted(keys)]
    rng.shuffle(needles)
    return {"needles": needles, "asked": rng.randrange(n_needles)}


def needle_tasks(split: str, n: int, seed: int, lengths: Sequence[int], n_needles: int = 1,
                 count: TokenCounter = approx_tokens) -> list[dict[str, Any]]:
    """``n`` needle-in-a-haystack documents of ``split``; task k has length ``lengths[k % len]``.

    The split is a hash of the needles (not of the filler), so a key/number pair asked in
    training is never asked in a held-out task.
    """
    if n_needles < 1:
        raise UserError(f"n_needles ({n_needles}) must be at least 1")
    specs = generate_split(lambda rng: needle_spec(rng, n_needles), lambda s: s["needles"],
                           split=split, n=n, seed=seed, prefix=f"memagent-needle{n_needles}")
    tasks = []
    for k, spec in enumerate(specs):
        rng = random.Random(spec["id"])
        needles = [f"The special magic number for {key} is {value}." for key, value in spec["needles"]]
        key, value = spec["needles"][spec["asked"]]
        target = lengths[k % len(lengths)]
        paragraphs, positions = build_document(rng, needles, filler_stream(rng, count), target, count)
        tasks.append({
            "id": spec["id"], "split": split, "source": "needle",
            "question": f"What is the special magic number for {key}?", "answer": [value],
            "paragraphs": paragraphs, "gold_positions": [positions[spec["asked"]]], "doc_tokens": target,
        })
    return tasks
