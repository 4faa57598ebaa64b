#!/usr/bin/env bash
# The one device check (DESIGN.md section 8): run it whenever a GPU is available, then
# commit what it wrote under benchmarks/results/gpu/ (the device is named in device.md).
#
#   bash benchmarks/device_check.sh            # at most 8 minutes on one GPU
#
# Steps, each under its own time limit (seconds) so that the whole stays within 8 minutes
# whatever the GPU; a step that fails or runs out of time is recorded and the next runs:
#   1. the CUDA-marked tests (pytest -m cuda)                           120
#   2. benchmarks.igos on cuda (8 views, batch 1 and 8)                  90
#   3. benchmarks.rsi_gradcam on cuda (224 px, batch 1 and 8, 50 steps)  60
#   4. benchmarks.precision on cuda (4 views, 3 models, 3 precisions)   140
#   5. benchmarks.precision with torch.compile (I-GOS, 2 views)          60
# Set PYTHON to choose the interpreter (default: .venv/bin/python if present, else python).
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-$([ -x .venv/bin/python ] && echo .venv/bin/python || echo python)}
OUT=benchmarks/results/gpu
mkdir -p "$OUT"
export MPLBACKEND=Agg PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo "device_check.sh: no CUDA device is visible (torch.cuda.is_available() is False)" >&2
  exit 1
fi

{
  echo "# Device check: $("$PYTHON" -c 'import torch; print(torch.cuda.get_device_name(0))')"
  echo
  echo "Run $(date -u '+%Y-%m-%d %H:%M UTC') by \`bash benchmarks/device_check.sh\` at commit" \
       "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)."
  echo
  echo '```'
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'CUDA', torch.version.cuda, \
'bf16 supported', torch.cuda.is_bf16_supported())"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || true
  echo '```'
  echo
  echo "| step | seconds | exit status (124: ran out of time) | output |"
  echo "|---|---:|---:|---|"
} > "$OUT/device.md"

step() {  # step NAME LIMIT OUTPUT COMMAND...
  local name=$1 limit=$2 output=$3
  shift 3
  local start=$SECONDS
  timeout -k 5 "$limit" "$@" > "$OUT/$output" 2>&1
  local status=$?
  echo "| $name | $((SECONDS - start)) | $status | $output |" >> "$OUT/device.md"
  echo "device_check.sh: $name: exit $status after $((SECONDS - start)) s ($OUT/$output)"
}

step "CUDA tests" 120 cuda_tests.txt \
  "$PYTHON" -m pytest -m cuda -q -p no:cacheprovider -o addopts="-ra --strict-markers" tests
step "benchmarks.igos" 90 igos.txt \
  "$PYTHON" -m benchmarks.igos --device cuda --images 8 --authors-images 1
step "benchmarks.rsi_gradcam" 60 rsi_gradcam.txt \
  "$PYTHON" -m benchmarks.rsi_gradcam --device cuda --warmup 1 --json "$OUT/rsi_gradcam.json"
step "benchmarks.precision" 140 precision.txt \
  "$PYTHON" -m benchmarks.precision --device cuda --photos grace_hopper --views 4 \
    --models efficientnet_lite0 resnet18 resnet50 --iterations 4 --n-steps 4 \
    --rsi-steps 16 --metric-steps 20 --chunk 64 --metric-chunk 64 --shared no \
    --results "$OUT" --output precision
step "benchmarks.precision, torch.compile" 60 precision_compile.txt \
  "$PYTHON" -m benchmarks.precision --device cuda --photos grace_hopper --views 2 \
    --methods IGOS --iterations 4 --n-steps 4 --metric-steps 20 --chunk 64 \
    --metric-chunk 64 --compile --compile-precisions float32 bfloat16 float16 --shared no \
    --results "$OUT" --output precision_compile
echo "device_check.sh: results in $OUT (commit them; device.md names the device)"
