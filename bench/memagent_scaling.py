"""MemAgent scaling: wall time per task against document length, MemAgent mode vs full context.

(a) Cost: a tiny random model (hidden 64, 2 layers, 8,192 positions) generates exactly
    ``--new-tokens`` tokens on every call (EOS stopping is switched off and checked), so time
    measures work done, not when a random model happens to stop. Needle documents of 1K, 2K, ...
    32K tokens; MemAgent mode reads them in sections of ``--chunk-tokens`` with a
    ``--memory-tokens`` memory; full context puts the whole document in one prompt, run while it
    fits the 8,192-token window. One task at a time, median over ``--tasks`` tasks.
(b) Accuracy (``--accuracy``, optional): the *untrained* embedded SmolLM2-135M-Instruct, greedy,
    on held-out needle tasks at ``--accuracy-lengths``, MemAgent mode and full context.

    python bench/memagent_scaling.py                    # (a) only, ~2 min on 2 CPU cores
    python bench/memagent_scaling.py --accuracy         # (a) + (b), ~6 min
    python bench/memagent_scaling.py --replot bench/results/memagent_scaling.txt   # redraw a saved run
Writes the plot to ``--plot``. Last line: time_growth_32x=<MemAgent time at 32K / time at 1K>
(linear in length would be 32: a section costs the same wherever it is).
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

from memrl.env.registry import make
from memrl.models import load_model_and_tokenizer, tiny_model
from memrl.rollout import RolloutEngine, RolloutLimits, SamplingParams, make_backend

ENV = "memrl/MemAgent-v0"
WINDOW = 8192  # the tiny model's positions: full context runs while prompt + reply fit


def env_kwargs(args: argparse.Namespace, length: int, mode: str) -> dict:
    return dict(source="needle", doc_tokens=length, chunk_tokens=args.chunk_tokens,
                memory_tokens=args.memory_tokens, memory_mode=mode)


def fixed_length_engine(args: argparse.Namespace) -> RolloutEngine:
    """The tiny model on the hf backend, forced to write exactly ``--new-tokens`` every call."""
    model, tokenizer = tiny_model(seed=0, max_position_embeddings=WINDOW)
    model.generation_config.eos_token_id = None  # transformers would fall back to it
    backend = make_backend("hf", model=model, tokenizer=tokenizer)
    backend.stop_ids = set()
    limits = RolloutLimits(max_new_tokens=args.new_tokens, max_context_tokens=WINDOW, max_episode_tokens=10**6)
    return RolloutEngine(backend, limits=limits, sampling=SamplingParams(args.new_tokens, temperature=1.0, seed=0),
                         record_turns=False)


def time_one(engine: RolloutEngine, kwargs: dict, task: dict, new_tokens: int) -> tuple[float | None, int]:
    """Seconds for one episode (None when it did not fit the window) and its model calls."""
    start = time.perf_counter()
    (traj,) = engine.rollout(lambda: make(ENV, **kwargs), [task])
    seconds = time.perf_counter() - start
    if traj.truncated == "context_limit":
        return None, 0
    calls = [s.policy_tokens for s in traj.segments]
    assert traj.truncated is None and set(calls) == {new_tokens}, f"not a fixed-length run: {traj.truncated}, {calls}"
    return seconds, len(calls)


def timing(args: argparse.Namespace) -> dict[int, dict]:
    engine = fixed_length_engine(args)
    tokenizer = engine.backend.tokenizer
    rows = {}
    time_one(engine, env_kwargs(args, args.lengths[0], "agent"),
             make(ENV, **env_kwargs(args, args.lengths[0], "agent")).make_tasks("test", 1, seed=99)[0], args.new_tokens)  # warm-up
    for length in args.lengths:
        row = {}
        tasks = make(ENV, **env_kwargs(args, length, "agent")).make_tasks("test", args.tasks, seed=0)
        row["real_tokens"] = statistics.median(len(tokenizer("\n\n".join(t["paragraphs"]))["input_ids"]) for t in tasks)
        for mode in ("agent", "full_context"):
            runs = [time_one(engine, env_kwargs(args, length, mode), t, args.new_tokens) for t in tasks]
            fits = all(s is not None for s, _ in runs)
            row[mode] = statistics.median(s for s, _ in runs) if fits else None
            row[f"{mode}_calls"] = statistics.median(c for _, c in runs) if fits else None
        rows[length] = row
        print(f"  {length:>6} tokens: MemAgent {row['agent']:.2f} s ({row['agent_calls']:.0f} calls), full context "
              + (f"{row['full_context']:.2f} s" if row["full_context"] is not None else "does not fit"), flush=True)
    return rows


def accuracy(args: argparse.Namespace) -> dict[int, dict]:
    model, tokenizer = load_model_and_tokenizer(None)
    backend = make_backend("hf", model=model, tokenizer=tokenizer)
    engine = RolloutEngine(backend, limits=RolloutLimits(max_new_tokens=args.memory_tokens, max_context_tokens=WINDOW),
                           sampling=SamplingParams(args.memory_tokens, temperature=0.0), record_turns=False)
    rows = {}
    for length in args.accuracy_lengths:
        tasks = make(ENV, **env_kwargs(args, length, "agent")).make_tasks("test", args.accuracy_tasks, seed=1)
        row = {"tasks": len(tasks)}
        for mode in ("agent", "full_context"):
            trajs = engine.rollout(lambda: make(ENV, **env_kwargs(args, length, mode)), tasks)
            row[mode] = sum(t.reward for t in trajs) / len(trajs)
            row[f"{mode}_boxed"] = sum(t.outcome.get("answer") is not None for t in trajs) / len(trajs)
        rows[length] = row
        print(f"  {length:>6} tokens: EM MemAgent {row['agent']:.2f} (boxed {row['agent_boxed']:.2f}), "
              f"full context {row['full_context']:.2f} (boxed {row['full_context_boxed']:.2f})", flush=True)
    return rows


def plot(times: dict[int, dict], acc: dict[int, dict] | None, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2 if acc else 1, figsize=(12 if acc else 6.5, 4.6), squeeze=False)
    _cost_panel(axes[0][0], times)
    if acc:
        _accuracy_panel(axes[0][1], acc)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def _cost_panel(ax, times: dict[int, dict]) -> None:
    for mode, label, marker in (("agent", "MemAgent (sections + memory)", "o"), ("full_context", "full context (one prompt)", "s")):
        xs = [n for n, r in times.items() if r[mode] is not None]
        ax.plot(xs, [times[n][mode] for n in xs], marker=marker, label=label)
    first = min(times)
    ax.plot(list(times), [times[first]["agent"] * n / first for n in times], ls=":", c="grey", label="linear from 1K")
    fits = [n for n, r in times.items() if r["full_context"] is not None]
    if fits and len(fits) < len(times):
        # Full context stops because the document no longer fits the model's window, not by choice.
        # Lengths are approximate (chars / 4); the window is in real tokens, placed by the ratio
        # measured at the longest document that fit.
        edge = WINDOW * max(fits) / times[max(fits)]["real_tokens"]
        ax.axvline(edge, color="tab:red", ls="--", lw=1)
        ax.annotate(f"{WINDOW:,}-token window: longer\ndocuments do not fit, so\nfull context stops here", xy=(edge, 0.03),
                    xycoords=("data", "axes fraction"), xytext=(5, 0), textcoords="offset points", color="tab:red", fontsize=8)
    ax.set(xscale="log", yscale="log", xlabel="document length (tokens)", ylabel="wall time per task (s)",
           title="Cost: tiny model, fixed-length replies")
    _length_ticks(ax, times)
    ax.legend(fontsize=8, loc="upper left")


def _accuracy_panel(ax, acc: dict[int, dict]) -> None:
    # Equal scores would draw one line on top of the other: distinct markers and styles, and a small
    # horizontal offset (x on a log axis), so both stay visible; the note says when they coincide.
    styles = (("agent", "MemAgent", "o", "-", 0.97), ("full_context", "full context", "s", "--", 1.03))
    for mode, label, marker, ls, shift in styles:
        ax.plot([n * shift for n in acc], [acc[n][mode] for n in acc], marker=marker, ls=ls, markersize=7 if marker == "o" else 5,
                label=label)
    if all(acc[n]["agent"] == acc[n]["full_context"] for n in acc):
        ax.text(0.5, 0.5, "both lines coincide: equal boxed EM at every length\n(drawn slightly apart)",
                transform=ax.transAxes, ha="center", fontsize=8, color="dimgray")
    ax.set(xscale="log", xlabel="document length (tokens)", ylabel="boxed EM (0..1)", ylim=(-0.05, 1.05),
           title=f"Accuracy: untrained SmolLM2-135M, needles, N = {acc[min(acc)].get('tasks', '?')} per length")
    _length_ticks(ax, acc)
    ax.legend(fontsize=8)


def read_saved(path: Path) -> tuple[dict[int, dict], dict[int, dict] | None]:
    """A saved run's figures back from its printed table (``--replot``): the plot can be redrawn
    without measuring again."""
    text = path.read_text(encoding="utf-8")
    tasks = re.search(r"greedy, (\d+) held-out", text)
    times, acc = {}, {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("| ") or not cells[0].isdigit():
            continue
        n = int(cells[0])
        full = None if cells[4] == "does not fit" else float(cells[4])
        times[n] = {"real_tokens": float(cells[1]), "agent": float(cells[2]), "agent_calls": float(cells[3]), "full_context": full}
        if len(cells) >= 7 and cells[5] and cells[6]:
            acc[n] = {"agent": float(cells[5]), "full_context": float(cells[6]), "tasks": int(tasks.group(1)) if tasks else "?"}
    return times, acc or None


def _length_ticks(ax, lengths) -> None:
    from matplotlib.ticker import NullLocator

    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticks(list(lengths), [f"{n // 1024}K" for n in lengths])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lengths", type=int, nargs="+", default=[1024 * 2**k for k in range(6)], help="document lengths (tokens)")
    ap.add_argument("--tasks", type=int, default=3, help="tasks per length (median time)")
    ap.add_argument("--chunk-tokens", type=int, default=512)
    ap.add_argument("--memory-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=64, help="tokens generated per call (fixed)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1: steadier timings on a shared CPU)")
    ap.add_argument("--accuracy", action="store_true", help="also measure accuracy with the embedded model")
    ap.add_argument("--accuracy-lengths", type=int, nargs="+", default=[1024, 2048, 4096])
    ap.add_argument("--accuracy-tasks", type=int, default=4)
    ap.add_argument("--plot", type=Path, default=Path("bench/results/memagent_scaling.png"))
    ap.add_argument("--replot", type=Path, default=None, metavar="OUTPUT.txt",
                    help="redraw the plot from a saved run's output (e.g. bench/results/memagent_scaling.txt) and exit")
    args = ap.parse_args()
    if args.replot:
        plot(*read_saved(args.replot), args.plot)
        print(f"plot: {args.plot}")
        return
    import torch

    torch.set_num_threads(args.threads)
    print(f"(a) cost: tiny model, {args.new_tokens} new tokens per call, sections of {args.chunk_tokens}, "
          f"memory {args.memory_tokens}, window {WINDOW}, median of {args.tasks} tasks, {args.threads} thread(s)")
    times = timing(args)
    acc = None
    if args.accuracy:
        print(f"(b) accuracy: untrained embedded SmolLM2-135M-Instruct, greedy, {args.accuracy_tasks} held-out needle tasks per length")
        acc = accuracy(args)
    print("\n| doc tokens (approx) | SmolLM2 tokens | MemAgent s/task | calls | full context s/task |"
          + (" EM MemAgent | EM full context |" if acc else ""))
    print("|---:|---:|---:|---:|---:|" + ("---:|---:|" if acc else ""))
    for n, r in times.items():
        full = f"{r['full_context']:.2f}" if r["full_context"] is not None else "does not fit"
        line = f"| {n} | {r['real_tokens']:.0f} | {r['agent']:.2f} | {r['agent_calls']:.0f} | {full} |"
        if acc:
            line += f" {acc[n]['agent']:.2f} | {acc[n]['full_context']:.2f} |" if n in acc else " | |"
        print(line)
    plot(times, acc, args.plot)
    print(f"plot: {args.plot}")
    first, last = min(times), max(times)
    print(f"time_growth_{last // first}x={times[last]['agent'] / times[first]['agent']:.2f}")


if __name__ == "__main__":
    main()
