"""Every logged step goes to ``<output_dir>/log.jsonl`` whatever ``report_to`` says."""

from __future__ import annotations

import json
import os
import time

from transformers import TrainerCallback


class JsonlLogger(TrainerCallback):
    """Appends each log dict (reward/*, memory/ops/*, losses, times) with its step to a JSONL file."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        os.makedirs(args.output_dir, exist_ok=True)
        row = {"step": state.global_step, "time": time.time(), **{k: v for k, v in logs.items() if _plain(v)}}
        with open(os.path.join(args.output_dir, "log.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


class SFTLogger(TrainerCallback):
    """The SFT warm start's log lines in the RL run's ``log.jsonl``, under ``sft/`` with
    ``phase: "sft"`` (its own step count), so the warm start is on the learning curve."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        os.makedirs(self.output_dir, exist_ok=True)
        row = {"phase": "sft", "sft/step": state.global_step, "time": time.time(),
               **{f"sft/{k}": v for k, v in logs.items() if _plain(v) and not isinstance(v, str)}}
        with open(os.path.join(self.output_dir, "log.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def _plain(value) -> bool:
    return isinstance(value, (int, float, str, bool)) or value is None
