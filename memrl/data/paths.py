"""Where data lives: one rule for every loader, env and command.

The data folder is ``data_dir`` when a caller gives one, else ``$MEMRL_DATA``, else
``<cache>/data`` where ``<cache>`` is memrl's user cache (``$MEMRL_CACHE``, else
``$XDG_CACHE_HOME/memrl``, else ``~/.cache/memrl``; the folder the embedded model uses). Nothing
is looked up beside the source tree: an installed memrl finds the same data as a checkout.
Inside it each data set has a subfolder (``locomo/``, ``hotpotqa/``), which
``memrl data download`` fills.
"""

from __future__ import annotations

import os
from pathlib import Path

from memrl.models.embedded import cache_root


def data_folder(explicit: str | os.PathLike | None = None) -> Path:
    """The data folder: ``explicit``, else ``$MEMRL_DATA``, else ``<memrl cache>/data``."""
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("MEMRL_DATA"):
        return Path(os.environ["MEMRL_DATA"]).expanduser()
    return cache_root() / "data"


def where(explicit: str | os.PathLike | None = None) -> str:
    """How the folder was chosen, for error messages: ``'/x/data' (from $MEMRL_DATA)``."""
    if explicit:
        reason = "data_dir"
    else:
        reason = "$MEMRL_DATA" if os.environ.get("MEMRL_DATA") else "the default; set $MEMRL_DATA or data_dir"
    return f"{str(data_folder(explicit))!r} ({reason})"
