"""`memrl data download`: offline is one line (exit 2); a download is checked before it is saved.

The network is never used: ``memrl.data.download.fetch`` is replaced by a local fake that writes
made-up files with the public files' shape (no LoCoMo or HotpotQA text here).
"""

from __future__ import annotations

import json
import urllib.error
from pathlib import Path

import pytest

from memrl.cli.main import main
from memrl.data import download as dl
from memrl.data.hotpotqa import load_hotpotqa
from memrl.data.locomo import LOCOMO_IDS, load_locomo


def fake_locomo(questions: int = 1986) -> list[dict]:
    per = [questions // 10 + (k < questions % 10) for k in range(10)]
    return [{"sample_id": ident, "conversation": {
                "speaker_a": "Ann", "speaker_b": "Bob", "session_1_date_time": "1:00 pm on 2 May, 2023",
                "session_1": [{"speaker": "Ann", "dia_id": "D1:1", "text": f"I moved to town number {k}."}]},
             "qa": [{"question": f"Where did Ann move {j}?", "answer": f"town {k}", "evidence": ["D1:1"], "category": 4}
                    for j in range(per[k])]}
            for k, ident in enumerate(LOCOMO_IDS)]


def fake_hotpot(n: int = 7405) -> list[dict]:
    """The original release's layout: _id, [title, sentences] pairs, [title, sent_id] pairs."""
    return [{"_id": f"id{i}", "question": f"What is made-up thing {i}?", "answer": f"thing{i}", "type": "bridge",
             "level": "easy", "supporting_facts": [[f"T{i}", 0]],
             "context": [[f"T{i}", [f"T{i} is thing{i}.", " More."]], [f"U{i}", ["Other text."]]]} for i in range(n)]


def serve(monkeypatch, content: object) -> list[str]:
    urls: list[str] = []

    def fetch(url: str, dest: Path) -> None:
        urls.append(url)
        dest.write_text(json.dumps(content))

    monkeypatch.setattr(dl, "fetch", fetch)
    return urls


def test_offline_is_one_line_and_exit_2(monkeypatch, tmp_path, capsys):
    def offline(url, dest):
        raise urllib.error.URLError(OSError(-2, "Name or service not known"))

    monkeypatch.setattr(dl, "fetch", offline)
    for name in ("locomo", "hotpotqa"):
        assert main(["data", "download", name, "--data-dir", str(tmp_path)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and f"memrl data: error: cannot download {name}" in err
        assert f"memrl data download {name} --from FILE" in err and "Name or service not known" in err
    assert not list(tmp_path.rglob("*.json*"))  # nothing half-written was left


def test_locomo_is_checked_saved_and_its_license_printed(monkeypatch, tmp_path, capsys):
    urls = serve(monkeypatch, fake_locomo())
    assert main(["data", "download", "locomo", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert urls == [dl.DATASETS["locomo"].url] and "snap-research/locomo" in urls[0]
    assert "10 conversations, 1,986 questions" in out and "CC BY-NC 4.0" in out
    assert f"saved {tmp_path / 'locomo' / 'locomo10.json'}" in out
    assert [c["id"] for c in load_locomo(tmp_path)] == list(LOCOMO_IDS)


def test_a_wrong_file_is_refused_and_the_good_one_kept(monkeypatch, tmp_path, capsys):
    serve(monkeypatch, fake_locomo())
    assert main(["data", "download", "locomo", "--data-dir", str(tmp_path)]) == 0
    good = (tmp_path / "locomo" / "locomo10.json").read_text()
    serve(monkeypatch, fake_locomo(questions=1985))
    assert main(["data", "download", "locomo", "--data-dir", str(tmp_path)]) == 2
    assert "expected 10 conversations and 1,986 questions, found 10 and 1,985" in capsys.readouterr().err
    assert (tmp_path / "locomo" / "locomo10.json").read_text() == good
    serve(monkeypatch, {"not": "a list"})
    assert main(["data", "download", "locomo", "--data-dir", str(tmp_path)]) == 2


def test_hotpotqa_is_checked_converted_and_read_by_the_loader(monkeypatch, tmp_path, capsys):
    urls = serve(monkeypatch, fake_hotpot())
    monkeypatch.setenv("MEMRL_DATA", str(tmp_path))
    assert main(["data", "download", "hotpotqa"]) == 0
    out = capsys.readouterr().out
    assert urls == ["http://curtis.ml.cmu.edu/datasets/hotpot/hotpot_dev_distractor_v1.json"]
    assert "7,405 questions" in out and "CC BY-SA 4.0" in out
    rows = load_hotpotqa()
    assert len(rows) == 7405
    assert rows[0]["id"] == "id0" and rows[0]["context"] == {"title": ["T0", "U0"], "sentences": [["T0 is thing0.", " More."], ["Other text."]]}
    assert rows[0]["supporting_facts"] == {"title": ["T0"], "sent_id": [0]}
    serve(monkeypatch, fake_hotpot(100))
    assert main(["data", "download", "hotpotqa"]) == 2
    assert "holds 100 questions" in capsys.readouterr().err


def test_from_installs_a_copy_fetched_elsewhere_without_the_network(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(dl, "fetch", lambda url, dest: pytest.fail("used the network"))
    copy = tmp_path / "locomo10.json"
    copy.write_text(json.dumps(fake_locomo()))
    assert main(["data", "download", "locomo", "--data-dir", str(tmp_path / "data"), "--from", str(copy)]) == 0
    assert (tmp_path / "data" / "locomo" / "locomo10.json").is_file()
    assert main(["data", "where", "--data-dir", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "locomo: " + str(tmp_path / "data" / "locomo" / "locomo10.json") in out and "hotpotqa: absent" in out
    assert main(["data", "download", "locomo", "--data-dir", str(tmp_path), "--from", str(tmp_path / "missing.json")]) == 2
