#!/usr/bin/env bash
# Prints the speed measurements of docs/speed.md: `promptbias bench` on 2,000 suite sentences, then the
# wall time of `promptbias predict` on the whole Czarnowska suite with an untuned 20-token soft prompt.
# Usage: PROMPTBIAS_DATA=../shared/data benchmarks/speed.sh   (about 15 minutes on 2 CPU cores)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/promptbias" bench --sentences 2000
"$bin/promptbias" tune --out "$work/tuned" --train-size 48 --dev-size 24 --test-size 24 --max-steps 1 >/dev/null
start=$(date +%s)
"$bin/promptbias" predict --prompt "$work/tuned/prompt" --suite czarnowska --out "$work/suite.parquet" >/dev/null
echo "predict, whole suite: $(( $(date +%s) - start )) s wall (model loading included)"
