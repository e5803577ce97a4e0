# Beyond the papers: the W.A.L.T Table 3 default (W.A.L.T-L, r = 2) trained with rectified flow instead of
# v-prediction DDPM (walt/diffusion/rectified_flow.py; docs/experiments.md "Beyond the papers"). SD3 §3.1
# logit-normal(0, 1) training times; shift "auto" = SD3 Eq. 23 against its 256² base: sqrt(5·16·16 / 32·32) = 1.12
# for the 5×16×16 latents. Sampled with Euler on the same shifted grid.
_base_ = ["./walt_l_lora_r2.py"]
model = dict(diffusion=dict(_delete_=True, type="RectifiedFlow", time_sampling="logit_normal", logit_mean=0.0,
                            logit_std=1.0, shift="auto"))
