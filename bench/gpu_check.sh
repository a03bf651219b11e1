#!/usr/bin/env bash
# memrl's GPU paths, for a lent GPU machine (bench/results/gpu_check.txt: what two H200 runs found).
# Stages (STAGES, default all four; each one's time on an H200 in brackets):
#   paths  bench/gpu_paths.py: K/V reuse = plain generate (fp32, bf16), micro-batched update = one
#          forward, trainer and LoRA weights on the GPU, three toy GRPO steps [~65 s];
#   suite  the not-slow test suite with CUDA present (pytest -n 8) [over 170 s: ~1,400 tests
#          had run when 170 s cut it], and beside it
#   slow   the slow tests that matter on a GPU: tests/recipes/test_on_gpu.py (recipes and both
#          trainers under a plain `accelerate launch`, bf16), tests/train/test_fsdp.py (FSDP on
#          the GPU, save, resume) and tests/recipes/test_train_recipe.py (recipes/accelerate/
#          cpu.yaml on a machine that has CUDA) [8 of 10 done at 170 s];
#   step   bench/step_time.py on a random-initialised model of SmolLM2-135M's shape (random
#          weights: every reply runs to its token limit, so the figures are a decode-bound upper
#          bound, not a trained policy's step), one step of the AgeMem CPU default (STEP_ARGS)
#          [over 100 s: no step finished in 100 s].
# Pip install and imports take ~35 s first. All four need ~11 min: more than one 15-minute
# session's device time after two starts, so split them (STAGES="paths slow", STAGES=suite, ...).
# Tests print one line each (-v), so a run cut by its time limit still names its failures.
# Without CUDA it runs the paths stage on the CPU and says what it skipped.
#
# Packages the machine lacks travel as wheels in $CARRY/whl (installed into /tmp/site) and the
# embedded model's tokenizer and config (no weights) in $CARRY/cache; bench/results/gpu_check.txt
# says how .gpucarry was made. Everything is tee'd to $OUT/log.txt ($OUT: the device tool's
# folder, else runs/gpu_check). The key figure is printed last.
#
#   bash bench/gpu_check.sh                      # all stages
#   STAGES="suite" FAST_S=400 bash bench/gpu_check.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
CARRY=${CARRY:-.gpucarry}
STAGES=${STAGES:-paths suite slow step}
FAST_S=${FAST_S:-300}    # the not-slow suite and the slow GPU tests (each; they run side by side)
STEP_S=${STEP_S:-240}    # the step-time bench
# One step, no warm-up: with random weights every turn decodes to its limit (192 tokens).
STEP_ARGS=${STEP_ARGS:---warmup 0 --steps 1}
has() { [[ " $STAGES " == *" $1 "* ]]; }
export PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
T0=$SECONDS
stamp() { echo "== [$((SECONDS - T0))s] $*"; }

if [ -d "$CARRY/whl" ] && ! python3 -c "import trl" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$CARRY"/whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site:$PWD
fi
export PYTHONPATH=${PYTHONPATH:+$PYTHONPATH:}$PWD
# envs/ and rewards/ import as memrl.envs / memrl.rewards through the editable install's mapping;
# without an install, links give the same names.
python3 -c "import memrl.envs, memrl.rewards" 2>/dev/null || { ln -sfn ../envs memrl/envs; ln -sfn ../rewards memrl/rewards; }
[ -d "$CARRY/cache" ] && export MEMRL_CACHE=$PWD/$CARRY/cache

stamp "versions"
git log -1 --format='commit %H %s' 2>/dev/null | cut -c1-120
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || echo "nvidia-smi: none"
python3 - <<'EOF'
import importlib, platform
print("python", platform.python_version())
for name in ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "huggingface_hub", "pyarrow", "tokenizers", "bm25s"):
    try:
        module = importlib.import_module(name)
        print(f"{name} {module.__version__} ({module.__file__.split('/site-packages/')[0].split('/')[-1] or module.__file__})")
    except Exception as exc:  # noqa: BLE001
        print(f"{name}: {type(exc).__name__}: {exc}")
