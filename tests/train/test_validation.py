"""--eval_every: held-out tasks played greedily at step 0, every K steps and after the last step,
logged as phase 'eval' rows and drawn as the held-out panel; bad values fail in one line before
a model loads."""

from __future__ import annotations

import json

import pytest
import torch

from memrl.errors import UserError
from memrl.eval.plots import learning_curve_figure, read_training_log
from memrl.train import MemRLConfig
from memrl.train.recipe import run_recipe
from memrl.train.validation import held_out_tasks
from tests.train.test_learning import toy_trainer

EVAL_KEYS = {"eval/score", "eval/score_ci_low", "eval/score_ci_high", "eval/episodes", "eval/format_error_rate",
             "eval/answered_rate", "eval/reward", "eval/metric", "eval/split", "eval/model", "eval/memory/ops/add",
             "eval/truncated/turn_limit"}


def rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_two_steps_with_eval_every_1_log_steps_0_1_2_and_leave_training_as_it_was(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=2, tasks=32, eval_every=1, eval_tasks=2, eval_split="test",
                             per_device_eval_batch_size=1)
    backend = trainer.engine.backend
    cleared = []
    clear = backend.clear_cache
    backend.clear_cache = lambda: (cleared.append(1), clear())[1]
    trainer.train()
    logged = rows(tmp_path / "log.jsonl")
    evals = [r for r in logged if r.get("phase") == "eval"]
    assert [r["step"] for r in evals] == [0, 1, 2]
    assert all(EVAL_KEYS <= set(r) for r in evals)
    assert all(r["eval/episodes"] == 2 and 0 <= r["eval/score_ci_low"] <= r["eval/score"] <= r["eval/score_ci_high"] <= 1
               for r in evals)
    assert len({frozenset(r) for r in evals}) == 1  # the same keys on every evaluation
    # The training rows are untouched: no eval key leaks into them, and there are still two.
    train_rows = [r for r in logged if "reward" in r]
    assert len(train_rows) == 2 and not any(k.startswith("eval/") for r in train_rows for k in r)
    assert trainer.model.training  # back in train mode after the last evaluation
    assert cleared  # the backend's prefix cache was dropped after evaluating
    # memrl eval --training-log draws them: the RL panel, then the held-out one.
    fig = learning_curve_figure(read_training_log(tmp_path / "log.jsonl"))
    assert "held-out score · N = 2 test tasks" in fig.axes[1].get_title()
    assert list(fig.axes[1].get_lines()[0].get_xdata()) == [0, 1, 2]


def test_the_evaluation_plays_the_current_lora_weights(tmp_path):
    trainer, _ = toy_trainer(tmp_path, steps=1, tasks=16, eval_every=1, eval_tasks=4)
    [callback] = [c for c in trainer.callback_handler.callbacks if type(c).__name__ == "HeldOutEval"]
    state = trainer.state
    rng = torch.get_rng_state()
    before = callback.evaluate(state)
    assert torch.equal(torch.get_rng_state(), rng)  # greedy: training's random stream is not reset
    for name, p in trainer.model.named_parameters():
        if "lora_B" in name:
            p.data.normal_(0, 5.0)  # a different adapter, in place: nothing saved or reloaded
    trainer.engine.backend.clear_cache()
    after = callback.evaluate(state)
    assert (before["eval/score"], before["eval/reward"]) != (after["eval/score"], after["eval/reward"]) or \
        before["eval/format_error_rate"] != after["eval/format_error_rate"]


@pytest.mark.parametrize("overrides, message", [
    ({"eval_every": -1}, "eval_every (-1) must be >= 0"),  # K < 0
    ({"eval_every": 1, "eval_tasks": 0}, "eval_tasks (0) must be at least 1"),
    ({"eval_every": 1, "eval_split": "dev"}, "eval_split ('dev') must be one of train, validation, test"),
    ({"eval_every": 1, "eval_tasks": 4}, "eval_tasks (4): memrl/FactRecall-v0 has only 3 validation tasks; lower --eval_tasks to 3"),
    ({"eval_every": 1, "eval_tasks": 5}, "eval_tasks (5): memrl/FactRecall-v0 cannot make 5 validation tasks (could only make 3 of 5"),
])
def test_bad_values_are_one_line_before_a_model_loads(tmp_path, overrides, message):
    config = MemRLConfig(output_dir=str(tmp_path), report_to=[], **overrides)
    with pytest.raises(UserError) as info:
        held_out_tasks(config, FixedTasks)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


class FixedTasks:
    """An env whose split holds 3 tasks: a data file returns what it has (4 asked), a generator
    raises when it cannot make more distinct ones (5 asked)."""

    def make_tasks(self, split, n, seed):
        if n == 5:
            raise ValueError("could only make 3 of 5 distinct validation tasks; loosen the generator")
        return [{"id": f"t{i}"} for i in range(min(n, 3))]

    def close(self):
        pass


def test_a_recipe_refuses_a_bad_value_before_loading_the_model(tmp_path, capsys, monkeypatch):
    import memrl.models

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(memrl.models, "load_model_and_tokenizer", no_model)
    code = run_recipe("recipes/x.py", {"output_dir": str(tmp_path / "run"), "report_to": []}, ["--eval_every", "-2"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err == "recipes/x.py: error: eval_every (-2) must be >= 0 (0 = no held-out evaluation; K = every K steps)"
