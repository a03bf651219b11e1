"""Memory modes (memrl.env.modes): one object per ``memory_mode`` answers the base's helpers, so an
env written once runs as the agent and as every baseline it lists."""

from __future__ import annotations

import random

import pytest

from memrl.env import MemoryEnv, tool
from memrl.env.base import MEMORY_MODES
from memrl.env.modes import MODES
from memrl.errors import UserError


class Notes(MemoryEnv):
    """Facts, a cleared stage, a question; a baseline starts at the question (``begin_baseline``)."""

    supported_modes = ("agent", "none", "full_context", "retrieval", "heuristic")

    def sample_task(self, rng: random.Random) -> dict:
        return {"facts": ["Ada lives in Rome.", "Bo lives in Oslo.", "Ada lives in Paris."], "asked": "Ada"}

    def begin(self, task: dict) -> None:
        self.start_stage(("system", "s"), ("user", self.memory_hint("Store them.", otherwise="Read them.")))

    def begin_baseline(self, task: dict) -> None:
        for fact in task["facts"]:
            self.observe(fact)
        self.start_stage(("system", "s"), ("user", "Facts: " + " ".join(task["facts"])))
        self.start_stage(("system", "s"), ("user", f"{self.recall('Where does Ada live?')}Where does Ada live?"))

    def finish(self, answer: str) -> float:
        return 0.0

    @tool
    def note(self, fact: str) -> str:
        """Store a fact.

        Args:
            fact: The fact.
        """
        return self.memory.add(fact).message


def shown(mode: str) -> list[str]:
    env = Notes(memory_mode=mode)
    messages, _ = env.reset(seed=0)
    return [m["content"] for m in messages if m["role"] == "user"]


def test_every_mode_is_one_object_with_its_description():
    assert list(MODES) == list(MEMORY_MODES) == ["agent", "none", "full_context", "retrieval", "heuristic"]
    assert [m for m, mode in MODES.items() if mode.is_agent] == ["agent"]
    assert [m for m, mode in MODES.items() if mode.keeps_context] == ["full_context"]


@pytest.mark.parametrize("mode,expected", [
    ("agent", ["Store them."]),  # begin, and the hint that names the tools
    ("none", ["Where does Ada live?"]),  # the cleared stage lost the facts, nothing recalled
    ("full_context", ["Facts: Ada lives in Rome. Bo lives in Oslo. Ada lives in Paris.", "Where does Ada live?"]),
    # every observed text is indexed; the BM25 hits for the question come before it
    ("retrieval", ["Relevant memory:\n- Ada lives in Rome.\n- Ada lives in Paris.\n\nWhere does Ada live?"]),
    # Mem0's rule: the later fact on the same subject replaced the first
    ("heuristic", ["Relevant memory:\n- Ada lives in Paris.\n\nWhere does Ada live?"]),
])
def test_what_each_mode_shows(mode, expected):
    assert shown(mode) == expected


def test_baselines_hide_the_memory_tools():
    assert list(Notes().tool_specs) == ["note"]
    assert all(Notes(memory_mode=m).hidden_tools == ("note",) for m in MODES if m != "agent")


def test_a_mode_the_env_does_not_list_or_no_mode_at_all_is_one_line():
    with pytest.raises(UserError, match="does not support memory_mode 'heuristic'.*supports agent, none"):
        type("Two", (Notes,), {"supported_modes": ("agent", "none")})(memory_mode="heuristic")
    with pytest.raises(UserError, match="names 'oracle', which is no memory mode"):
        type("Odd", (Notes,), {"supported_modes": ("agent", "oracle")})(memory_mode="oracle")


def test_begin_baseline_defaults_to_begin():
    class Plain(Notes):
        begin_baseline = MemoryEnv.begin_baseline

    env = Plain(memory_mode="none")
    messages, _ = env.reset(seed=0)
    assert messages[-1]["content"] == "Read them."
