"""What ``--policy [NAME=]PATH_OR_ID`` names, and loading it safely.

A policy is a PEFT adapter folder (a memrl ``checkpoint-N/`` or ``final/``: both hold
``adapter_config.json`` + ``adapter_model.safetensors``), or a model folder / hub id evaluated
as a base policy. Adapters are checked before PEFT touches the base model, so a corrupt file or
an adapter for another base is one line, not a size-mismatch traceback. Weights are read with
safetensors only; a pickled ``adapter_model.bin`` is refused rather than unpickled.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from memrl.env.base import MEMORY_MODES
from memrl.errors import UserError

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
_RUN_FOLDER = re.compile(r"^(final|checkpoint-\d+)$")
_LORA_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.(?P<part>lora_[AB])(?:\.[\w-]+)?\.weight$")


@dataclass(frozen=True)
class PolicySpec:
    """One ``--policy``: its display name, what was given, and whether it is an adapter or a model."""

    name: str
    source: str
    kind: str  # "adapter" | "model"


def parse_policy(text: str) -> PolicySpec:
    """``[NAME=]PATH_OR_ID`` -> a spec; a path that should be a local folder must exist."""
    name, sep, source = text.partition("=")
    if not sep:
        name, source = "", text
    source = source.strip()
    if not source:
        raise UserError(f"--policy {text!r} names no checkpoint; use [NAME=]PATH_OR_ID, e.g. trained=runs/x/final")
    path = Path(source).expanduser()
    name = name.strip() or _default_name(path)
    if name == "base" or name in MEMORY_MODES:
        raise UserError(f"--policy name {name!r} is reserved for the untrained base and the baselines; pick another, e.g. trained={source}")
    if path.is_dir():
        if (path / ADAPTER_CONFIG).is_file():
            return PolicySpec(name, str(path), "adapter")
        if (path / "config.json").is_file():
            return PolicySpec(name, str(path), "model")
        raise UserError(f"policy {name!r}: folder {source!r} holds neither {ADAPTER_CONFIG} (an adapter or memrl "
                        f"checkpoint) nor config.json (a model); pass a checkpoint-N/ or final/ folder")
    if path.exists():
        raise UserError(f"policy {name!r}: {source!r} is a file; pass the checkpoint folder that holds it")
    if _looks_local(source):
        raise UserError(f"policy {name!r}: checkpoint folder {source!r} does not exist")
    return PolicySpec(name, source, "model")  # a hub id; loading says so if it cannot be fetched


def _default_name(path: Path) -> str:
    # runs/x/final and runs/y/final would both be "final": keep the run folder in the name.
    if _RUN_FOLDER.match(path.name) and path.parent.name:
        return f"{path.parent.name}/{path.name}"
    return path.name or str(path)


def _looks_local(source: str) -> bool:
    """A name a hub id cannot be: a relative/absolute path or a training run's output folder."""
    if source.startswith((".", "/", "~")) or source.count("/") > 1 or "\\" in source:
        return True
    return bool(_RUN_FOLDER.match(Path(source).name))


def read_adapter_config(folder: str | Path, name: str) -> dict[str, Any]:
    """The adapter's config, after checking its weights are present, safetensors and readable."""
    folder = Path(folder)
    try:
        config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"policy {name!r}: {folder / ADAPTER_CONFIG} is unreadable or not JSON ({_first_line(exc)})") from None
    if not isinstance(config, dict):
        raise UserError(f"policy {name!r}: {folder / ADAPTER_CONFIG} is not a JSON object")
    weights = folder / ADAPTER_WEIGHTS
    if not weights.is_file():
        if (folder / "adapter_model.bin").is_file():
            raise UserError(f"policy {name!r}: {folder} has only adapter_model.bin (pickle), which memrl does not load; "
                            f"re-save it with save_pretrained(..., safe_serialization=True)")
        raise UserError(f"policy {name!r}: {folder} has no {ADAPTER_WEIGHTS}; is the checkpoint complete?")
    return config


def lora_shapes(folder: str | Path, name: str) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape from the safetensors header (no tensor data is read, nothing unpickled)."""
    from safetensors import SafetensorError, safe_open

    path = Path(folder) / ADAPTER_WEIGHTS
    try:
        with safe_open(str(path), framework="pt") as f:
            return {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
    except (SafetensorError, OSError) as exc:
        raise UserError(f"policy {name!r}: {path} is corrupt or truncated ({_first_line(exc)}); re-save the checkpoint") from None


def check_adapter_fits(model: Any, folder: str | Path, config: dict[str, Any], name: str, base_label: str) -> None:
    """Every LoRA matrix must sit on a module of the base with matching in/out features."""
    modules = dict(model.named_modules())
    recorded = config.get("base_model_name_or_path")
    trained_on, fix = (recorded, f"pass --model {recorded}") if recorded else ("base not recorded", "pass --model with the base it was trained on")
    for key, shape in lora_shapes(folder, name).items():
        m = _LORA_KEY.match(key)
        if m is None:
            continue
        module = modules.get(m["module"])
        if module is None:
            problem = f"it adapts {m['module']!r}, which {base_label} does not have"
        else:
            want = getattr(module, "in_features", None) if m["part"] == "lora_A" else getattr(module, "out_features", None)
            have = shape[1] if m["part"] == "lora_A" else shape[0]
            if want is None or have == want:
                continue
            problem = f"{key} has {have} features where {base_label} has {want}"
        raise UserError(f"adapter {str(folder)!r} was trained on a different base model ({trained_on}; {problem}); {fix}")


@contextmanager
def adapter_policy(model: Any, tokenizer: Any, spec: PolicySpec, base_label: str) -> Iterator[tuple[Any, Any]]:
    """The base ``model`` with the adapter applied; afterwards the adapter is removed again, so
    the same base serves the next adapter and the baselines without reloading."""
    import sys

    from peft import PeftModel

    config = read_adapter_config(spec.source, spec.name)
    check_adapter_fits(model, spec.source, config, spec.name, base_label)
    recorded = config.get("base_model_name_or_path")
    if recorded and Path(str(recorded)).name != Path(base_label).name:
        print(f"note: policy {spec.name!r} records base {recorded!r}; evaluating it on {base_label!r} (shapes match)", file=sys.stderr)
    try:
        peft_model = PeftModel.from_pretrained(model, spec.source, is_trainable=False)
    except (ValueError, RuntimeError, KeyError) as exc:
        raise UserError(f"policy {spec.name!r}: PEFT cannot apply {spec.source!r} to {base_label} ({_first_line(exc)})") from None
    peft_model.eval()
    try:
        yield peft_model, tokenizer
    finally:
        peft_model.unload()  # strips the LoRA layers in place, leaving the base weights untouched


@contextmanager
def model_policy(spec: PolicySpec, **load_kwargs: Any) -> Iterator[tuple[Any, Any]]:
    """A separate model loaded for this policy only, freed afterwards."""
    from memrl.models import load_model_and_tokenizer

    try:
        model, tokenizer = load_model_and_tokenizer(spec.source, **load_kwargs)
    except (OSError, ValueError) as exc:
        if isinstance(exc, UserError):
            raise
        raise UserError(f"policy {spec.name!r}: cannot load model {spec.source!r} ({_first_line(exc)})") from None
    try:
        yield model, tokenizer
    finally:
        del model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
