# Beyond the papers: LAVITA-XL/2 variant 2 on FaceForensics (lavita_ffs.py) trained with rectified flow instead of
# learned-sigma ε diffusion. Rectified flow has no variance to learn (an ODE sampler, no L_vlb), so the backbone the
# model derives predicts the C = 4 velocity channels. SD3 §3.1 logit-normal(0, 1) times; shift "auto" = SD3 Eq. 23
# against its 256² base: sqrt(16·32·32 / 32·32) = 4 for the 16×32×32 latents (latent frames counted as Open-Sora 1.2).
_base_ = ["../lavita_ffs.py"]
model = dict(diffusion=dict(_delete_=True, type="RectifiedFlow", time_sampling="logit_normal", logit_mean=0.0,
                            logit_std=1.0, shift="auto"))
