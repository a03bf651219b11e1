"""Memory-store latency: ADD 10,000 facts one by one, then 1,000 RETRIEVEs (top 5).

    python bench/memory_ops.py [--entries 10000] [--queries 1000] [--top-k 5] [--seed 0]

Compares the in-process store (incremental BM25) and the SQLite store (FTS5, a file in a temp
folder, one transaction per ADD) with two static BM25 libraries that index the finished corpus
once and are then only queried: rank_bm25.BM25Okapi and bm25s. The stores pay for being
writable between reads; the libraries show what a read costs when nothing ever changes.

The corpus is seeded and synthetic: fact-like sentences about people (made-up names, cities,
companies) with attributes and values, a vocabulary of a few thousand words, entities drawn
Zipf-like so some appear in hundreds of facts (as the user does in a long chat). Each query is
2-4 content words of one random fact plus a question word; ``found@k`` is how often that fact
is among the top k. The stores are then also timed with an ADD before each RETRIEVE (the
pattern of an episode), which defeats the in-process store's per-term array cache. Prints a table and, last, ``memory_retrieve_p50_us=<n>`` (in-process store).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import bm25s
import numpy as np
from rank_bm25 import BM25Okapi
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed

from memrl.memory.inprocess import InProcessStore, tokenize  # noqa: E402
from memrl.memory.sqlite import SQLiteStore  # noqa: E402

# -- CORPUS ---------------------------------------------------------------------------------
SYLLABLES = "ka lo mi ran ti sen dor vel an is bru cha fen gor hal jun kel mar nor pel qua ros sul tam ver wen yor zal".split()
COLORS = "red blue green yellow black white orange purple grey silver golden brown pink teal".split()
DAYS = "monday tuesday wednesday thursday friday saturday sunday".split()
MONTHS = "january february march april may june july august september october november december".split()
JOBS = "baker nurse teacher pilot engineer lawyer chef painter farmer dentist plumber writer architect librarian".split()
THINGS = "bicycle car guitar piano boat camera laptop watch dog cat parrot garden house tent".split()
FOODS = "peanuts shellfish gluten milk eggs strawberries sesame soy walnuts mustard celery kiwi".split()
HOBBIES = "chess tennis hiking sailing knitting poetry pottery climbing cycling gardening fishing yoga".split()
SPORTS_TEAMS = "rovers united city athletic wanderers rangers".split()

TEMPLATES = [
    "{p} lives in {city} near the {color} bridge.",
    "{p} works as a {job} at {company} in {city}.",
    "{p} owns a {color} {thing} bought in {month}.",
    "{p} is allergic to {food} and avoids {food2}.",
    "{p} was born in {city} in {year}.",
    "{p} meets {q} every {day} to play {hobby}.",
    "{p}'s favourite colour is {color} and favourite food is {food}.",
    "The meeting between {p} and {q} at {company} is on {day} {month} {n}.",
    "{p} supports {city} {team} and watches every game on {day}.",
    "{p} moved from {city} to {city2} in {month} {year}.",
    "{p} has {n} {thing}s and a {color} {thing2}.",
    "{p} learned {hobby} from {q} in {city}.",
]


def made_up_words(rng: random.Random, n: int, min_syl: int, max_syl: int) -> list[str]:
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(min_syl, max_syl))).capitalize())
    return sorted(words)


def make_corpus(n: int, seed: int) -> list[str]:
    """``n`` fact sentences; entities Zipf-distributed so df ranges from 1 to hundreds."""
    rng = random.Random(seed)
    first, last = made_up_words(rng, 400, 2, 2), made_up_words(rng, 600, 2, 3)
    cities, companies = made_up_words(rng, 800, 2, 3), [w + " Ltd" for w in made_up_words(rng, 600, 3, 3)]
    people = [f"{f} {l}" for f, l in zip(rng.sample(first * 5, 2000), rng.sample(last * 4, 2000))]
    weights = [1 / (i + 1) ** 0.8 for i in range(len(people))]

    def person() -> str:
        return rng.choices(people, weights)[0]

    facts = []
    for _ in range(n):
        facts.append(
            rng.choice(TEMPLATES).format(
                p=person(), q=person(), city=rng.choice(cities), city2=rng.choice(cities),
                company=rng.choice(companies), color=rng.choice(COLORS), job=rng.choice(JOBS),
                thing=rng.choice(THINGS), thing2=rng.choice(THINGS), food=rng.choice(FOODS),
                food2=rng.choice(FOODS), hobby=rng.choice(HOBBIES), day=rng.choice(DAYS),
                month=rng.choice(MONTHS), team=rng.choice(SPORTS_TEAMS),
                year=rng.randint(1950, 2010), n=rng.randint(2, 28),
            )
        )
    return facts


def make_queries(facts: list[str], n: int, seed: int) -> list[tuple[int, str]]:
    """(index of the source fact, query): 2-4 of its words and a question word."""
    rng = random.Random(seed + 1)
    queries = []
    for _ in range(n):
        i = rng.randrange(len(facts))
        words = tokenize(facts[i])
        picked = rng.sample(words, min(len(words), rng.randint(2, 4)))
        queries.append((i, " ".join([rng.choice(["what", "where", "when", "who", "which"]), *picked])))
    return queries


# -- TIMING ---------------------------------------------------------------------------------
def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter_ns()
    out = fn()
    return (time.perf_counter_ns() - t0) / 1000.0, out


def bench_store(store, facts: list[str], extra: list[str], queries: list[tuple[int, str]], top_k: int) -> dict:
    gc.collect()
    add_us, ids = [], []
    for fact in facts:
        us, result = timed(lambda: store.add(fact))
        add_us.append(us)
        ids.append(result.entry.id)
    gc.collect()
    get_us, found = [], 0
    for i, query in queries:
        us, result = timed(lambda: store.retrieve(query, top_k))
        get_us.append(us)
        found += ids[i] in {e.id for e, _ in result.hits}
    # Then ADD and RETRIEVE alternately, as in an episode: each ADD invalidates cached postings.
    mixed_us = []
    for fact, (_, query) in zip(extra, queries):
        store.add(fact)
        us, _ = timed(lambda: store.retrieve(query, top_k))
        mixed_us.append(us)
    return {"add": add_us, "retrieve": get_us, "mixed": mixed_us, "found": found / len(queries)}


def bench_rank_bm25(facts: list[str], queries: list[tuple[int, str]], top_k: int) -> dict:
    build_us, index = timed(lambda: BM25Okapi([tokenize(f) for f in facts]))
    get_us, found = [], 0
    for i, query in queries:
        def run() -> np.ndarray:
            scores = index.get_scores(tokenize(query))
            top = np.argpartition(-scores, top_k)[:top_k]
            return top[np.argsort(-scores[top], kind="stable")]

        us, top = timed(run)
        get_us.append(us)
        found += i in top.tolist()
    return {"build": build_us, "retrieve": get_us, "found": found / len(queries)}


def bench_bm25s(facts: list[str], queries: list[tuple[int, str]], top_k: int) -> dict:
    def build() -> bm25s.BM25:
        index = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
        index.index([tokenize(f) for f in facts], show_progress=False)
        return index

    build_us, index = timed(build)
    get_us, found = [], 0
    for i, query in queries:
        us, (docs, _) = timed(lambda: index.retrieve([tokenize(query)], k=top_k, show_progress=False))
        get_us.append(us)
        found += i in docs[0].tolist()
    return {"build": build_us, "retrieve": get_us, "found": found / len(queries)}


# -- REPORT ---------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):,.0f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000, help="facts to ADD")
    parser.add_argument("--queries", type=int, default=1_000, help="RETRIEVE calls after the ADDs")
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    console = Console(width=140)
    console.print("$ python " + " ".join(sys.argv))
    console.print(f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, {platform.machine()}, {os.cpu_count()} CPUs")

    facts = make_corpus(args.entries + args.queries, args.seed)
    facts, extra = facts[: args.entries], facts[args.entries :]
    queries = make_queries(facts, args.queries, args.seed)
    vocab = {t for f in facts for t in tokenize(f)}
    console.print(f"{len(facts):,} facts, {len(vocab):,} distinct words, {len(queries):,} queries, top_k={args.top_k}")
    console.print(f"e.g. {facts[0]!r} / query {queries[0][1]!r}")

    results = {"InProcessStore": bench_store(InProcessStore(), facts, extra, queries, args.top_k)}
    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(Path(tmp) / "memory.db")
        results["SQLiteStore (file)"] = bench_store(store, facts, extra, queries, args.top_k)
        store.close()
    results["rank_bm25 BM25Okapi"] = bench_rank_bm25(facts, queries, args.top_k)
    results["bm25s"] = bench_bm25s(facts, queries, args.top_k)

    table = Table(title=f"memory ops, µs per op ({len(facts):,} entries; BM25 libraries index once, then only read)")
    columns = ("backend", "add p50", "add p95", "index build (once)", "retrieve p50", "retrieve p95",
               "retrieve p50, ADD before each", f"found@{args.top_k}")
    for col in columns:
        table.add_column(col, justify="left" if col == "backend" else "right", no_wrap=col == "backend")
    for name, r in results.items():
        build = f"{r['build']:,.0f}" if "build" in r else "-"
        table.add_row(
            name, pct(r.get("add", []), 50), pct(r.get("add", []), 95), build,
            pct(r["retrieve"], 50), pct(r["retrieve"], 95), pct(r.get("mixed", []), 50), f"{r['found']:.1%}",
        )
    console.print(table)
    print(f"memory_retrieve_p50_us={np.percentile(results['InProcessStore']['retrieve'], 50):.0f}")


if __name__ == "__main__":
    main()
