"""Every built-in env gives the same tasks for the same seeds as before the data layer moved out of
envs/ (digests recorded from the code before the move): a data refactor must not change tasks."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest

from memrl.env.registry import make

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"  # ../shared/data, as CI lays it
# name: (env id, settings, needs ../shared/data, digests of make_tasks("train"/"test", 4, seed=3) and
# of sample_task(Random(7))). AgeMem's HotpotQA ids are left out: they used Python's per-process hash().
CASES = {
    "factrecall": ("memrl/FactRecall-v0", {}, False, ("0ed48f2c1d4b5bb6", "b5df858cdd97ff28", "d2f5d4cab50524f1")),
    "agemem": ("memrl/AgeMem-v0", {}, False, ("c03e1aab6fde5b32", "c29c5f082c32d88a", "c0d46ef0a86485b2")),
    "agemem-h2": ("memrl/AgeMem-v0", {"hops": 2, "updates": 2}, False, ("c1511422b671316b", "9aebd0404f2184e1", "ea0ba5309a14cf1b")),
    "agemem-generated": ("memrl/AgeMem-v0", {"source": "generated"}, False, ("c03e1aab6fde5b32", "c29c5f082c32d88a", "c0d46ef0a86485b2")),
    "memagent-needle": ("memrl/MemAgent-v0", {"doc_tokens": [300, 1200], "n_needles": 2}, False,
                        ("63319a788170ef20", "53664147315962ef", "1d4850d61be73d72")),
    "memagent-synthetic": ("memrl/MemAgent-v0", {"source": "synthetic", "doc_tokens": [300, 1200], "n_needles": 2}, False,
                           ("63319a788170ef20", "53664147315962ef", "1d4850d61be73d72")),
    "mem1": ("memrl/MEM1-v0", {"n_objectives": [1, 3]}, False, ("921aa97da34ce746", "c093f98112cc5223", "bd45c3cdb7ba5422")),
    "memact": ("memrl/MemAct-v0", {"n_objectives": 2}, False, ("1f6aea8695e4ebb4", "eefdf1868cd52719", "ba267f784c5e1da7")),
    "r1-manager": ("memrl/MemoryR1-Manager-v0", {}, False, ("a77f753902b1558f", "15bea786d04231ab", "01f80587e9c55094")),
    "r1-answer": ("memrl/MemoryR1-Answer-v0", {}, False, ("ca95f5fbde8cbaf1", "90ebc73a94a3a949", "65f44607e183e423")),
    "agemem-hotpot": ("memrl/AgeMem-v0", {"source": "hotpotqa"}, True, ("d3f90e906429b8c7", "d688f04b1a144c39", "0ea965b1115509c1")),
    "memagent-hotpot": ("memrl/MemAgent-v0", {"source": "hotpotqa", "doc_tokens": [1000, 3000]}, True,
                        ("1b14f096ee9dd9fa", "f6bf04c11c4b635a", "c320539a95659113")),
    "mem1-hotpot": ("memrl/MEM1-v0", {"source": "hotpotqa", "n_objectives": 2}, True, ("5cc41949fc7036eb", "61130e53dfaed1b8", "29bb10b7afa09194")),
    "memact-hotpot": ("memrl/MemAct-v0", {"source": "hotpotqa", "n_objectives": 2}, True, ("5cc41949fc7036eb", "61130e53dfaed1b8", "29bb10b7afa09194")),
    "r1-manager-locomo": ("memrl/MemoryR1-Manager-v0", {"source": "locomo"}, True, ("487e89297b7c8843", "1376a8e3fcddd0ec", "abddf95ba72798a9")),
    "r1-answer-locomo": ("memrl/MemoryR1-Answer-v0", {"source": "locomo"}, True, ("a47af33ca81cb8ae", "3cd8e91b7bf68759", "65f44607e183e423")),
}


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", list(CASES))
def test_the_same_seeds_give_the_same_tasks(name):
    env_id, settings, needs_data, expected = CASES[name]
    if needs_data:
        if not SHARED.is_dir():
            pytest.skip("../shared/data is absent")
        settings = {**settings, "data_dir": str(SHARED)}
    env = make(env_id, **settings)
    strip = (lambda t: {k: v for k, v in t.items() if k != "id"}) if name == "agemem-hotpot" else (lambda t: t)  # noqa: E731
    got = tuple(digest([strip(t) for t in env.make_tasks(split, 4, seed=3)]) for split in ("train", "test"))
    assert got + (digest(strip(env.sample_task(random.Random(7)))),) == expected
