"""Random-initialized models for tests and speed checks.

``tiny_model`` is a 2-layer Llama with SmolLM2's real tokenizer and chat template, so tests run the
real prompt/parse/tokenize path in milliseconds. ``qwen_like_config`` gives Qwen2.5's real shapes
for GPU throughput checks without downloading weights.
"""

from __future__ import annotations

import copy
import difflib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from memrl.errors import UserError
from memrl.models.embedded import embedded_model_path
from memrl.models.loading import prepare_tokenizer

# Shapes from each Qwen/Qwen2.5-<size>-Instruct config.json.
QWEN25_SHAPES: dict[str, dict[str, Any]] = {
    "0.5b": dict(hidden_size=896, num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                 intermediate_size=4864, vocab_size=151936, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, num_hidden_layers=28, num_attention_heads=12, num_key_value_heads=2,
                 intermediate_size=8960, vocab_size=151936, tie_word_embeddings=True),
    "3b": dict(hidden_size=2048, num_hidden_layers=36, num_attention_heads=16, num_key_value_heads=2,
               intermediate_size=11008, vocab_size=151936, tie_word_embeddings=True),
    "7b": dict(hidden_size=3584, num_hidden_layers=28, num_attention_heads=28, num_key_value_heads=4,
               intermediate_size=18944, vocab_size=152064, tie_word_embeddings=False),
}


@lru_cache(maxsize=1)
def _embedded_tokenizer() -> Any:
    from transformers import AutoTokenizer

    return prepare_tokenizer(AutoTokenizer.from_pretrained(embedded_model_path()))


def tiny_tokenizer() -> Any:
    """SmolLM2's tokenizer (left padding, pad = eos), loaded once per process; a fresh copy per call
    so that a caller changing e.g. ``padding_side`` cannot leak into other tests."""
    return copy.deepcopy(_embedded_tokenizer())


def tiny_model(seed: int = 0, hidden_size: int = 64, num_layers: int = 2, num_heads: int = 4, *,
               num_kv_heads: int | None = None, intermediate_size: int | None = None,
               max_position_embeddings: int = 8192) -> tuple[Any, Any]:
    """(model, tokenizer): a fresh random LlamaForCausalLM, deterministic in ``seed``, with SmolLM2's tokenizer.

    The vocabulary is the tokenizer's (49,152), embeddings are tied like SmolLM2's, and the
    global torch RNG is left untouched. Needs the embedded model's cache (converted on first use).
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, num_key_value_heads=num_kv_heads or num_heads,
        intermediate_size=intermediate_size or 2 * hidden_size, max_position_embeddings=max_position_embeddings,
        tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model.eval(), tokenizer


def tiny_model_path(tmpdir: str | os.PathLike, **kwargs: Any) -> Path:
    """Save ``tiny_model(**kwargs)`` with its tokenizer to ``tmpdir/tiny-model`` and return that folder
    (for CLIs and recipes that take ``--model PATH``)."""
    model, tokenizer = tiny_model(**kwargs)
    out = Path(tmpdir) / "tiny-model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def qwen_like_config(size: str = "0.5b") -> Any:
    """A Qwen2Config with Qwen2.5-<size>-Instruct's real shapes, for random-init speed checks."""
    from transformers import Qwen2Config

    key = size.strip().lower()
    if key not in QWEN25_SHAPES:
        close = difflib.get_close_matches(key, QWEN25_SHAPES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"unknown Qwen2.5 size {size!r}; choose one of {', '.join(QWEN25_SHAPES)}.{hint}")
    return Qwen2Config(
        **QWEN25_SHAPES[key], max_position_embeddings=32768, rms_norm_eps=1e-6,
        rope_parameters={"rope_type": "default", "rope_theta": 1_000_000.0},
        bos_token_id=151643, eos_token_id=151645, pad_token_id=151643,
    )
