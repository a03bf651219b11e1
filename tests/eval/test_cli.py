"""``memrl eval`` end to end on a tiny model, ``--compare``, and every bad input: one line, exit 2."""

from __future__ import annotations

import json
import re

import pytest

from memrl.cli.main import main
from memrl.models import tiny_model, tiny_model_path

ENV = "memrl/FactRecall-v0"
SMALL = ["--env", ENV, "--episodes", "2", "--max-new-tokens", "4", "--no-plots"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model_path(tmp_path_factory.mktemp("model"))


def lora_folder(path, **tiny_kwargs):
    """A real PEFT LoRA adapter saved as a memrl ``final/`` folder would be."""
    from peft import LoraConfig, get_peft_model

    model, _ = tiny_model(**tiny_kwargs)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    return lora_folder(tmp_path_factory.mktemp("run") / "final")


def fails(capsys, *argv):
    """Run the CLI expecting a user error; return the single error line."""
    assert main(["eval", *argv]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("memrl eval: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.slow
def test_eval_adapter_and_base_then_compare(model_dir, adapter, tmp_path, capsys):
    out = tmp_path / "eval"
    log = tmp_path / "log.jsonl"
    log.write_text("\n".join(json.dumps({"step": s, "reward": 0.1 * s}) for s in range(1, 4)) + "\n")
    argv = ["eval", "--model", str(model_dir), "--policy", f"trained={adapter}", "--policy", f"same={model_dir}", *SMALL[:-1],
            "--baselines", "none,retrieval", "--training-log", str(log), "--out", str(out)]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    assert "trained" in stdout and "retrieval" in stdout and "wrote results.json" in stdout
    data = json.loads((out / "results.json").read_text())
    assert [r["policy"] for r in data["rows"]] == ["base", "trained", "same", "none", "retrieval"]
    assert data["config"]["policies"]["trained"]["kind"] == "adapter"
    # A model folder is a policy of its own; the base model again plays exactly like the base (greedy).
    assert data["config"]["policies"]["same"]["kind"] == "model"
    assert data["rows"][2]["episodes_detail"] == [{**e, "wall_s": e2["wall_s"]} for e, e2 in zip(data["rows"][0]["episodes_detail"], data["rows"][2]["episodes_detail"])]
    assert all(r["diff_ci_low"] is not None for r in data["rows"][1:])
    for name in ("results.csv", "score.png", "context_vs_size.png", "learning_curve.png"):
        assert (out / name).stat().st_size > 0
    assert main(["eval", "--compare", str(out / "results.json"), str(out / "results.json")]) == 0
    table = capsys.readouterr().out
    assert "B − A" in table and "0.000 [0.000, 0.000]" in table  # a result against itself differs by 0


def test_adapter_is_removed_after_its_evaluation(adapter):
    from memrl.eval.policies import adapter_policy, parse_policy

    model, tok = tiny_model()
    names = sorted(n for n, _ in model.named_parameters())
    with adapter_policy(model, tok, parse_policy(f"t={adapter}"), "tiny") as (peft_model, _):
        assert any("lora_A" in n for n, _ in peft_model.named_parameters())
    assert sorted(n for n, _ in model.named_parameters()) == names


def test_missing_checkpoint_folder(tmp_path, capsys):
    line = fails(capsys, "--policy", f"trained={tmp_path}/run/final", *SMALL)
    assert "does not exist" in line and "trained" in line


def test_corrupt_safetensors(model_dir, tmp_path, capsys):
    folder = lora_folder(tmp_path / "checkpoint-3")
    weights = folder / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    line = fails(capsys, "--model", str(model_dir), "--policy", str(folder), *SMALL)
    assert "corrupt or truncated" in line and "checkpoint-3" in line


def test_pickled_adapter_is_refused_not_unpickled(tmp_path, capsys):
    folder = lora_folder(tmp_path / "final")
    (folder / "adapter_model.safetensors").rename(folder / "adapter_model.bin")
    line = fails(capsys, "--policy", str(folder), *SMALL)
    assert "adapter_model.bin (pickle)" in line


def test_adapter_for_a_different_base(model_dir, tmp_path, capsys):
    folder = lora_folder(tmp_path / "final", hidden_size=32)
    line = fails(capsys, "--model", str(model_dir), "--policy", f"other={folder}", *SMALL)
    assert "trained on a different base model" in line and "pass --model with the base" in line
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "base_model_name_or_path": "org/wider-model"}))
    line = fails(capsys, "--model", str(model_dir), "--policy", f"other={folder}", *SMALL)
    assert "(org/wider-model;" in line and line.endswith("pass --model org/wider-model")


