"""Turn a ``--model`` value (embedded / local folder / Hugging Face id) into a model and tokenizer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from memrl.errors import UserError
from memrl.models.embedded import embedded_model_path, is_embedded

DTYPES = ("auto", "float32", "bfloat16", "float16")
EXAMPLE_ID = "Qwen/Qwen2.5-0.5B-Instruct"


def resolve_model(name_or_path: str | os.PathLike | None) -> str:
    """What ``from_pretrained`` should load: the embedded model's cached folder, a local folder, or a hub id.

    ``None``, ``"embedded"`` and ``"smollm2-135m-instruct"`` mean the embedded model (converted
    on first use). An existing path must be a model folder. Anything else must look like a hub
    id (``name`` or ``org/name``); a path-like name that does not exist is a one-line UserError.
    """
    if name_or_path is None or is_embedded(str(name_or_path)):
        return str(embedded_model_path())
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.exists():
        _check_model_folder(text, path)
        return str(path)
    if _looks_like_hub_id(text):
        return text
    raise UserError(f"model path {text!r} does not exist; pass an existing model folder, "
                    f"a Hugging Face id like {EXAMPLE_ID!r}, or 'embedded'")


def _check_model_folder(text: str, path: Path) -> None:
    if not path.is_dir():
        raise UserError(f"model path {text!r} is a file; pass the model's folder (config.json + weights)")
    # adapter_config.json: transformers loads a PEFT adapter folder on top of its base model.
    if not any((path / name).is_file() for name in ("config.json", "adapter_config.json")):
        raise UserError(f"model folder {text!r} has no config.json; pass a folder written by save_pretrained")


def _looks_like_hub_id(text: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(text)
    except HFValidationError:
        return False
    return True


def cpu_bf16_kind() -> str | None:
    """The CPU's native bf16 matrix instructions ("AMX-BF16" or "AVX512-BF16"), or None.

    Only native support counts: oneDNN also runs bf16 on plain AVX-512 by emulation, which is
    slower than float32. Read from /proc/cpuinfo (Linux); elsewhere None, and float32 stays.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return None
    return "AMX-BF16" if "amx_bf16" in flags else ("AVX512-BF16" if "avx512_bf16" in flags else None)


def resolve_dtype(dtype: Any, device: Any) -> Any:
    """``"auto"``: float32 on CPU (bf16 matmuls are slow there), bf16 on CUDA (fp16 where bf16 is missing)."""
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise UserError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}")
    if dtype != "auto":
        return getattr(torch, dtype)
    if torch.device(device).type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Left padding (batched generation appends after the prompt) and a pad token (eos if none)."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model_and_tokenizer(name_or_path: str | os.PathLike | None = None, *, dtype: Any = "auto",
                             device: Any = None, trust_remote_code: bool = False) -> tuple[Any, Any]:
    """(model, tokenizer) for a ``--model`` value; the default is the embedded SmolLM2-135M-Instruct.

    ``device`` defaults to CUDA when available, else CPU; ``dtype`` to :func:`resolve_dtype`'s
    choice for that device. The tokenizer pads on the left and has a pad token.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from memrl.models.attention import use_packed_decode

    path = resolve_model(name_or_path)
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(
            path, dtype=resolve_dtype(dtype, device), trust_remote_code=trust_remote_code,
            # Straight onto the GPU: a 7B model would otherwise pass through 15 GB of CPU memory.
            device_map=str(device) if device.type == "cuda" else None,
        )
    except OSError as exc:
        if Path(path).is_dir():
            raise
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not load model {path!r}: not a local folder and not fetched from the "
                        f"Hugging Face Hub ({reason})") from exc
    model.to(device)
    use_packed_decode(model)  # CPU decode steps: packed GQA heads, not torch's slower GQA kernel
    prepare_tokenizer(tokenizer)
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer
