#!/usr/bin/env bash
# Rebuild the shipped default classifier artifact from the shared MMLU routing data.
# Deterministic given the data and the static embedding table; ~12 minutes on 2 busy cores.
# Usage: scripts/train_default_classifier.sh [DATA_JSONL]
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${1:-../shared/data/routing/mmlu-train.jsonl}"
PY="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# The static embedding table ships in classifiers/artifacts/static-minilm-l6-v2; rebuild it only
# when it is missing (needs torch): python -m classifiers.embed build-static
if [ ! -f classifiers/artifacts/static-minilm-l6-v2/table.npz ]; then
  PYTHONPATH=. "$PY" -m classifiers.embed build-static
fi
PYTHONPATH=. "$PY" -m classifiers.training "$DATA" classifiers/artifacts/default \
  --folds 5 --report classifiers/artifacts/default/cv_report.json
