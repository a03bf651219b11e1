"""memrl's trainers override private methods of TRL's GRPOTrainer (and transformers' Trainer).
Private methods change without notice, so TRL is pinned to the tested minor version and this test
fails loudly, naming the installed TRL, when an overridden method's signature moves or it goes."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest
import transformers
import trl
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from memrl.train.grpo import MemoryGRPOTrainer
from memrl.train.ppo import MemoryPPOTrainer

ROOT = Path(__file__).resolve().parents[2]
# The base signatures memrl was written against (TRL 1.16, transformers 5): parameter names in order.
TESTED = {
    "_generate_and_score_completions": ["self", "inputs"],
    "_get_per_token_logps_and_entropies": [
        "self", "model", "input_ids", "attention_mask", "logits_to_keep", "batch_size", "compute_entropy",
        "compute_aux_loss", "pixel_values", "image_grid_thw", "num_images", "pixel_attention_mask", "spatial_shapes",
        "num_tiles", "image_sizes", "token_type_ids", "mm_token_type_ids", "image_position_ids"],
    "_save_checkpoint": ["self", "model", "trial"],
    "_compute_loss": ["self", "model", "inputs"],
    "_load_from_checkpoint": ["self", "resume_from_checkpoint", "model"],
}
VERSIONS = f"TRL {trl.__version__}, transformers {transformers.__version__}"


def overrides(cls: type) -> dict[str, type]:
    """Private (single-underscore) methods ``cls`` defines that a TRL/transformers base also defines."""
    found = {}
    for name, member in vars(cls).items():
        if not callable(member) or not name.startswith("_") or name.startswith("__"):
            continue
        base = next((b for b in cls.__mro__[1:] if name in vars(b) and not b.__module__.startswith("memrl")), None)
        if base is not None:
            found[name] = base
    return found


@pytest.mark.parametrize("cls", [MemoryGRPOTrainer, MemoryPPOTrainer])
def test_overridden_private_methods_keep_their_signature(cls):
    for name, base in overrides(cls).items():
        assert name in TESTED, (f"{cls.__name__}.{name} overrides {base.__module__}.{base.__name__}.{name}; "
                                f"record its base signature in TESTED ({VERSIONS})")
        got = list(inspect.signature(vars(base)[name]).parameters)
        assert got == TESTED[name], (f"{VERSIONS}: {base.__name__}.{name} now takes {got}, memrl was written for "
                                     f"{TESTED[name]}; update {cls.__name__}.{name} before widening the trl pin")


def test_every_recorded_override_still_exists_in_trl():
    """A private method TRL renamed or removed would leave memrl's override silently dead."""
    bases = {name for cls in (MemoryGRPOTrainer, MemoryPPOTrainer) for name in overrides(cls)}
    missing = sorted(set(TESTED) - bases)
    assert not missing, f"{VERSIONS}: no longer has {missing}, which memrl overrides; the override never runs"


def test_installed_trl_is_inside_the_pin():
    text = (ROOT / "pyproject.toml").read_text()
    pin = re.search(r'"trl([^"]*)"', text)[1]
    assert Version(trl.__version__) in SpecifierSet(pin), f"TRL {trl.__version__} is outside pyproject's trl{pin}"
    assert SpecifierSet(pin).contains("1.16.0") and not SpecifierSet(pin).contains("1.17.0"), f"trl{pin}: pin the tested minor"
