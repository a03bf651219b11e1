"""Every registered env documents itself in Gymnasium's template (memrl.env.checker.DOCSTRING_SECTIONS)."""

from __future__ import annotations

import pytest

import memrl.integrations.lookup  # noqa: F401  (registers memrl/FactLookup-v0)
from memrl.env.checker import check_docstring
from memrl.env.registry import list_envs, make


@pytest.mark.parametrize("env_id", [s.id for s in list_envs()])
def test_every_registered_env_follows_the_docstring_template(env_id):
    env = make(env_id)
    try:
        check_docstring(type(env))
    finally:
        env.close()


def test_a_missing_or_misplaced_section_is_named():
    class NoHistory:
        """An env.

        Description:
            x
        Memory tools:
            x
        Observation:
            x
        Rewards:
            x
        Episode end:
            x
        Arguments:
            x
        """

    with pytest.raises(AssertionError, match="lacks the section.s. Version history"):
        check_docstring(NoHistory)

    class Shuffled:
        """Rewards:\n Description:\n Memory tools:\n Observation:\n Episode end:\n Arguments:\n Version history:\n"""

    with pytest.raises(AssertionError, match="out of order: Rewards, Description, Memory tools"):
        check_docstring(Shuffled)
