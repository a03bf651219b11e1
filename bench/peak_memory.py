"""Peak resident memory (RSS) of the main commands, one process per phase (issue #25).

Each phase runs in a child process of its own, so each peak is that phase's alone; the parent
reads it from the kernel when it reaps the child (``os.wait4``: ``ru_maxrss``, the largest RSS
the child ever had, including what was freed before the end). The phases, all with the
recipes' CPU defaults (``recipes/agemem.py``, ``recipes/mem1.py``) through memrl's public
functions (``parse_config`` + ``build_trainer``, ``memrl.cli.main``):

    sft    AgeMem's SFT warm start, 1 optimizer step (the recipe's expert episodes; sft_epochs
           so small that the Trainer's ceil(epochs x steps) is 1)
    grpo   1 GRPO step of AgeMem, warm start off: 8 episodes of rollout, then the update
    ppo    1 PPO step of MEM1, warm start off: rollout, critic, GAE and the update
    eval   ``memrl eval`` of the base model on 8 held-out AgeMem tasks, no baselines, with the
           recipe's token budgets
    main   the main command as a user runs it, cut to 1 RL step: AgeMem's whole warm start (40
           expert episodes, 20 SFT steps), then 1 GRPO step of the warmed-up policy. Its peak is
           above sft's and grpo's: 20 SFT steps leave more resident than 1 (longer rows), and
           the warmed-up policy's episodes make a larger update than the base's

Beside each peak: the model's parameters and their bytes in the dtype the phase loaded them
(recorded when the phase loads its model), and peak / parameter bytes. A table, then the last
line ``peak_rss_gb=<max over the phases>`` (GB = 1e9 bytes). Goal (#25): <= 4 on the embedded
model. Child logs go to ``<--out>/<phase>/log.txt``.

    python bench/peak_memory.py                     # embedded SmolLM2-135M; ~10 min on 2 CPU cores (5 without main)
    python bench/peak_memory.py --model tiny        # a tiny random model: ~1.5 min, but GBs (see below)
    python bench/peak_memory.py --phases grpo,ppo -- --update_tokens_per_forward 1024 --bf16 false
    python bench/peak_memory.py --eval-flags "--batch-size 4"

Flags after ``--`` go to the training phases (sft, grpo, ppo, main) after the bench's own, so they
override them; ``--eval-flags`` (one string) to ``memrl eval``. The tiny model keeps SmolLM2's
49,152-token vocabulary, so its peaks are not small: they are the full-vocabulary logits, as on
the embedded model (tiny, measured: before #25's micro-batched update sft 3.0 GB, grpo 8.7, ppo
5.9, eval 0.5; after it, at 746653b, sft 2.9, grpo 1.4, ppo 1.4, eval 0.5). Run it on a quiet
machine: the figure is each process's own, but it needs the memory free.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PHASES = {  # name: what it runs (the table's second column)
    "sft": "AgeMem SFT warm start, 1 step",
    "grpo": "AgeMem GRPO, 1 step (no warm start)",
    "ppo": "MEM1 PPO, 1 step (no warm start)",
    "eval": "memrl eval AgeMem, base, 8 tasks",
    "main": "AgeMem recipe: warm start + 1 GRPO step",
}
EVAL_TASKS = 8


# -- the parent: one child per phase, its peak from wait4 ---------------------------------------------
def run_phase(phase: str, model: str | None, out: Path, train_flags: list[str], eval_flags: list[str]) -> dict:
    """Run one phase in a child process; its peak RSS, wall time, exit code and model record."""
    folder = out / phase
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", phase, "--out", str(folder)]
    if model:
        cmd += ["--model", model]
    # "--eval-flags=..." in one word: a value that starts with "--" would read as a flag.
    cmd += [f"--eval-flags={shlex.join(eval_flags)}", "--", *train_flags]
    start = time.perf_counter()
    with open(folder / "log.txt", "w") as log:
        child = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        # wait4, not Popen.wait: it returns the child's own rusage (getrusage(RUSAGE_CHILDREN)
        # would give the largest child so far, not this one).
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    record = {"phase": phase, "rc": child.returncode, "wall_s": time.perf_counter() - start,
              "peak_bytes": usage.ru_maxrss * 1024}  # Linux reports kilobytes
    for name in ("model.json", "stages.json"):
        if (folder / name).exists():
            data = json.loads((folder / name).read_text())
            record.update(data if name == "model.json" else {"stages": data})
    return record


def print_report(records: list[dict], model_label: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("phase", "runs", "wall s", "peak RSS GB", "model params", "param GB (dtype)", "peak / params",
                  title=f"peak resident memory per phase, model {model_label}")
    for r in records:
        params = r.get("param_bytes")
        table.add_row(
            r["phase"], PHASES[r["phase"]], f"{r['wall_s']:.0f}",
            f"{r['peak_bytes'] / 1e9:.2f}" if r["rc"] == 0 else f"failed (exit {r['rc']})",
            f"{r['params'] / 1e6:.1f}M" if params else "?",
            f"{params / 1e9:.3f} ({r['dtype']})" if params else "?",
            f"{r['peak_bytes'] / params:.1f}x" if params and r["rc"] == 0 else "",
        )
    Console(width=140).print(table)
    print_stages(records)


def print_stages(records: list[dict]) -> None:
    """Per phase, each stage's sampled RSS maximum and the high-water mark at its end: the stage
    where the high-water mark rises to the phase's peak is where the peak happened."""
    from rich.console import Console
    from rich.table import Table

    table = Table("phase", "stage", "max RSS GB (sampled)", "high-water mark at its end GB", title="where the peak happens")
    for r in records:
        for stage, entry in r.get("stages", {}).items():
            table.add_row(r["phase"], stage, f"{entry['rss_max'] / 1e9:.2f}", f"{entry['hwm_end'] / 1e9:.2f}")
    Console(width=140).print(table)