import torch
print("cuda available", torch.cuda.is_available(), "devices", torch.cuda.device_count())
EOF
CUDA=$(python3 -c "import torch; print(int(torch.cuda.is_available()))")

has paths && stamp "paths: bench/gpu_paths.py" && timeout 100 python3 bench/gpu_paths.py 2>&1 | grep --line-buffered -v -E "FutureWarning|warnings.warn|^\{'" | tee "$OUT/paths.txt" | grep -E "^(PASS|FAIL|device|no CUDA|gpu_paths|[A-Za-z]*Error)"

if [ "$CUDA" != 1 ]; then
  stamp "no CUDA: the suite, the slow GPU tests and the GPU timing are skipped (they need the GPU machine)"
  python3 -m pytest -q -p no:cacheprovider tests/recipes/test_on_gpu.py 2>&1 | tail -1
  exit 0
fi

XDIST() { python3 -c "import xdist" 2>/dev/null && echo "-n $1"; }
TIMEOUT() { python3 -c "import pytest_timeout" 2>/dev/null && echo "--timeout $1"; }
PYTEST="python3 -m pytest -v --tb=short -p no:cacheprovider"
if has suite; then
  stamp "suite: the not-slow tests (-n 8); up to ${FAST_S}s"
  timeout "$FAST_S" $PYTEST -m "not slow" $(XDIST 8) $(TIMEOUT 150) > "$OUT/fast.txt" 2>&1 &
  FAST=$!
fi
if has slow; then
  stamp "slow: the slow GPU tests (-n 4); up to ${FAST_S}s"
  timeout "$FAST_S" $PYTEST $(XDIST 4) $(TIMEOUT 180) \
    tests/recipes/test_on_gpu.py tests/train/test_fsdp.py tests/recipes/test_train_recipe.py > "$OUT/slow.txt" 2>&1 &
  SLOW=$!
fi
has suite && { wait $FAST; echo "suite exit $?"; }
has slow && { wait $SLOW; echo "slow GPU tests exit $?"; }
for f in fast slow; do
  [ -f "$OUT/$f.txt" ] || continue
  echo "-- $f: $(grep -c -E "(PASSED|SKIPPED)" "$OUT/$f.txt") passed or skipped; failures and errors:"
  grep -o -E "(FAILED|ERROR) tests/[^ ]*( - .*)?" "$OUT/$f.txt" | cut -c1-300 | sort -u | head -40
  tail -n 1 "$OUT/$f.txt"
done

if has step; then
stamp "step: bench/step_time.py on a random-initialised SmolLM2-135M-shaped model; up to ${STEP_S}s"
python3 - <<'EOF'
import shutil, torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from memrl.models import embedded_model_path
src, dst = embedded_model_path(), "/tmp/smollm2-shaped-random"
torch.manual_seed(0)
AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(src)).save_pretrained(dst)
AutoTokenizer.from_pretrained(src).save_pretrained(dst)
shutil.copy(src / "generation_config.json", dst)
print(f"random-initialised {src.name}-shaped model in {dst}")
EOF
timeout "$STEP_S" python3 bench/step_time.py --no-adapter $STEP_ARGS -- --model_name_or_path /tmp/smollm2-shaped-random \
  2>&1 | grep --line-buffered -v -E "FutureWarning|warnings.warn" > "$OUT/step_time.txt"
echo "step_time exit $?"
grep -v -E "^\s*$" "$OUT/step_time.txt" | tail -n 12
fi

stamp "summary"
[ -f "$OUT/fast.txt" ] && echo "suite: $(tail -n 1 "$OUT/fast.txt")"
[ -f "$OUT/slow.txt" ] && echo "slow GPU tests: $(tail -n 1 "$OUT/slow.txt")"
[ -f "$OUT/paths.txt" ] && grep -h "gpu_paths_failed=" "$OUT/paths.txt"
[ -f "$OUT/step_time.txt" ] && grep -h -E "^(rollout_tokens_per_s|limit_fraction)=" "$OUT/step_time.txt"
grep -h "^grpo_step_s=" "$OUT/step_time.txt" 2>/dev/null || echo "grpo_step_s=none"
