#!/usr/bin/env bash
# memrl's GPU paths in one pass, sized for one call of a lent GPU machine (~6 min on an H200):
#   1. bench/gpu_paths.py: K/V reuse = plain generate (fp32, bf16), micro-batched update = one
#      forward, trainer and LoRA weights on the GPU, three toy GRPO steps;
#   2. the not-slow test suite with CUDA present (pytest -n 8), and beside it the slow tests that
#      matter on a GPU: tests/recipes/test_on_gpu.py (recipes and both trainers under a plain
#      `accelerate launch`, bf16), tests/train/test_fsdp.py (FSDP on the GPU, save, resume) and
#      tests/recipes/test_train_recipe.py (recipes/accelerate/cpu.yaml on a machine that has CUDA);
#   3. bench/step_time.py on a random-initialised model of SmolLM2-135M's shape (random weights:
#      every reply runs to its token limit, so the figures are a decode-bound upper bound, not a
#      trained policy's step), one step of the AgeMem CPU default (STEP_ARGS).
# Without CUDA it runs step 1 on the CPU and says what it skipped.
#
# Packages the machine lacks travel as wheels in $CARRY/whl (installed into /tmp/site) and the
# embedded model's tokenizer and config (no weights) in $CARRY/cache; bench/results/gpu_check.txt
# says how .gpucarry was made. Everything is tee'd to $OUT/log.txt ($OUT: the device tool's
# folder, else runs/gpu_check). The key figure is printed last.
#
#   bash bench/gpu_check.sh
set -u -o pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu_check}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
CARRY=${CARRY:-.gpucarry}
FAST_S=${FAST_S:-210}    # the not-slow suite (and the slow GPU tests beside it)
STEP_S=${STEP_S:-110}    # the step-time bench
# One step, no warm-up: with random weights every turn decodes to its limit; on the H200 a warm-up
# and a timed step did not finish in 100 s.
STEP_ARGS=${STEP_ARGS:---warmup 0 --steps 1}
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

stamp "1. bench/gpu_paths.py"
timeout 100 python3 bench/gpu_paths.py 2>&1 | grep --line-buffered -v -E "FutureWarning|warnings.warn|^\{'" | tee "$OUT/paths.txt" | grep -E "^(PASS|FAIL|device|no CUDA|gpu_paths|[A-Za-z]*Error)"

if [ "$CUDA" != 1 ]; then
  stamp "no CUDA: the suite, the slow GPU tests and the GPU timing are skipped (they need the GPU machine)"
  python3 -m pytest -q -p no:cacheprovider tests/recipes/test_on_gpu.py 2>&1 | tail -1
  exit 0
fi

stamp "2. the not-slow suite (-n 8) and, beside it, the slow GPU tests (-n 4); up to ${FAST_S}s"
XDIST() { python3 -c "import xdist" 2>/dev/null && echo "-n $1"; }
TIMEOUT() { python3 -c "import pytest_timeout" 2>/dev/null && echo "--timeout $1"; }
timeout "$FAST_S" python3 -m pytest -m "not slow" -q -p no:cacheprovider $(XDIST 8) $(TIMEOUT 150) > "$OUT/fast.txt" 2>&1 &
FAST=$!
timeout "$FAST_S" python3 -m pytest -q -p no:cacheprovider $(XDIST 4) $(TIMEOUT 180) \
  tests/recipes/test_on_gpu.py tests/train/test_fsdp.py tests/recipes/test_train_recipe.py > "$OUT/slow.txt" 2>&1 &
SLOW=$!
wait $FAST; echo "fast suite exit $?"; wait $SLOW; echo "slow GPU tests exit $?"
for f in fast slow; do
  echo "-- $f: failures and errors"
  grep -E "^(FAILED|ERROR) " "$OUT/$f.txt" | cut -c1-300 | head -40
  tail -n 1 "$OUT/$f.txt"
done

stamp "3. bench/step_time.py on a random-initialised SmolLM2-135M-shaped model; up to ${STEP_S}s"
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

stamp "summary"
echo "fast suite: $(tail -n 1 "$OUT/fast.txt")"
echo "slow GPU tests: $(tail -n 1 "$OUT/slow.txt")"
grep -h "gpu_paths_failed=" "$OUT/paths.txt"
grep -h -E "^(rollout_tokens_per_s|limit_fraction)=" "$OUT/step_time.txt"
grep -h "^grpo_step_s=" "$OUT/step_time.txt" || echo "grpo_step_s=none"
