"""Which checkpoint ``--resume_from_checkpoint`` continues: the newest *complete* one.

Checkpoints are written atomically (``MemoryGRPOTrainer._save_checkpoint``), but a folder can
still be broken afterwards: a disk that filled up, a copy cut short, a file deleted by hand.
TRL takes the highest ``checkpoint-N`` whatever it holds and fails deep in loading (or, for an
empty folder, with its own error). So ``true`` means: the newest checkpoint whose files are all
there and readable, said out loud with the reason each newer one was skipped; an explicit path
that is broken is one line saying what is wrong with it.

Complete means: ``trainer_state.json`` (JSON with a ``global_step``), the weights (a LoRA
adapter's ``adapter_config.json`` + ``adapter_model.safetensors``, or a full model's
``config.json`` + ``model.safetensors`` or its index and shards) with intact safetensors
headers, the optimizer state (``optimizer.pt`` / ``scheduler.pt`` as readable archives, or a
DeepSpeed / FSDP optimizer folder), and PPO's ``value_head.safetensors`` when the checkpoint's
``memrl_config.json`` says PPO. Nothing is unpickled: headers and zip directories only.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from pathlib import Path
from typing import Any

from memrl.errors import UserError

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
TRUE_WORDS = ("true", "last", "latest", "yes", "1")
FALSE_WORDS = ("", "false", "no", "none", "0")


def problems(folder: str | os.PathLike) -> list[str]:
    """What makes ``folder`` an incomplete or unreadable checkpoint (empty: it is complete)."""
    folder = Path(folder)
    if not folder.is_dir():
        return ["it is not a folder" if folder.exists() else "it does not exist"]
    if not any(folder.iterdir()):
        return ["it is empty"]
    found = [p for p in (_state(folder), _weights(folder), _optimizer(folder), _value_head(folder)) if p]
    return found


def _state(folder: Path) -> str | None:
    path = folder / "trainer_state.json"
    if not path.is_file():
        return "trainer_state.json is missing"
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"trainer_state.json is unreadable ({_first_line(exc)})"
    if not isinstance(state, dict) or not isinstance(state.get("global_step"), int):
        return "trainer_state.json has no global_step"
    return None


def _weights(folder: Path) -> str | None:
    if (folder / "adapter_config.json").is_file() or (folder / "adapter_model.safetensors").exists():
        return _json_file(folder / "adapter_config.json") or _safetensors(folder / "adapter_model.safetensors")
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            return f"{index.name} is unreadable ({_first_line(exc)})"
        return next((p for p in (_safetensors(folder / s) for s in shards) if p), None)
    if (folder / "model.safetensors").exists():
        return _json_file(folder / "config.json") or _safetensors(folder / "model.safetensors")
    return "no weights (adapter_model.safetensors or model.safetensors)"


def _optimizer(folder: Path) -> str | None:
    if any(p.is_dir() and (p.name.startswith("global_step") or p.name.startswith("optimizer")) for p in folder.iterdir()):
        return None  # DeepSpeed (global_stepN/) or FSDP (optimizer_0/) shards: their engines check them
    for name in ("optimizer.pt", "scheduler.pt"):
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; a cut one has no directory
            return f"{name} is truncated or corrupt"
    return None


def _value_head(folder: Path) -> str | None:
    try:
        config = json.loads((folder / "memrl_config.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None  # not a memrl checkpoint, or written before memrl_config.json existed
    if isinstance(config, dict) and config.get("algorithm") == "ppo":
        return _safetensors(folder / "value_head.safetensors")
    return None


def _json_file(path: Path) -> str | None:
    if not path.is_file():
        return f"{path.name} is missing"
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{path.name} is unreadable ({_first_line(exc)})"
    return None


def _safetensors(path: Path) -> str | None:
    """None if the header reads and the file is as long as the header says (no tensor is loaded)."""
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        return f"{path.name} is missing"
    try:
        with safe_open(str(path), framework="pt") as f:
            list(f.keys())
    except (SafetensorError, OSError) as exc:
        return f"{path.name} is truncated or corrupt ({_first_line(exc)})"
    return None


def checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """The ``checkpoint-N`` folders of a run, newest (highest N) first."""
    root = Path(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m[1]), p) for p in root.iterdir() if (m := _CHECKPOINT.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found, reverse=True)]


def newest_complete(output_dir: str | os.PathLike) -> tuple[Path | None, list[str]]:
    """(the newest complete checkpoint or None, "checkpoint-N: why" for each newer one skipped)."""
    skipped = []
    for folder in checkpoints(output_dir):
        found = problems(folder)
        if not found:
            return folder, skipped
        skipped.append(f"{folder.name}: {'; '.join(found)}")
    return None, skipped


def resolve(value: Any, output_dir: str | os.PathLike, *, say: Any = print) -> str | None:
    """What to pass ``trainer.train(resume_from_checkpoint=...)`` for the user's setting: None (start
    fresh), or the path of a complete checkpoint. ``say`` gets one line on what was chosen and why."""
    if value is None or value is False or (isinstance(value, str) and value.strip().lower() in FALSE_WORDS):
        return None
    if value is True or (isinstance(value, str) and value.strip().lower() in TRUE_WORDS):
        chosen, skipped = newest_complete(output_dir)
        why = f" (skipped {', '.join(skipped)})" if skipped else ""
        if chosen is None:
            raise UserError(f"--resume_from_checkpoint true: no complete checkpoint in {str(output_dir)!r}{why}; "
                            f"drop the flag to start over, or pass a checkpoint folder")
        say(f"resuming from {chosen}{why}")
        return str(chosen)
    found = problems(value)
    if found:
        raise UserError(f"--resume_from_checkpoint {str(value)!r} is not a complete checkpoint: {'; '.join(found)}")
    say(f"resuming from {value}")
    return str(value)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
