"""memrl: RL post-training that teaches LLM agents to manage their own memory."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["make", "register", "registry", "spec", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: `import memrl.memory` (or a reward plugin) should not pay for the env stack.
    if name in ("make", "register", "registry", "spec"):
        from memrl.env import registry as _registry

        return getattr(_registry, name)
    raise AttributeError(f"module 'memrl' has no attribute {name!r}")