def tiny_model_folder(out: Path) -> str:
    from memrl.models import tiny_model_path

    return str(tiny_model_path(out))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(args)
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p not in PHASES]
    if unknown or not phases:
        print(f"peak_memory.py: error: --phases {args.phases!r}: choose from {', '.join(PHASES)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = tiny_model_folder(out) if args.model == "tiny" else args.model
    records = []
    for phase in phases:
        print(f"{phase}: {PHASES[phase]} ...", flush=True)
        records.append(run_phase(phase, model, out, args.train_flags, shlex.split(args.eval_flags)))
        r = records[-1]
        print(f"{phase}: peak {r['peak_bytes'] / 1e9:.2f} GB, {r['wall_s']:.0f} s, exit {r['rc']}", flush=True)
        if r["rc"] != 0:
            print((out / phase / "log.txt").read_text()[-3000:], file=sys.stderr)
    print_report(records, args.model or "embedded")
    if any(r["rc"] != 0 for r in records):
        print("some phases failed: their peak is not the phase's; see the logs above", file=sys.stderr)
    print(f"peak_rss_gb={max(r['peak_bytes'] for r in records) / 1e9:.2f}")
    return 0 if all(r["rc"] == 0 for r in records) else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default=None, help="model folder or id; 'tiny' for a tiny random model; default: the embedded one")
    ap.add_argument("--phases", default=",".join(PHASES), help=f"comma list of phases to run, from {', '.join(PHASES)}")
    ap.add_argument("--out", default="runs/peak_memory", help="working folder (child logs, run outputs)")
    ap.add_argument("--eval-flags", default="", help="more `memrl eval` flags, as one string")
    ap.add_argument("--child", choices=tuple(PHASES), help=argparse.SUPPRESS)
    ap.add_argument("train_flags", nargs="*", help="more recipe flags for the training phases, after --")
    return ap.parse_args(argv)


# -- the child: one phase, through memrl's public functions --------------------------------------------
def run_child(args: argparse.Namespace) -> int:
    sampler = StageSampler(Path(args.out) / "stages.json")
    record_model_loads(Path(args.out) / "model.json", sampler)
    mark_training_stages(sampler)
    try:
        if args.child == "eval":
            return run_eval(args)
        return run_training(args)
    finally:
        sampler.stop()


class StageSampler:
    """Where a phase's memory goes: RSS read from /proc/self/status every few milliseconds by a
    thread, its maximum kept per stage (imports and load, SFT, rollout, old/ref log-probs,
    update), and the kernel's exact high-water mark (VmHWM) read as each stage ends, so the stage
    that set the phase's peak is known even where the sampling missed a short spike."""

    def __init__(self, path: Path, every_s: float = 0.02):
        import threading

        self.path, self.every_s, self.stage = path, every_s, "imports + load"
        self.stages: dict[str, dict[str, int]] = {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def status() -> dict[str, int]:
        with open("/proc/self/status", encoding="utf-8") as f:
            return {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f) if k in ("VmRSS", "VmHWM")}

    def _sample(self) -> None:
        now = self.status()
        entry = self.stages.setdefault(self.stage, {"rss_max": 0, "hwm_end": 0})
        entry["rss_max"] = max(entry["rss_max"], now["VmRSS"])
        entry["hwm_end"] = now["VmHWM"]

    def _run(self) -> None:
        while not self._done.wait(self.every_s):
            self._sample()

    def enter(self, stage: str) -> None:
        self._sample()  # closes the stage that ends here
        self.stage = stage
        self._sample()

    def stop(self) -> None:
        self.enter("end")
        self._done.set()
        self._thread.join()
        self.path.write_text(json.dumps(self.stages))


