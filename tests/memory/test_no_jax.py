"""memrl.memory keeps JAX out of the process: bm25s imports JAX where it is installed and runs a
top-k at import, and JAX then preallocates most of a GPU's memory (seen on an H200, where the
recipes' PyTorch processes ran out of CUDA memory)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_memrl_memory_leaves_jax_unimported(tmp_path):
    fake = tmp_path / "jax"  # a stand-in JAX that bm25s would find and import
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "lax.py").write_text("def top_k(x, k):\n    return x[:k], list(range(k))\n")
    code = ("import sys, memrl.memory, bm25s.selection\n"
            "assert 'jax' not in sys.modules, 'bm25s imported JAX'\n"
            "assert not bm25s.selection.JAX_IS_AVAILABLE\n"
            "import jax\n"  # the user's own import still works afterwards
            "print(jax.__file__)\n")
    path = os.pathsep.join(p for p in (str(tmp_path), str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ, "PYTHONPATH": path},
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.strip() == str(fake / "__init__.py")
