"""``memrl rollout`` end to end on a tiny model: env settings, a LoRA adapter, bad input in one line."""

from __future__ import annotations

import pytest

from memrl.cli.main import main
from memrl.models import tiny_model_path
from memrl.rollout import load_trajectories
from tests.eval.test_cli import lora_folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_path(tmp_path_factory.mktemp("model"))


def rollout(model_dir, out, *extra):
    argv = ["rollout", "--model", str(model_dir), "--env", "memrl/FactRecall-v0", "--tasks", "2", "--group-size", "1",
            "--max-new-tokens", "6", "--temperature", "0", "--out", str(out), *extra]
    assert main(argv) == 0
    return load_trajectories(out)


def replies(trajectories):
    return [[seg.completion_ids for seg in t.segments] for t in trajectories]


def test_env_kwargs_and_adapter_reach_the_episodes(model_dir, tmp_path):
    base = rollout(model_dir, tmp_path / "base.jsonl", "--env-kwargs", '{"n_facts": 3}')
    assert [len(t.task["facts"]) for t in base] == [3, 3]
    adapter = lora_folder(tmp_path / "final")
    tuned = rollout(model_dir, tmp_path / "tuned.jsonl", "--env-kwargs", '{"n_facts": 3}', "--adapter", str(adapter))
    assert [t.task for t in tuned] == [t.task for t in base]  # same tasks, greedy: only the adapter differs
    assert replies(tuned) != replies(base)


@pytest.mark.parametrize("extra, error", [
    (["--env-kwargs", "[3]"], "must be a JSON object"),
    (["--env-kwargs", '{"n_fatcs": 3}'], "no setting 'n_fatcs'"),
    (["--adapter", "MODEL"], "is a model, not a LoRA adapter"),
    (["--adapter", "missing/final"], "does not exist"),
])
def test_bad_input_is_one_line_exit_2(model_dir, tmp_path, capsys, extra, error):
    extra = [str(model_dir) if x == "MODEL" else x for x in extra]
    assert main(["rollout", "--model", str(model_dir), "--out", str(tmp_path / "x.jsonl"), *extra]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith("memrl rollout: error: ") and error in err[0], err
    assert not (tmp_path / "x.jsonl").exists()