def mark_training_stages(sampler: StageSampler) -> None:
    """Wrap the trainers' stage methods so the sampler knows which stage is running."""
    from memrl.train import grpo, ppo, warmstart

    def staged(cls, name: str, stage: str, after: str | None = None) -> None:
        method = getattr(cls, name)

        def wrapper(self, *a, **kw):
            sampler.enter(stage)
            try:
                return method(self, *a, **kw)
            finally:
                if after:
                    sampler.enter(after)

        setattr(cls, name, wrapper)

    staged(warmstart.ChunkedSFTTrainer, "train", "sft", after="after sft")
    staged(grpo.MemoryGRPOTrainer, "_rollout", "rollout")
    staged(ppo.MemoryPPOTrainer, "_batch_values", "values pass")
    staged(grpo.MemoryGRPOTrainer, "_old_and_ref_logps", "old/ref logps")
    # From the first micro-batch's forward to the end of the step: backward and optimizer included.
    staged(grpo.MemoryGRPOTrainer, "compute_loss", "update")


def record_model_loads(path: Path, sampler: StageSampler) -> None:
    """Wrap memrl's model loader (build_trainer and memrl eval import it when they run) so the
    loaded model's parameter count and bytes are written to ``path``; the stage after it is
    'after load' (eval's rollouts, or the trainer's setup)."""
    import memrl.models

    load = memrl.models.load_model_and_tokenizer

    def load_and_record(*a, **kw):
        model, tokenizer = load(*a, **kw)
        params = list(model.parameters())  # tied embeddings once
        path.write_text(json.dumps({
            "params": sum(p.numel() for p in params),
            "param_bytes": sum(p.numel() * p.element_size() for p in params),
            "dtype": str(params[0].dtype).removeprefix("torch."),
        }))
        sampler.enter("after load")
        return model, tokenizer

    memrl.models.load_model_and_tokenizer = load_and_record


def recipe_defaults(name: str) -> dict:
    sys.path.insert(0, str(ROOT / "recipes"))
    module = __import__(name)
    return module.CPU_DEFAULTS


def run_training(args: argparse.Namespace) -> int:
    from memrl.train import build_trainer
    from memrl.train.run import parse_config, shut_down

    recipe = "mem1" if args.child == "ppo" else "agemem"
    flags = ["--output_dir", str(Path(args.out) / "run"), "--max_steps", "1", "--save_strategy", "no",
             "--disable_tqdm", "true", "--report_to", "none"]
    if args.child == "sft":
        # The recipe's own expert episodes; epochs so few that the SFT Trainer makes 1 step.
        flags += ["--sft_epochs", "1e-9"]
    elif args.child != "main":  # main keeps the recipe's whole warm start
        flags += ["--sft_warm_start_episodes", "0"]
    if args.model:
        flags += ["--model_name_or_path", args.model]
    parsed = parse_config([*flags, *args.train_flags], defaults=recipe_defaults(recipe))
    # (MemRLConfig, TRL's ModelConfig) since the config surface split; a MemRLConfig before it.
    config, model_args = parsed if isinstance(parsed, tuple) else (parsed, None)
    if args.child == "sft" and config.sft_warm_start_episodes < 1:
        print("the sft phase needs --sft_warm_start_episodes >= 1", file=sys.stderr)
        return 2
    kwargs = {} if model_args is None else {"model_args": model_args}
    trainer = build_trainer(config, **kwargs)  # the sft phase ends here: its warm start ran inside
    if args.child != "sft":
        trainer.train()
    shut_down(trainer)
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from memrl.cli.main import main as memrl_main

    defaults = recipe_defaults("agemem")
    argv = ["eval", "--env", defaults["env_id"], "--env-kwargs", json.dumps(defaults["env_kwargs"]),
            "--episodes", str(EVAL_TASKS), "--split", "test", "--baselines", "none", "--no-plots",
            "--max-new-tokens", str(defaults["max_new_tokens_per_turn"]),
            "--max-context-tokens", str(defaults["max_context_tokens"]), "--out", str(Path(args.out) / "eval")]
    if args.model:
        argv += ["--model", args.model]
    return memrl_main([*argv, *shlex.split(args.eval_flags)])


if __name__ == "__main__":
    sys.exit(main())
