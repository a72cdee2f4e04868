#!/usr/bin/env bash
# Decode speed of a local model on vLLM with and without speculative decoding (n-gram), same prompts.
#
#   bench/gpu_vllm.sh MODEL_PATH [SPECULATIVE_CONFIG_JSON]
#
# Starts vLLM twice on 127.0.0.1 (the baseline, then with --speculative-config), runs
# bench/vllm_decode.py against each (same prompts, one at a time, temperature 0) and prints decode
# tokens/s, the draft acceptance rate and the speed-up. Needs an NVIDIA GPU and vLLM installed for
# $PYTHON (default: python3); without either it says so and exits 0.
# Environment: PYTHON, PORT (default 8765), MAX_MODEL_LEN (4096), GPU_MEMORY_UTILIZATION (0.85),
# MAX_TOKENS (256), START_TIMEOUT_S (900).
set -euo pipefail

MODEL_PATH=${1:-}
SPEC=${2:-'{"method":"ngram","num_speculative_tokens":4,"prompt_lookup_min":2,"prompt_lookup_max":4}'}
PYTHON=${PYTHON:-python3}
PORT=${PORT:-8765}
MAX_MODEL_LEN=${MAX_MODEL_LEN:-4096}
GPU_MEMORY_UTILIZATION=${GPU_MEMORY_UTILIZATION:-0.85}
MAX_TOKENS=${MAX_TOKENS:-256}
START_TIMEOUT_S=${START_TIMEOUT_S:-900}
HERE=$(cd "$(dirname "$0")" && pwd)

if [ -z "$MODEL_PATH" ]; then
  echo "usage: $0 MODEL_PATH [SPECULATIVE_CONFIG_JSON]" >&2
  exit 2
fi
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "SKIP: no NVIDIA GPU here (nvidia-smi is missing or failing); the vLLM speculative-decoding benchmark needs one."
  exit 0
fi
if ! "$PYTHON" -c "import vllm" >/dev/null 2>&1; then
  echo "SKIP: vLLM is not installed for $PYTHON (pip install vllm, or the project's 'gpu' extra)."
  exit 0
fi

LOG_DIR=$(mktemp -d)
SERVER_PID=""
stop_server() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 1; done
    kill -9 "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
trap stop_server EXIT

run_one() {  # $1: label, rest: extra vLLM arguments; writes $LOG_DIR/$label.json
  local label=$1; shift
  local log="$LOG_DIR/$label.log"
  "$PYTHON" -m vllm.entrypoints.openai.api_server --model "$MODEL_PATH" --served-model-name bench \
    --host 127.0.0.1 --port "$PORT" --max-model-len "$MAX_MODEL_LEN" \
    --gpu-memory-utilization "$GPU_MEMORY_UTILIZATION" --enable-prefix-caching "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  local waited=0
  until "$PYTHON" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/health', timeout=2)" >/dev/null 2>&1; do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "vLLM ($label) exited during start-up; last lines of $log:" >&2; tail -n 30 "$log" >&2; exit 1
    fi
    if [ "$waited" -ge "$START_TIMEOUT_S" ]; then
      echo "vLLM ($label) not healthy after ${START_TIMEOUT_S}s; see $log" >&2; exit 1
    fi
    sleep 2; waited=$((waited + 2))
  done
  "$PYTHON" "$HERE/vllm_decode.py" --url "http://127.0.0.1:$PORT" --model bench --max-tokens "$MAX_TOKENS" >"$LOG_DIR/$label.json"
  stop_server
}

echo "GPU: $(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1); vLLM $("$PYTHON" -c 'import vllm; print(vllm.__version__)')"
echo "model: $MODEL_PATH"
# In this shell, not in $(...): the EXIT trap must see SERVER_PID to stop a server left running.
run_one baseline
run_one speculative --speculative-config "$SPEC"
"$PYTHON" - "$LOG_DIR/baseline.json" "$LOG_DIR/speculative.json" "$SPEC" <<'PY'
import json, sys
base, spec, config = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
print(f"{'':<14}{'decode tok/s':>14}{'acceptance':>12}{'requests':>10}")
print(f"{'baseline':<14}{base['decode_tokens_per_s']:>14.1f}{'-':>12}{base['requests']:>10}")
rate = spec["acceptance_rate"]
print(f"{'speculative':<14}{spec['decode_tokens_per_s']:>14.1f}{(f'{rate:.1%}' if rate is not None else 'n/a'):>12}{spec['requests']:>10}")
print(f"speed-up: {spec['decode_tokens_per_s'] / base['decode_tokens_per_s']:.2f}x  (--speculative-config {config})")
PY
