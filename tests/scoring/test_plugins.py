"""Plugins in TRL's shape plus the episode: the README's plugins on conversational input,
parameters and factories, signature checks when the set is built, entry-point descriptions, and
the batch memrl builds from trajectories."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from memrl.errors import UserError
from memrl.rollout.segments import Segment, Trajectory
from memrl.scoring import EPISODE_FIELDS, RewardError, RewardSet, episode_batch, list_rewards, reward, score_trajectories
from memrl.scoring import registry as reg

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture(autouse=True)
def clean_registry():
    """Each test registers into a copy of the registry, so test plugins never leak out."""
    reg._load_builtins()
    saved = dict(reg._REGISTRY)
    yield
    reg._REGISTRY.clear()
    reg._REGISTRY.update(saved)


def readme_plugins() -> types.ModuleType:
    """The README's plugin module, exactly as printed there, importable as ``readme_rewards``."""
    section = README.read_text(encoding="utf-8").split("## Writing a reward plugin", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL).group(1)
    module = types.ModuleType("readme_rewards")
    sys.modules["readme_rewards"] = module
    exec(compile(code, "README.md", "exec"), module.__dict__)
    return module


def episode(final: str, memory: int, **task) -> Trajectory:
    """A finished episode as the engine leaves it (no model needed)."""
    t = Trajectory(task_id=task.get("id", "t"), group=0, sample=0, task=dict(task),
                   segments=[Segment([1, 2], [7, 8, 9], [1, 1, 1], [-0.1] * 3)], env_reward=0.5,
                   outcome={"score": 1.0, "answered": True}, metrics={"memory_ops": {"add": memory}})
    t.final_text, t.final_ids = final, [7, 8, 9]
    t.final_prompt = [{"role": "system", "content": "Remember facts."}, {"role": "user", "content": "Where does Ana live?"}]
    t.final_memory = [{"id": str(i), "content": f"fact {i}", "metadata": {}} for i in range(memory)]
    return t


# -- the README's plugins ----------------------------------------------------------------------------
def test_readme_plugins_score_conversational_episodes_with_parameters():
    readme_plugins()
    trajs = [episode("<answer>Lisbon</answer>", 3, city="Lisbon"), episode("<answer>Porto</answer>", 12, city="Lisbon")]
    rs = RewardSet({"mentions_city": 1.0, "readme_rewards:memory_budget": {"weight": 0.5, "limit": 10}})
    out = score_trajectories(trajs, rs)
    assert out.components == {"mentions_city": [1.0, 0.0], "memory_budget": [-0.0, -2.0]}
    assert [t.reward for t in trajs] == [1.0, -1.0]
    assert trajs[1].rewards == {"mentions_city": 0.0, "memory_budget": -2.0}


def test_readme_plugins_are_listed_with_their_decorator_descriptions():
    readme_plugins()
    listed = dict(list_rewards())
    assert listed["mentions_city"] == "1 if the final answer names the task's city"


def test_readme_plugins_run_in_trls_grpo_trainer_unchanged():
    """TRL's own ``GRPOTrainer._calculate_rewards`` calls them: no memrl fields, so memory_budget
    says "not applicable" (NaN in TRL) and mentions_city reads the conversational completion."""
    torch = pytest.importorskip("torch")
    from trl import GRPOTrainer

    module = readme_plugins()
    funcs = [module.mentions_city, module.memory_budget]
    trainer = types.SimpleNamespace(
        accelerator=types.SimpleNamespace(device="cpu", is_main_process=True), args=types.SimpleNamespace(report_to=[]),
        state=types.SimpleNamespace(global_step=0), reward_funcs=funcs, reward_processing_classes=[None, None],
        reward_func_names=[f.__name__ for f in funcs], environments=None,
        _log_completion_extra=lambda *a, **k: None, _log_metric=lambda *a, **k: None,
    )
    inputs = [{"prompt": [{"role": "user", "content": "Where?"}], "city": "Lisbon"},
              {"prompt": [{"role": "user", "content": "Where?"}], "city": "Oslo"}]
    completions = [[{"role": "assistant", "content": "In Lisbon."}], [{"role": "assistant", "content": "Bergen"}]]
    rewards = GRPOTrainer._calculate_rewards(trainer, inputs, [r["prompt"] for r in inputs], completions, [[1], [2]])
    nan = float("nan")
    assert torch.allclose(rewards, torch.tensor([[1.0, nan], [0.0, nan]]), equal_nan=True)