def test_folder_that_is_no_checkpoint(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert "neither adapter_config.json" in fails(capsys, "--policy", str(tmp_path / "empty"), *SMALL)


def test_unknown_env_suggests_the_close_one(capsys):
    line = fails(capsys, "--env", "memrl/FactRecal-v0", "--episodes", "2")
    assert "Did you mean 'memrl/FactRecall-v0'" in line


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),  # no file at all
    ('{"facts": ["A lives in B."], "question": "Where?", "answer": "B"}\n{not json\n', ":2: not valid JSON"),
    ("[1, 2]\n", "must be a JSON object"),
    ("\n\n", "holds no tasks"),
    ('{"facts": ["A lives in B."], "answer": "B"}\n', "no field 'question'"),  # needed at stage 2
    ('{"facts": ["A lives in B."], "question": "Where?"}\n', "no field 'answer'"),  # needed to score
    (b"\xff\xfe\x00", "cannot read tasks file"),  # not UTF-8
])
def test_bad_tasks_file(model_dir, tmp_path, capsys, content, message):
    path = tmp_path / "tasks.jsonl"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    assert message in fails(capsys, "--model", str(model_dir), "--tasks-file", str(path), *SMALL)


@pytest.mark.parametrize("argv, message", [
    (["--env-kwargs", "{n_facts: 3}"], "--env_kwargs is not valid JSON"),
    (["--baselines", "oracle"], "has no baseline 'oracle'"),
    (["--policy", "base=somewhere/run/final"], "reserved"),
    (["--split", "dev"], "unknown split 'dev'"),
    (["--reward-plugins", '{"exact_macth": 1.0}'], "exact_macth"),
    (["--env-kwargs", '{"n_facts": 1}', "--episodes", "500"], "could only make"),  # more than the generator has
    (["--training-log", "/nonexistent/log.jsonl"], "--training-log"),
])
def test_bad_flags(model_dir, capsys, argv, message):
    assert message in fails(capsys, "--model", str(model_dir), *SMALL, *argv)


def test_policy_named_twice(adapter, capsys):
    assert "used twice" in fails(capsys, "--policy", f"a={adapter}", "--policy", f"a={adapter}", *SMALL)


def test_compare_with_a_file_that_is_no_result(tmp_path, capsys):
    bad = tmp_path / "x.json"
    bad.write_text('{"rows": 3}')
    assert "is not a memrl eval results.json" in fails(capsys, "--compare", str(bad), str(bad))
    assert "does not exist" in fails(capsys, "--compare", str(tmp_path / "a.json"), str(bad))


def test_the_command_recipes_print_parses():
    import shlex
    from types import SimpleNamespace

    from memrl.cli.main import build_parser
    from memrl.train.recipe import eval_command

    config = SimpleNamespace(env_id="memrl/AgeMem-v0", task_seed=3, output_dir="runs/x", backend="hf", max_turns=None,
                             env_kwargs={"n_facts": 6}, max_new_tokens_per_turn=96, max_context_tokens=2048,
                             max_episode_tokens=1024, reward_plugins={"exact_match": 1.0})
    line = eval_command(config, "runs/x/final", 100, "Qwen/Qwen2.5-0.5B-Instruct")
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert (args.policy, args.env_id, args.episodes, args.split, args.task_seed) == (["trained=runs/x/final"], ["memrl/AgeMem-v0"], 100, "test", 3)
    assert (args.training_log, args.out, args.model_name_or_path, json.loads(args.env_kwargs)) == ("runs/x/log.jsonl", "runs/x/eval", "Qwen/Qwen2.5-0.5B-Instruct", {"n_facts": 6})
    assert (args.max_new_tokens_per_turn, args.max_context_tokens, args.max_episode_tokens, args.max_turns) == (96, 2048, 1024, None)
    assert json.loads(args.reward_plugins) == {"exact_match": 1.0}


def test_show_prints_score_and_peak_context_by_task_size(tmp_path, capsys):
    from memrl.eval.result import FORMAT

    def ep(size, score, peak):
        return {"task_id": f"t{size}-{peak}", "size": size, "score": score, "answered": score > 0, "success": score == 1.0,
                "peak_context_tokens": peak, "turns": 2}

    episodes = [ep(1, 1.0, 300), ep(1, 0.0, 310), ep(4, 0.5, 900), ep(4, 0.5, 700)]
    row = {"env": "memrl/MEM1-v0", "policy": "trained", "size_key": "n_objectives", "episodes": 4, "score": 0.5,
           "score_ci_low": 0.0, "score_ci_high": 1.0, "success_rate": 0.25, "no_answer": 1, "episodes_detail": episodes}
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"format": FORMAT, "config": {"split": "test"}, "rows": [row]}))
    assert main(["eval", "--show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "by task size (n_objectives)" in out
    table = out[out.index("by task size"):]
    cells = [re.split(r"\s{2,}", line.strip()) for line in table.splitlines() if line.strip().startswith("trained")]
    lines = {c[1]: c for c in cells}
    # policy, size, episodes, score, success, no answer, peak max, peak mean, turns
    assert lines["1"][2:] == ["2", "0.500 [0.000, 1.000]", "0.500", "1", "310", "305", "2.00"]
    assert lines["4"][2:] == ["2", "0.500 [0.500, 0.500]", "0.000", "0", "900", "800", "2.00"]
    assert "does not exist" in fails(capsys, "--show", str(tmp_path / "none.json"))
