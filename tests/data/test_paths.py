"""One data folder rule (data_dir, else $MEMRL_DATA, else the memrl cache), and no path from the source tree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memrl.data.paths import data_folder, where

ROOT = Path(__file__).resolve().parents[2]


def test_the_folder_is_data_dir_then_memrl_data_then_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("MEMRL_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("MEMRL_CACHE", str(tmp_path / "cache"))
    assert data_folder(tmp_path / "mine") == tmp_path / "mine"
    assert data_folder() == tmp_path / "env" and "$MEMRL_DATA" in where()
    monkeypatch.delenv("MEMRL_DATA")
    assert data_folder() == tmp_path / "cache" / "data"
    monkeypatch.delenv("MEMRL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_folder() == tmp_path / "xdg" / "memrl" / "data"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_folder() == tmp_path / "home" / ".cache" / "memrl" / "data"
    assert "set $MEMRL_DATA or data_dir" in where()


@pytest.mark.parametrize("package", ["memrl", "envs", "rewards"])
def test_nothing_in_the_library_computes_a_path_from_its_own_location(package):
    # An installed memrl lives in site-packages: a path computed from __file__ would point there.
    offenders = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / package).rglob("*.py")
                 for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
                 if re.search(r"__file__|shared/data|\"shared\"", line)]
    assert not offenders, f"paths computed from the source tree: {offenders}"