# -- the batch a plugin sees -------------------------------------------------------------------------
def test_a_plugin_sees_trls_batch_and_the_episode():
    seen = {}

    def spy(prompts, completions, completion_ids, trajectory, turns, outcome, env_reward, final_memory, memory_ops, **kwargs):
        seen.update(prompts=prompts, completions=completions, ids=completion_ids, traj=trajectory, turns=turns,
                    outcome=outcome, env=env_reward, memory=final_memory, ops=memory_ops, columns=kwargs)
        return [0.0] * len(completions)

    trajs = [episode("<answer>Lisbon</answer>", 2, id="a", city="Lisbon"), episode("x", 0, id="b", size=3)]
    score_trajectories(trajs, RewardSet([spy]), trainer_state="state")
    assert seen["prompts"][0][-1] == {"role": "user", "content": "Where does Ana live?"}
    assert seen["completions"] == [[{"role": "assistant", "content": "<answer>Lisbon</answer>"}], [{"role": "assistant", "content": "x"}]]
    assert seen["ids"] == [[7, 8, 9], [7, 8, 9]] and seen["traj"] == trajs and seen["turns"] == [[], []]
    assert seen["outcome"][0]["score"] == 1.0 and seen["env"] == [0.5, 0.5]
    assert [len(m) for m in seen["memory"]] == [2, 0] and seen["ops"] == [{"add": 2}, {"add": 0}]
    columns = seen["columns"]
    assert columns["id"] == ["a", "b"] and columns["city"] == ["Lisbon", None] and columns["size"] == [None, 3]  # a union
    assert columns["trainer_state"] == "state" and callable(columns["log_metric"]) and callable(columns["log_extra"])


def test_the_episodes_fields_win_over_task_columns_of_the_same_name():
    _, fields = episode_batch([episode("x", 1, outcome="a column")])
    assert fields["outcome"] == [{"score": 1.0, "answered": True}]
    assert set(EPISODE_FIELDS) <= set(fields)


def test_without_plugins_the_episode_keeps_the_envs_reward():
    trajs = [episode("x", 0)]
    assert score_trajectories(trajs, None) is None and trajs[0].reward == 0.5


def test_builtins_score_an_episode_batch():
    trajs = [episode("<answer>Lisbon</answer>", 0, answer="Lisbon"), episode("<answer>Rome</answer>", 0, answer="Paris")]
    out = score_trajectories(trajs, RewardSet({"exact_match": 1.0, "format_compliance": 0.0}))
    assert out.components == {"exact_match": [1.0, 0.0], "format_compliance": [1.0, 1.0]}


# -- parameters and factories -----------------------------------------------------------------------
def limited(completions, limit=3, scale=1.0, **kwargs):
    """Length over a limit."""
    return [scale * max(0, len(c[-1]["content"]) - limit) for c in completions]


@reward(factory=True)
def threshold(cut: float):
    """Made per cut: 1 above it."""

    def above(completions, env_reward, **kwargs):
        return [float(r > cut) for r in env_reward]

    return above


class Keyword:
    """A class is a factory: built with the parameters, called per batch."""

    def __init__(self, word="memory"):
        self.word = word

    def __call__(self, prompts, completions, **kwargs):
        return [float(self.word in c[-1]["content"]) for c in completions]


CONVO = [[{"role": "assistant", "content": "memory!"}], [{"role": "assistant", "content": "no"}]]


@pytest.mark.parametrize(
    "specs, names, weights, values",
    [
        ({limited: 0.5}, ["limited"], [0.5], [4.0, 0.0]),  # the plain {name: weight} form
        ({limited: {"weight": 2, "limit": 1, "scale": 0.5}}, ["limited"], [2.0], [3.0, 0.5]),  # weight + parameters
        ({limited: {"limit": 0}}, ["limited"], [1.0], [7.0, 2.0]),  # the weight defaults to 1
        ({"threshold": {"cut": 0.4}}, ["threshold"], [1.0], [1.0, 0.0]),  # a registered factory function
        ({Keyword: {"word": "no"}}, ["Keyword"], [1.0], [0.0, 1.0]),  # a class
        ({Keyword: 1.0}, ["Keyword"], [1.0], [1.0, 0.0]),  # a class with its defaults
    ],
)
def test_parameterised_plugins_and_factories(specs, names, weights, values):
    rs = RewardSet(specs)
    assert rs.names == names and rs.weights == weights
    (component,) = rs(CONVO, prompts=[[], []], env_reward=[0.5, 0.1]).components.values()
    assert component == values


def test_the_set_shows_its_parameters():
    assert repr(RewardSet({limited: {"weight": 2, "limit": 1}, "exact_match": 1})) == \
        "RewardSet({'limited': {'weight': 2.0, 'limit': 1}, 'exact_match': 1.0})"


def test_a_parameterised_plugin_by_path_from_json_as_the_cli_gives_it():
    import json

    rs = RewardSet(json.loads('{"tests.scoring.test_plugins:limited": {"weight": 0.5, "limit": 10}}'))
    assert rs.names == ["limited"] and rs.params == [{"limit": 10}]


