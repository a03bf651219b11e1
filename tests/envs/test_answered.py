"""Honest outcomes: in every env an episode that ends without an answer says so (``answered:
false``, score 0), one with an answer says ``answered: true``, and ``memrl eval`` counts them."""

from __future__ import annotations

import pytest

from memrl.env.registry import list_envs, make

# Small settings per env, so an episode takes a few turns; every registered env must be listed.
SETTINGS = {
    "memrl/FactRecall-v0": {},
    "memrl/AgeMem-v0": {},
    "memrl/MEM1-v0": {"n_objectives": 1},
    "memrl/MemAct-v0": {"n_objectives": 1},
    "memrl/MemAgent-v0": {"doc_tokens": 256, "chunk_tokens": 128, "memory_tokens": 32},
    "memrl/MemoryR1-Manager-v0": {},
    "memrl/MemoryR1-Answer-v0": {},
}
# A manager episode is not a question: it ends by scoring its bank, whatever it replied.
ASKS = [e for e in SETTINGS if e != "memrl/MemoryR1-Manager-v0"]


def play(env_id: str, reply) -> dict:
    env = make(env_id, **SETTINGS[env_id])
    env.reset(seed=0, options={"task": env.make_tasks("test", 1, 0)[0]})
    done = False
    while not done:
        _, _, terminated, truncated, info = env.step(reply(env))
        done = terminated or truncated
    return info["outcome"]


def expert(env) -> str:
    """The env's scripted expert; FactRecall has none, and any answer ends it."""
    return env.expert_reply() if hasattr(env, "expert_reply") else f"<answer>{env.task['answer']}</answer>"


def test_every_registered_env_is_covered():
    # Built-in envs only: memrl.integrations (FactLookup) and tests register more ids when an
    # earlier test imports them, which made this check depend on the order tests ran in (CI).
    builtin = {s.id for s in list_envs() if s.id.startswith("memrl/") and s.id != "memrl/FactLookup-v0"}
    assert builtin <= set(SETTINGS)


@pytest.mark.parametrize("env_id", ASKS)
def test_an_episode_without_an_answer_is_unanswered_with_score_zero(env_id):
    outcome = play(env_id, lambda env: "I am not sure yet.")
    assert outcome["answered"] is False and outcome["score"] == 0.0, outcome


@pytest.mark.parametrize("env_id", list(SETTINGS))
def test_an_answered_episode_says_so(env_id):
    outcome = play(env_id, expert)
    assert outcome["answered"] is True and isinstance(outcome["score"], float), outcome


def test_agemem_turn_limit_is_unanswered_though_it_is_scored():
    # AgeMem scores every end (its reward has context and memory parts): the score is R_task = 0,
    # and the outcome still says no answer was given.
    outcome = play("memrl/AgeMem-v0", lambda env: "<think>hmm</think>")
    assert outcome["answered"] is False and outcome["score"] == 0.0 and outcome["truncated"] == "turn_limit"
    assert outcome["components"]["penalty"] <= -1.0  # the turn limit's, plus the overflow's if any


def test_an_early_agemem_answer_is_a_wrong_answer_not_a_missing_one():
    outcome = play("memrl/AgeMem-v0", lambda env: "<answer>Paris</answer>")
    assert outcome["answered"] is True and outcome["score"] == 0.0 and outcome["stage"] == 1


# The window: FactRecall's and AgeMem's second context no longer fits it after a long reply;
# MemAgent's first section does not fit at all.
@pytest.mark.parametrize(("env_id", "window"), [("memrl/FactRecall-v0", 600), ("memrl/AgeMem-v0", 600), ("memrl/MemAgent-v0", 150)])
def test_an_episode_the_engine_cuts_is_unanswered(tokenizer, env_id, window):
    from memrl.rollout import RolloutEngine, RolloutLimits, ScriptedBackend

    env = make(env_id, **SETTINGS[env_id])
    task = env.make_tasks("test", 1, 0)[0]
    engine = RolloutEngine(ScriptedBackend(tokenizer, lambda prompt: "word " * 400),
                           limits=RolloutLimits(max_new_tokens=400, max_context_tokens=window))
    [traj] = engine.play([env], [(0, 0, task, 0)])
    assert traj.truncated in ("context_limit", "episode_token_limit")
    assert traj.outcome["answered"] is False and traj.outcome["score"] == 0.0


@pytest.mark.parametrize("env_id", ["memrl/AgeMem-v0", "memrl/MemAgent-v0", "memrl/MEM1-v0"])
def test_eval_counts_unanswered_episodes(tokenizer, env_id):
    from memrl.eval import evaluate
    from memrl.rollout import make_backend

    silent = make_backend("scripted", tokenizer=tokenizer, policy=lambda prompt: "I am not sure yet.")
    result = evaluate({"base": silent}, [env_id], episodes=3, baselines="none", env_kwargs=SETTINGS[env_id],
                      max_new_tokens=16)
    row = result.row("base", env_id)
    assert row["no_answer"] == 3 and row["score"] == 0.0
    assert [e["answered"] for e in row["episodes_detail"]] == [False] * 3


def test_records_trust_the_outcome_and_fall_back_to_a_score():
    from memrl.eval.metrics import episode_record
    from memrl.rollout import Trajectory

    metrics = {"peak_context_tokens": 1, "policy_tokens": 1, "turns": 1, "format_errors": 0, "truncated": None, "wall_s": 0.0}
    cases = [({"answered": False, "score": 0.0}, False), ({"score": 0.5}, True), ({}, False),
             ({"answered": True, "score": 0.25}, True)]
    for outcome, expected in cases:
        record = episode_record(Trajectory("t", 0, 0, {}, outcome=outcome, metrics=metrics), None)
        assert record["answered"] is expected and record["score"] == (outcome.get("score", 0.0) if expected else 0.0)
