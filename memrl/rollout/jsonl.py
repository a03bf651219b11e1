"""Trajectories to and from JSONL (one episode a line), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Iterable

from memrl.errors import UserError
from memrl.rollout.segments import Trajectory


def save_trajectories(path: str | os.PathLike, trajectories: Iterable[Trajectory], *, append: bool = False) -> Path:
    """Write (or append) episodes; a crash mid-write never leaves a truncated file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(t.to_dict(), ensure_ascii=False) + "\n" for t in trajectories)
    if append:
        with open(path, "a", encoding="utf-8") as f:
            f.write(lines)
        return path
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(lines)
        # mkstemp makes the file 0600; give it the mode a plain open() would (0666 less umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_trajectories(path: str | os.PathLike) -> list[Trajectory]:
    """Read episodes; a missing file or a bad line is one clear error naming the line."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"no trajectory file at {path}; write one with save_trajectories or a recipe's --save-rollouts")
    out = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                out.append(Trajectory.from_dict(json.loads(line)))
            except (json.JSONDecodeError, TypeError, KeyError) as e:
                raise UserError(f"{path}:{number}: not a memrl trajectory ({type(e).__name__}: {e})") from None
    return out
