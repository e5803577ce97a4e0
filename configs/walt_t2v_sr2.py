# W.A.L.T text-to-video super-resolution stage 2 (§4.5, §5.3): 17×256×448 → 17×512×896, "L, 419M, p = 2" — the
# WALT-SR-419M preset (24 × 1024, patch 2, with text cross-attention). Latents 8×5×32×56 → 8×5×64×112 (token grid
# 5×32×56; windows 1×16×28 and 5×8×14, i.e. the SR-1 windows — not stated in the paper).
_base_ = ["./walt_t2v_sr1.py"]
model = dict(backbone=dict(preset="WALT-SR-419M"), video_size=(17, 512, 896))
data = dict(train=dict(dataset=dict(video=dict(resolution=(512, 896)), image=dict(resolution=(512, 896)))))
