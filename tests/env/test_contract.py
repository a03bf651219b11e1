"""The environment contract, run over every registered environment."""

import pytest

from memrl.env.checker import check_env
from memrl.env.registry import list_envs, make

ENV_IDS = [s.id for s in list_envs()]


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_registered_env_passes_the_contract(env_id):
    check_env(make(env_id))


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_seeded_task_generation_is_deterministic_and_splits_are_disjoint(env_id):
    env = make(env_id)
    try:
        train = env.make_tasks("train", 30, seed=0)
    except NotImplementedError:
        pytest.skip(f"{env_id} has no task generator")
    assert train == env.make_tasks("train", 30, seed=0)
    test = env.make_tasks("test", 30, seed=0)
    content = lambda t: repr({k: v for k, v in t.items() if k not in ("id", "split")})  # noqa: E731
    assert not {content(t) for t in train} & {content(t) for t in test}
    assert len({t["id"] for t in train + test}) == 60


def test_checker_catches_a_broken_env():
    env = make("memrl/FactRecall-v0")
    env.step = lambda text: ([], 0, False, False, {})  # wrong types everywhere
    with pytest.raises(AssertionError, match="step"):
        check_env(env)


def test_checker_catches_a_tool_that_raises_on_a_call_its_schema_allows():
    from tests.env.test_contain import Fragile

    with pytest.raises(AssertionError, match=r"tool Divide\(\{'n': 0\}\) raised on a call its schema allows: Tool error \(env_error\)"):
        check_env(Fragile())
