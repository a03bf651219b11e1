"""MemAgent (arXiv 2507.02259): read a long document chunk by chunk into an overwritten memory."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Sequence

from memrl.actions import Action, ReplyFormat
from memrl.env.base import MemoryEnv
from memrl.errors import UserError
from memrl.scoring.text import exact_match

from memrl.data.documents import approx_tokens, chunk_document, cut_to_tokens, hotpot_tasks, needle_tasks
from memrl.data.sources import source_name

SOURCES = ("needle", "hotpotqa")
READ_INSTRUCTIONS = (
    "You are reading a long document one section at a time, to answer a problem at the end. You "
    "keep nothing but a memory that you rewrite after every section. Reply with the updated memory "
    "only: everything read so far that helps answer the problem, short and exact (names, numbers, "
    "dates). The memory is cut after {memory_tokens} tokens."
)
ANSWER_INSTRUCTIONS = "Answer the problem. Put the final answer, a few words at most, inside \\boxed{}."
EMPTY_MEMORY = "(empty)"


class MemAgentEnv(MemoryEnv):
    """Read a document section by section, rewriting a bounded memory; answer from the memory alone.

    Description:
        The document (a question's evidence among distractors, RULER-style: HotpotQA paragraphs
        or needles in filler, see ``memrl.data.documents``) is cut into sections of
        ``chunk_tokens``. For each section the model gets a fresh conversation — the problem, its
        current memory, the section — and its whole reply (minus an optional ``<think>``) becomes
        the new memory, cut to ``memory_tokens``. A last conversation shows the problem and the
        memory and asks for the answer in ``\\boxed{}``. Every conversation is its own training
        segment (a rewrite), so the cost per turn is bounded whatever the document's length; with
        ``--scale_rewards none`` the GRPO trainers give every conversation the episode's reward
        minus its group mean (MemAgent's multi-conversation DAPO).
    Memory tools:
        None: the memory is the free text the model writes. Chunk replies are never parsed as
        actions, so a ``\\boxed{}`` there does not end the episode and free text is no format error.
    Observation:
        Chat messages [system, user]: read turns ``Problem / Memory / Section k of n``; the answer
        turn ``Problem / Memory``. Baselines: ``full_context`` shows the whole document and the
        problem in one prompt (the rollout engine's ``max_context_tokens`` ends the episode as
        ``context_limit`` when it does not fit); ``none`` the problem only; ``retrieval`` the BM25
        top-``recall_top_k`` paragraphs for the problem, then the problem.
    Rewards:
        Exact match (SQuAD normalisation) of the last ``\\boxed{}`` against the gold answer(s);
        0 without a box (then ``outcome["answered"]`` is false: unanswered, not a wrong answer). ``outcome`` records answer, gold, score, success, chunks, memory (final
        text), memory_overflows (read turns whose reply was cut) and chunks_dropped.
    Episode end:
        terminated after the answer turn (turn ``chunks + 1``; ``max_turns`` is set per task from
        the number of sections, so it cannot be passed).
    Arguments:
        source ("needle" | "hotpotqa"): task source (default "needle", also called "synthetic": needs no data).
        doc_tokens (int | list[int]): document length(s) in approximate tokens (chars / 4); task k
        gets ``doc_tokens[k % len]`` (default 4096). chunk_tokens (int): section size (default 1024).
        memory_tokens (int): memory bound (default 256). max_chunks (int | None): read at most this
        many sections; the rest is dropped and counted. n_needles (int): needles per document
        (default 1). data_dir (str): the data folder holding ``hotpotqa/`` (default ``$MEMRL_DATA``,
        else ``~/.cache/memrl/data``, else the Hub). path (str): a HotpotQA JSON/JSONL file of your own.
        memory_mode: "agent" or a baseline ("none", "full_context", "retrieval").
    Version history:
        v0: first version.
    """

    protocol = ReplyFormat(answer="boxed")
    score_name = "boxed EM"
    supported_modes = ("agent", "none", "full_context", "retrieval")
    size_key = "doc_tokens"
    recall_top_k = 5

    def __init__(self, *, source: str = "needle", doc_tokens: int | Sequence[int] = 4096, chunk_tokens: int = 1024,
                 memory_tokens: int = 256, max_chunks: int | None = None, n_needles: int = 1,
                 data_dir: str | Path | None = None, path: str | Path | None = None, **kwargs: Any):
        if "max_turns" in kwargs:
            raise UserError("MemAgent's turns are its sections + 1; set chunk_tokens or max_chunks instead of max_turns")
        source = source_name(source, SOURCES, synthetic="needle")
        lengths = [doc_tokens] if isinstance(doc_tokens, int) else list(doc_tokens)
        checks = [(bool(lengths) and all(isinstance(n, int) and n >= 64 for n in lengths), f"doc_tokens ({doc_tokens!r}) must be integers of at least 64"),
                  (chunk_tokens >= 8, f"chunk_tokens ({chunk_tokens}) must be at least 8"),
                  (memory_tokens >= 1, f"memory_tokens ({memory_tokens}) must be at least 1"),
                  (max_chunks is None or max_chunks >= 1, f"max_chunks ({max_chunks}) must be at least 1")]
        for ok, message in checks:
            if not ok:
                raise UserError(message)
        self.source, self.lengths, self.n_needles, self.data_dir, self.path = source, lengths, n_needles, data_dir, path
        self.chunk_tokens, self.memory_tokens, self.max_chunks = chunk_tokens, memory_tokens, max_chunks
        super().__init__(**kwargs)

    # -- tasks -----------------------------------------------------------------------------------
    def make_tasks(self, split: str = "train", n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
        if self.source == "hotpotqa":
            return hotpot_tasks(split, n, seed, self.lengths, self.data_dir, path=self.path)
        return needle_tasks(split, n, seed, self.lengths, self.n_needles)

    def sample_task(self, rng: random.Random) -> dict[str, Any]:
        # Seeded but not split-checked (like FactRecall's): training and eval use make_tasks.
        return self.make_tasks("train", 1, seed=rng.getrandbits(32))[0]

    # -- episode ----------------------------------------------------------------------------------
    def begin(self, task: dict[str, Any]) -> None:
        self._cut(task)
        self.max_turns = len(self.chunks) + 1  # one turn per section, then the answer
        self._show_section()

    def begin_baseline(self, task: dict[str, Any]) -> None:
        # No memory to write: one answer turn, shown the whole document with full context, the
        # problem's BM25 hits with retrieval, the problem alone with none.
        self._cut(task)
        self.chunk_index = len(self.chunks)  # nothing is read
        self.max_turns = 1
        for paragraph in task["paragraphs"]:
            self.observe(paragraph)  # indexed by the retrieval baseline
        document = "Document:\n" + "\n\n".join(task["paragraphs"]) + "\n\n" if self.mode.keeps_context else ""
        self.start_stage(("system", ANSWER_INSTRUCTIONS),
                         ("user", f"{document}{self.recall(task['question'])}{self._answer_request(memory=False)}"))

    def _cut(self, task: dict[str, Any]) -> None:
        chunks = chunk_document(task["paragraphs"], self.chunk_tokens)
        keep = len(chunks) if self.max_chunks is None else min(len(chunks), self.max_chunks)
        self.chunks, self.chunk_index, self.memory_text = chunks[:keep], 0, ""
        self.outcome.update(chunks=keep, chunks_dropped=len(chunks) - keep, memory_overflows=0)

    def reading(self) -> bool:
        """Whether this turn reads a section (the reply is the new memory) rather than answers."""
        return self.chunk_index < len(self.chunks)

    def parse(self, text: str) -> Action:
        # A read turn's reply is the new memory, not an action: no parse, no format error.
        return Action(state=text) if self.reading() else super().parse(text)

    def after_turn(self, action: Action) -> bool:
        if not self.reading():
            return True  # the answer turn gave no \boxed{} answer: the episode ends, scored by conclude
        self._write_memory(action.state or "")
        self.chunk_index += 1
        if self.chunk_index < len(self.chunks):
            self._show_section()
        else:
            self.start_stage(("system", ANSWER_INSTRUCTIONS), ("user", self._answer_request(memory=True)))
        return False

    def conclude(self) -> float:
        # Without a "score" the base marks the episode unanswered (score 0), not a wrong answer.
        self.outcome.update(answer=None, gold=self.task["answer"], success=False, memory=self.memory_text)
        return 0.0

    def finish(self, answer: str) -> float:
        gold = self.task["answer"]
        score = exact_match(answer, gold)
        self.outcome.update(answer=answer, gold=gold, score=score, success=score == 1.0, memory=self.memory_text)
        return score

    # -- a scripted expert (demonstrations for the SFT warm start) ------------------------------
    def expert_reply(self) -> str:
        """What a good reader writes now, knowing where the evidence is: the memory holds the gold
        paragraphs read so far (each cut to an equal share of ``memory_tokens``); the answer turn
        boxes the gold answer. It teaches the format (a small model never writes ``\\boxed{}``
        unprompted), not the reading: the expert cannot miss the evidence."""
        if not self.reading():
            return f"\\boxed{{{self.task['answer'][0]}}}"
        read = self.chunks[: self.chunk_index + 1]
        gold = [self.task["paragraphs"][p] for p in self.task["gold_positions"]]
        share = max(1, self.memory_tokens // len(gold))
        # A paragraph's opening identifies it even when a section boundary splits it.
        notes = [cut_to_tokens(g, share)[0] for g in gold if any(g[:80] in section for section in read)]
        return cut_to_tokens("\n".join(notes), self.memory_tokens)[0] or "Nothing relevant yet."

    # -- helpers ---------------------------------------------------------------------------------
    def _show_section(self) -> None:
        k, n = self.chunk_index + 1, len(self.chunks)
        memory = self.memory_text or EMPTY_MEMORY
        self.start_stage(
            ("system", READ_INSTRUCTIONS.format(memory_tokens=self.memory_tokens)),
            ("user", f"Problem: {self.task['question']}\n\nMemory:\n{memory}\n\n"
                     f"Section {k} of {n}:\n{self.chunks[self.chunk_index]}\n\nWrite the updated memory."),
        )

    def _answer_request(self, *, memory: bool) -> str:
        shown = f"\n\nMemory:\n{self.memory_text or EMPTY_MEMORY}" if memory else ""
        return f"Problem: {self.task['question']}{shown}\n\nGive the final answer as \\boxed{{answer}}."

    def _write_memory(self, reply: str) -> None:
        # A reasoning model's thought is not memory: keep what follows </think>, or what precedes
        # an unclosed <think> (the reply was cut off while thinking).
        if "</think>" in reply:
            reply = reply.rsplit("</think>", 1)[1]
        elif "<think>" in reply:
            reply = reply.split("<think>", 1)[0]
        memory, cut = cut_to_tokens(reply.strip(), self.memory_tokens, approx_tokens)
        self.memory_text = memory
        self.outcome["memory_overflows"] += int(cut)