# -- signature checks when the set is built ----------------------------------------------------------
def no_kwargs(completions, answer):
    return [0.0] * len(completions)


def positional(completions, /, **kwargs):
    return [0.0] * len(completions)


def needs_gold(completions, gold, **kwargs):
    return [0.0] * len(completions)


@reward(factory=True)
def broken_factory(limit=1):
    raise RuntimeError("model not found\nmore")


@pytest.mark.parametrize(
    "specs, needle",
    [
        ({no_kwargs: 1}, "reward 'no_kwargs' does not take **kwargs"),  # TRL passes more: always fails
        ({positional: 1}, "reward 'positional' has positional-only parameter 'completions'"),  # called by keyword
        ({limited: {"limt": 5}}, "reward 'limited' has no parameter 'limt'; did you mean 'limit'? (its parameters: limit, scale)"),
        ({"exact_match": {"threshold": 0.5}}, "reward 'exact_match' has no parameter 'threshold'"),  # **kwargs is not a parameter
        ({limited: {"outcome": 1}}, "reward 'limited' has no parameter 'outcome'"),  # not in the signature
        ({needs_gold: {"weight": 1, "prompts": 1}}, "has no parameter 'prompts'"),  # a batch field is not a parameter
        ({"threshold": 1.0}, "reward 'threshold' cannot be made with parameters {}: missing a required argument: 'cut'"),
        ({"threshold": {"cut": 1, "cutt": 2}}, "got an unexpected keyword argument 'cutt'"),  # the factory's own check
        ({Keyword: {"wrd": "x"}}, "reward 'Keyword' cannot be made with parameters {'wrd': 'x'}"),
        ({broken_factory: 1}, "reward 'broken_factory': its factory raised RuntimeError: model not found"),
        ({limited: {"weight": "1"}}, "reward weight for"),  # a bad weight in the mapping form
        ({limited: {"weight": 1, "bad name": 1}}, "parameter name 'bad name' is not a Python identifier"),
    ],
)
def test_signature_problems_are_one_line_errors_at_build_time(specs, needle):
    with pytest.raises(UserError) as e:
        RewardSet(specs)
    assert needle in str(e.value) and "\n" not in str(e.value)


def shadow(completions, answer="x", **kwargs):
    return [0.0] * len(completions)


@pytest.mark.parametrize(
    "specs, columns, needle",
    [
        ({needs_gold: 1}, ["id", "answer"], "reward 'needs_gold' needs 'gold': not a task column (columns: answer, id)"),
        ({"exact_match": 1}, ["id"], "reward 'exact_match' needs 'answer'"),  # a built-in on tasks without the gold
        ({shadow: {"answer": "y"}}, ["answer"], "parameter 'answer' is also a task column"),  # one would hide the other
    ],
)
def test_missing_and_shadowed_columns_fail_before_any_episode(specs, columns, needle):
    rs = RewardSet(specs)
    with pytest.raises(RewardError) as e:
        rs.check_fields(columns)
    assert needle in str(e.value) and "\n" not in str(e.value)


def test_fields_memrl_always_passes_need_no_column():
    def memory_plugin(completions, final_memory, outcome, trajectory, completion_ids, prompts, **kwargs):
        return [0.0] * len(completions)

    RewardSet([memory_plugin, needs_gold]).check_fields({"gold": "x"})  # a task (a mapping) works too


# -- entry points --------------------------------------------------------------------------------------
def test_an_entry_points_decorator_description_is_listed(monkeypatch):
    def scored(completions, **kwargs):
        """The docstring's line, which the decorator overrides."""
        return [1.0] * len(completions)

    def load():  # importing the plugin's module runs its decorator, under its own name
        return reward("their_name", description="From the decorator")(scored)

    ep = types.SimpleNamespace(name="third_party", value="pkg.mod:scored", load=load)
    monkeypatch.setattr(reg.importlib.metadata, "entry_points", lambda group: [ep] if group == "memrl.rewards" else [])
    listed = dict(list_rewards())
    assert listed["third_party"] == "From the decorator"
    assert dict(list_rewards())["third_party"] == "From the decorator"  # the same once loaded
    assert RewardSet({"third_party": 1.0}).names == ["third_party"]


def test_an_entry_point_factory_is_made_with_its_parameters(monkeypatch):
    ep = types.SimpleNamespace(name="cut_at", value="pkg.mod:threshold", load=lambda: threshold)
    monkeypatch.setattr(reg.importlib.metadata, "entry_points", lambda group: [ep] if group == "memrl.rewards" else [])
    rs = RewardSet({"cut_at": {"weight": 2, "cut": 0.0}})
    assert rs(CONVO, env_reward=[1.0, -1.0]).total == [2.0, 0.0]
