"""Trajectories to JSONL and back, `memrl inspect`, and the backends' one-line errors."""

from __future__ import annotations

import importlib.util
import json

import pytest

from memrl.cli.main import main
from memrl.env.registry import make
from memrl.errors import UserError
from memrl.rollout import RolloutEngine, ScriptedBackend, load_trajectories, make_backend, save_trajectories
from tests.rollout.test_engine import fact_policy


@pytest.fixture()
def saved(tokenizer, tmp_path):
    trajs = RolloutEngine(ScriptedBackend(tokenizer, fact_policy)).rollout(
        lambda: make("memrl/FactRecall-v0"), make("memrl/FactRecall-v0").make_tasks("test", 2), group_size=2)
    path = save_trajectories(tmp_path / "r.jsonl", trajs)
    return path, trajs


def test_jsonl_round_trip(saved):
    path, trajs = saved
    back = load_trajectories(path)
    assert [t.to_dict() for t in back] == [json.loads(json.dumps(t.to_dict())) for t in trajs]
    assert back[0].segments[1].prompt_ids == trajs[0].segments[1].prompt_ids


def test_saved_file_gets_the_users_normal_permissions(saved):
    import os

    path, _ = saved
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_bad_jsonl_is_one_line_naming_the_line(tmp_path):
    p = tmp_path / "bad.jsonl"
    p.write_text('{"task_id": "x"}\nnot json\n')
    with pytest.raises(UserError, match=r"bad.jsonl:1: not a memrl trajectory"):
        load_trajectories(p)


def test_inspect_shows_policy_env_segments_and_memory(saved, capsys):
    path, trajs = saved
    assert main(["inspect", str(path), "--episode", "1"]) == 0
    out = capsys.readouterr().out
    assert "policy · turn 1" in out and "segment 1 (context rewritten)" in out
    assert trajs[1].task["facts"][0] in out  # the facts, as env text and in the memory table
    assert "memory" in out and "m1" in out


def test_inspect_html_and_bad_input(saved, tmp_path, capsys):
    path, _ = saved
    html = tmp_path / "e.html"
    assert main(["inspect", str(path), "--html", str(html)]) == 0
    page = html.read_text()
    assert page.count("class=policy") >= 3 and "class=seg" in page and "&lt;tool_call&gt;" in page
    assert main(["inspect", str(tmp_path / "missing.jsonl")]) == 2
    assert main(["inspect", str(path), "--episode", "99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "no trajectory file" in err[0] and "out of range" in err[1]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_vllm_without_vllm_is_one_clear_line(tokenizer):
    with pytest.raises(UserError, match=r"pip install 'memrl\[vllm\]'") as e:
        make_backend("vllm", model=None, tokenizer=tokenizer)
    assert "\n" not in str(e.value)


def test_unknown_backend_suggests(tokenizer):
    with pytest.raises(UserError, match="Did you mean 'vllm'"):
        make_backend("vlm", tokenizer=tokenizer)


def test_cli_lists_envs_and_rewards(capsys):
    assert main(["envs"]) == 0 and "memrl/FactRecall-v0" in capsys.readouterr().out
    assert main(["rewards"]) == 0 and "multi_answer_em" in capsys.readouterr().out
