"""The HotpotQA loader: local JSON / JSONL (and the original layout) through datasets, the Hub when
no folder is named, one-line errors; every HotpotQA-backed env runs from a local file, offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memrl.data import hotpotqa
from memrl.data.hotpotqa import LOCAL_FILES, hotpotqa_file, hub_layout, load_hotpotqa
from memrl.env.registry import make
from memrl.errors import UserError


def rows(n: int = 40) -> list[dict]:
    """Made-up items in the Hub's layout: 2 gold + 3 distractor paragraphs per question."""
    out = []
    for i in range(n):
        titles = [f"Gold{i}a", f"Gold{i}b", f"Other{i}x", f"Other{i}y", f"Other{i}z"]
        sentences = [[f"{t} is a made-up place number {i}.", f" It holds fact {t.lower()}."] for t in titles]
        out.append({"id": f"q{i}", "question": f"Which fact links Gold{i}a and Gold{i}b?", "answer": f"answer{i}",
                    "supporting_facts": {"title": titles[:2], "sent_id": [0, 1]},
                    "context": {"title": titles, "sentences": sentences}})
    return out


def original(row: dict) -> dict:
    """The same item in the original release's layout (_id, lists of pairs)."""
    ctx, sup = row["context"], row["supporting_facts"]
    return {"_id": row["id"], "question": row["question"], "answer": row["answer"],
            "supporting_facts": [[t, i] for t, i in zip(sup["title"], sup["sent_id"])],
            "context": [[t, s] for t, s in zip(ctx["title"], ctx["sentences"])]}


def write(folder: Path, name: str, items: list[dict], jsonl: bool = False) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(json.dumps(r) for r in items) if jsonl else json.dumps(items))
    return path


def test_json_jsonl_and_the_original_layout_give_the_same_rows(tmp_path):
    items = rows(12)
    as_json = load_hotpotqa(path=write(tmp_path, "a.json", items))
    as_jsonl = load_hotpotqa(path=write(tmp_path, "b.jsonl", items, jsonl=True))
    as_original = load_hotpotqa(path=write(tmp_path, "c.json", [original(r) for r in items]))
    assert list(as_json) == list(as_jsonl) == list(as_original) == items
    assert hub_layout(items[0]) is items[0]  # rows already in the Hub's layout pass through


def test_the_data_folder_is_searched_for_the_known_files(tmp_path, monkeypatch):
    write(tmp_path, LOCAL_FILES[-1], rows(3))
    assert hotpotqa_file(tmp_path) == tmp_path / LOCAL_FILES[-1]
    write(tmp_path, LOCAL_FILES[0], rows(5), jsonl=True)  # the downloaded file wins over the copy of 100
    assert len(load_hotpotqa(tmp_path)) == 5
    monkeypatch.setenv("MEMRL_DATA", str(tmp_path))
    assert len(load_hotpotqa()) == 5


def test_a_named_folder_without_data_is_one_line_and_never_asks_the_hub(tmp_path, monkeypatch):
    monkeypatch.setattr(hotpotqa, "_hub_rows", lambda: pytest.fail("asked the Hub"))
    with pytest.raises(UserError, match=r"HotpotQA data not found in .*\(data_dir\).*memrl data download hotpotqa") as e:
        load_hotpotqa(tmp_path)
    assert "\n" not in str(e.value)
    monkeypatch.setenv("MEMRL_DATA", str(tmp_path))
    with pytest.raises(UserError, match=r"\(\$MEMRL_DATA\)"):
        load_hotpotqa()
    with pytest.raises(UserError, match="not found; pass path="):
        load_hotpotqa(path=tmp_path / "missing.json")


def test_without_a_folder_the_hub_is_asked_and_offline_is_one_line(tmp_path, monkeypatch):
    import datasets

    monkeypatch.delenv("MEMRL_DATA", raising=False)
    monkeypatch.setenv("MEMRL_CACHE", str(tmp_path))
    asked = []

    def offline(*args, **kwargs):
        asked.append(args)
        raise ConnectionError("Couldn't reach 'hotpotqa/hotpot_qa' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    hotpotqa._hub_rows.cache_clear()
    with pytest.raises(UserError, match="Hub is unreachable .*memrl data download hotpotqa") as e:
        load_hotpotqa()
    assert asked == [("hotpotqa/hotpot_qa", "distractor")] and "\n" not in str(e.value)

    items = rows(4)
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: datasets.Dataset.from_list(items))
    hotpotqa._hub_rows.cache_clear()
    try:
        assert list(load_hotpotqa()) == items  # the Hub's rows go through the same checks
    finally:
        hotpotqa._hub_rows.cache_clear()


@pytest.mark.parametrize("content, message", [("{nope", "not valid JSON"), ('[{"a": 1}]', "must be a list of items")])
def test_a_bad_file_is_one_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as e:
        load_hotpotqa(path=path)
    assert "\n" not in str(e.value)


ENVS = [  # every HotpotQA-backed env, with settings small enough for a 40-question file
    ("memrl/AgeMem-v0", {}),
    ("memrl/MemAgent-v0", {"doc_tokens": 600, "chunk_tokens": 256}),
    ("memrl/MEM1-v0", {"n_objectives": 2}),
    ("memrl/MemAct-v0", {"n_objectives": 2}),
]


@pytest.mark.parametrize("env_id, settings", ENVS)
@pytest.mark.parametrize("how", ["data_dir", "MEMRL_DATA", "path"])
def test_every_hotpotqa_env_runs_from_a_local_file(env_id, settings, how, tmp_path, monkeypatch):
    file = write(tmp_path, LOCAL_FILES[0], rows(), jsonl=True)
    where = {"data_dir": {"data_dir": str(tmp_path)}, "path": {"path": str(file)}, "MEMRL_DATA": {}}[how]
    monkeypatch.setenv("MEMRL_DATA", str(tmp_path) if how == "MEMRL_DATA" else str(tmp_path / "elsewhere"))
    env = make(env_id, source="hotpotqa", **settings, **where)
    tasks = env.make_tasks("train", 2, seed=0)
    assert len(tasks) == 2
    env.reset(seed=0, options={"task": tasks[0]})
    while not env.done:
        env.step(env.expert_reply())
    assert env.outcome["score"] is not None
