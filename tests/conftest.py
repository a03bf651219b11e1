"""Shared fixtures: the real SmolLM2 tokenizer, a tiny random model, scripted agents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Tests never reach the network: HotpotQA without a local file fails at once instead of asking the
# Hub. The data they may read is ../shared/data beside the repository (CI lays it there); tests
# that need it skip when it is absent. Set before any test imports `datasets`.
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# Tests that import bm25s themselves (to compare scores) would let it import JAX where JAX is
# installed, and JAX takes 75% of a GPU's memory per process (memrl.memory hides JAX from bm25s).
os.environ.setdefault("JAX_PLATFORMS", "cpu")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if SHARED_DATA.is_dir():
    os.environ.setdefault("MEMRL_DATA", str(SHARED_DATA))


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer): a random 2-layer Llama with SmolLM2's real tokenizer and chat template."""
    from memrl.models import tiny_model

    return tiny_model(seed=0)


@pytest.fixture(scope="session")
def tokenizer(tiny):
    return tiny[1]
