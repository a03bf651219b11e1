"""CPU threads: give a lone CPU training process the machine's cores.

``accelerate launch script.py`` with no config file and no ``--cpu`` sets ``OMP_NUM_THREADS=1``
for the process it starts (its default when it is not told the run is CPU-only), so on a laptop
the documented ``accelerate launch recipes/agemem.py`` ran torch on one core of two. Measured on
2 cores: an SFT warm-start step of the MemAgent recipe took ~95 s with one thread against ~25 s
with two (bench/results/memagent/rl_vs_sft). Several processes on one machine (DDP over gloo)
keep accelerate's split.
"""

from __future__ import annotations

import os

KEEP = "MEMRL_KEEP_OMP_THREADS"


def physical_cores() -> int:
    try:
        import psutil

        return psutil.cpu_count(logical=False) or os.cpu_count() or 1
    except ImportError:  # psutil comes with accelerate; without it, logical cores
        return os.cpu_count() or 1


def launched_single_threaded(env: dict[str, str] | None = None) -> bool:
    """Whether accelerate started this lone process with its one-thread default."""
    env = os.environ if env is None else env
    return (
        "ACCELERATE_DYNAMO_BACKEND" in env  # set by every accelerate launch
        and env.get("OMP_NUM_THREADS") == "1"
        and int(env.get("WORLD_SIZE", "1")) <= 1
        and env.get("ACCELERATE_USE_CPU", "").lower() != "true"  # --cpu/use_cpu: accelerate sized it itself
        and KEEP not in env
    )


def use_all_cores() -> str | None:
    """Undo accelerate's one-thread default for a lone CPU process; the start-of-run line, or None."""
    import torch

    if torch.cuda.is_available() or not launched_single_threaded():
        return None
    cores = physical_cores()
    if cores <= 1:
        return None
    torch.set_num_threads(cores)
    os.environ["OMP_NUM_THREADS"] = str(cores)  # what child processes (eval) inherit
    return (f"torch threads: {cores} (accelerate launch set OMP_NUM_THREADS=1 for this single CPU process; "
            f"{KEEP}=1 keeps 1)")
