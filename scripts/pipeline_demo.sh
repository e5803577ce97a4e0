#!/usr/bin/env bash
# The chain of README "Reproduce a paper row" at CPU scale, on the demo videos: data → causal VAE
# (tools/train_autoencoder.py) → latent cache + latent statistics (tools/encode_latents.py) → latent W.A.L.T
# (tools/train.py) → FVD / FID / video IS (tools/eval.py, StyleGAN-V protocol with stand-in detectors: the numbers
# only show that the chain runs). About 2 minutes on 2 CPU cores; tests/test_eval_pipeline_demo.py runs it.
#
#   bash scripts/pipeline_demo.sh [OUT]     # default OUT: work_dirs/pipeline_demo; PYTHON=... to skip the venv setup
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
py="${PYTHON:-$(bash "$repo/scripts/setup_env.sh" | tail -n 1)/bin/python}"
out="${1:-work_dirs/pipeline_demo}"
export WANDB_MODE="${WANDB_MODE:-disabled}" HF_HUB_OFFLINE=1
mkdir -p "$out"
clips=(data.train.root="$out/data" data.train.num_frames=17 data.train.hflip=0.0)
latent=(data.train.root="$out/latents" latent_norm.stats="$out/latents/latent_stats.json"
        model.autoencoder.pretrained="$out/vae")

# 1. data: UCF-101 layout (<Class>/v_*.mp4 + ucfTrainTestlist/)
"$py" tools/make_demo_data.py --out "$out/data" --num-per-class 4 --frames 20 --size 32
# 2. first stage: the causal 3-D VAE → $out/vae/step_*.pth + latest
"$py" tools/train_autoencoder.py configs/demo/causal_vae_demo.py --work-dir "$out/vae" \
    --cfg-options "${clips[@]}" max_steps=40 model.disc_start=30 log_interval=20 ckpt_interval=40
# 3. latents + per-channel statistics → $out/latents/{index.json,shard_*.pt,latent_stats.json}
"$py" tools/encode_latents.py configs/demo/causal_vae_demo.py --checkpoint "$out/vae" --out "$out/latents" \
    --no-progress --cfg-options "${clips[@]}"
# 4. second stage: W.A.L.T on the cached latents → $out/walt/step_*.pth + latest
"$py" tools/train.py configs/demo/walt_latent_demo.py --work-dir "$out/walt" \
    --cfg-options "${latent[@]}" max_steps=100 log_interval=50 ckpt_interval=100
# 5. evaluation: samples decoded by the VAE, fed to the detectors without writing videos → $out/eval.json
"$py" -m walt.evaluation.standin_detectors --out "$out/detectors"
"$py" tools/eval.py configs/demo/walt_latent_demo.py --checkpoint "$out/walt" --cfg-options "${latent[@]}" \
    --real "$out/data" --protocol stylegan-v --i3d "$out/detectors/i3d_standin.pt" \
    --c3d "$out/detectors/c3d_standin.pt" --inception "$out/detectors/inception_standin.pt" \
    --num 32 --num-real 16 --steps 10 --stats-cache "$out/stats" --out "$out/eval.json"
echo "pipeline demo finished: report $out/eval.json"
