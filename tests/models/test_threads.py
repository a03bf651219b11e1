import torch

from memrl.models import threads

LAUNCHED = {"ACCELERATE_DYNAMO_BACKEND": "NO", "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "False"}


def test_only_accelerates_lone_one_thread_default_is_undone():
    assert threads.launched_single_threaded(LAUNCHED)
    assert not threads.launched_single_threaded({**LAUNCHED, "WORLD_SIZE": "2"})  # DDP keeps its split
    assert not threads.launched_single_threaded({**LAUNCHED, "OMP_NUM_THREADS": "2"})
    assert not threads.launched_single_threaded({**LAUNCHED, "ACCELERATE_USE_CPU": "True"})
    assert not threads.launched_single_threaded({"OMP_NUM_THREADS": "1"})  # not under accelerate
    assert not threads.launched_single_threaded({**LAUNCHED, threads.KEEP: "1"})


def test_use_all_cores_sets_torch_threads_and_says_so(monkeypatch):
    before = torch.get_num_threads()
    for key, value in LAUNCHED.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.delenv(threads.KEEP, raising=False)
    monkeypatch.setattr(threads, "physical_cores", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    try:
        line = threads.use_all_cores()
        assert torch.get_num_threads() == 2 and "OMP_NUM_THREADS=1" in line and threads.KEEP in line
        monkeypatch.setenv(threads.KEEP, "1")
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        assert threads.use_all_cores() is None
    finally:
        torch.set_num_threads(before)
