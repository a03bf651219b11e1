"""Shared fixtures: the real SmolLM2 tokenizer, a tiny random model, scripted agents."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny():
    """(model, tokenizer): a random 2-layer Llama with SmolLM2's real tokenizer and chat template."""
    from memrl.models import tiny_model

    return tiny_model(seed=0)


@pytest.fixture(scope="session")
def tokenizer(tiny):
    return tiny[1]
