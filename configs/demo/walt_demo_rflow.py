# CPU demo (walt_demo.py) trained with rectified flow instead of v-prediction on the cosine schedule: same model,
# data and optimization. SD3 §3.1 logit-normal(0, 1) training times; shift "auto" = SD3 Eq. 23 against its 256²
# base: sqrt(8·16·16 / 32·32) = 1.41 for the 8×16×16 pixel grid. Sampled with Euler.
_base_ = ["./walt_demo.py"]
model = dict(diffusion=dict(_delete_=True, type="RectifiedFlow", time_sampling="logit_normal", logit_mean=0.0,
                            logit_std=1.0, shift="auto"))
