"""Environments are made by versioned id; unknown ids get one line with a suggestion."""

import pytest

import memrl
from memrl.env.registry import list_envs, make, register, registry, spec
from memrl.errors import UserError


def test_builtin_reference_env_is_registered_and_made_by_id():
    env = make("memrl/FactRecall-v0", n_facts=3)
    assert env.spec.id == "memrl/FactRecall-v0" and env.n_facts == 3
    assert "memrl/FactRecall-v0" in {s.id for s in list_envs()}
    assert memrl.make is make


@pytest.mark.parametrize(
    "bad, suggestion",
    [
        ("memrl/FactRecal-v0", "memrl/FactRecall-v0"),  # a typo gets the closest id
        ("memrl/FactRecall-v9", "memrl/FactRecall-v0"),  # a wrong version too
        ("zzz", None),  # nothing close: no suggestion, still one line
    ],
)
def test_unknown_id_is_one_line_with_did_you_mean(bad, suggestion):
    with pytest.raises(UserError) as e:
        spec(bad)
    msg = str(e.value)
    assert "\n" not in msg and bad in msg and "memrl envs" in msg
    assert (suggestion in msg) if suggestion else ("Did you mean" not in msg)


@pytest.mark.parametrize(
    "env_id, error",
    [
        ("memrl/NoVersion", "not versioned"),  # ids must carry -vN
        ("memrl/FactRecall-v0", "already registered"),  # ids are unique
    ],
)
def test_register_rejects_bad_ids(env_id, error):
    with pytest.raises(UserError, match=error):
        register(env_id, "memrl.envs.factrecall:FactRecallEnv")


def test_register_a_user_env_by_callable():
    from memrl.envs.factrecall import FactRecallEnv

    try:
        register("me/Mine-v0", lambda **kw: FactRecallEnv(n_facts=2, **kw), description="mine")
        assert make("me/Mine-v0").n_facts == 2
    finally:
        registry.pop("me/Mine-v0", None)


@pytest.mark.parametrize("env_id", ["memrl/FactRecall-v0", "memrl/MemAgent-v0"])
@pytest.mark.parametrize("memory", ["inprocess", "sqlite", "dense"])
def test_a_misspelt_setting_is_one_line_when_the_env_is_made(env_id, memory):
    # Envs pass the settings they do not name on to their memory store, which is built at reset:
    # a typo must fail here, not after a model has loaded and an episode has started.
    with pytest.raises(UserError) as e:
        make(env_id, memory=memory, n_fatcs=3)
    msg = str(e.value)
    assert "\n" not in msg and "'n_fatcs'" in msg and "env-kwargs" in msg


def test_store_settings_still_reach_the_store(tmp_path):
    env = make("memrl/FactRecall-v0", memory="sqlite", path=str(tmp_path / "m.db"), namespace="a")
    env.reset(seed=0)
    assert (tmp_path / "m.db").is_file()
    assert make("memrl/FactRecall-v0", k1=1.2).reset(seed=0)  # a BM25 setting of the in-process store

