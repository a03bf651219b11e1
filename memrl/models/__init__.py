"""Models: the embedded SmolLM2-135M-Instruct, loading by name or path, and tiny random models.

Importing this package is cheap: torch and transformers load only when a model is built.
"""

from memrl.models.embedded import EMBEDDED_MODEL, MissingModelError, embedded_model_path, is_embedded
from memrl.models.loading import load_model_and_tokenizer, prepare_tokenizer, resolve_dtype, resolve_model
from memrl.models.tiny import qwen_like_config, tiny_model, tiny_model_path, tiny_tokenizer

__all__ = [
    "EMBEDDED_MODEL",
    "MissingModelError",
    "embedded_model_path",
    "is_embedded",
    "load_model_and_tokenizer",
    "prepare_tokenizer",
    "qwen_like_config",
    "resolve_dtype",
    "resolve_model",
    "tiny_model",
    "tiny_model_path",
    "tiny_tokenizer",
]
