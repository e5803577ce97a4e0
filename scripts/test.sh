#!/usr/bin/env bash
# Set up the environment (reused when present) and run the whole test suite on the CPU.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(bash "$repo/scripts/setup_env.sh" | tail -n 1)"
cd "$repo"
export WANDB_MODE=disabled HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0
exec "$venv/bin/python" -m pytest -q "$@"
