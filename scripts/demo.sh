#!/usr/bin/env bash
# The whole demo on a fresh machine: environment → demo videos → train a tiny W.A.L.T on the CPU → samples → FLOPs.
# Outputs land in work_dirs/walt_demo/ (samples.mp4/gif, loss_curve.png, train.log, checkpoints, flops.json).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(bash "$repo/scripts/setup_env.sh" | tail -n 1)"
py="$venv/bin/python"
cd "$repo"
export WANDB_MODE="${WANDB_MODE:-disabled}" HF_HUB_OFFLINE=1
config=configs/demo/walt_demo.py
work_dir=work_dirs/walt_demo
"$py" tools/hardware.py "$config"   # which CPU class (docs/benchmarks.md has the demo's time for each) and precision
[ -f data/demo/ucfTrainTestlist/classInd.txt ] || "$py" tools/make_demo_data.py --out data/demo
"$py" tools/train.py "$config" --work-dir "$work_dir" "$@"
"$py" tools/sample.py "$config" --checkpoint "$work_dir" --num 8 --class 0 1 2 3 0 1 2 3 --cfg-scale 3 \
    --sampler DPMSolverPP --steps 20 --grid \
    --upscale 4 --out "$work_dir/samples"
"$py" benchmarks/demo_motion.py "$config" --checkpoint "$work_dir" --per-class 16 --sampler DPMSolverPP --steps 20
"$py" tools/flops.py "$config" --json > "$work_dir/flops.json"
"$py" tools/flops.py "$config"
echo "demo finished: samples in $work_dir/samples, loss curve $work_dir/loss_curve.png, FLOPs $work_dir/flops.json"
