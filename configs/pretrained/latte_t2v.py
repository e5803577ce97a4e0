# Sampling the released Latte text-to-video model (Latte-1, diffusers folder transformer/; or t2v.pt) as Latte's
# configs/t2v/t2v_sample.yaml and sample_t2v.py do: 16 frames at 512², DDIM 50 steps with diffusers' default
# "leading" spacing (t = 0, 20, …, 980), guidance 7.5 against the empty prompt, T5 prompts of 120 tokens, the
# release's SD VAE (vae/), 8 fps. Not reproduced: the optional SVD temporal VAE decoder (enable_vae_temporal_decoder).
#   python tools/sample.py configs/pretrained/latte_t2v.py --checkpoint checkpoints/Latte-1/transformer \
#       --prompt "Yellow and black tropical fish dart through the sea."
_base_ = ["../lavita_t2v_latte1.py"]
model = dict(autoencoder=dict(pretrained="checkpoints/Latte-1/vae"))
sample = dict(sampler=dict(type="DDIM", spacing="leading"), steps=50, cfg_scale=7.5, fps=8)
