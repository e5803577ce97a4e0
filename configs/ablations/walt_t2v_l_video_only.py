# W.A.L.T Table 5 "419M (video only)" (UCF-101 zero-shot IS 26.8, FVD 598.8): walt_t2v_l.py without the image
# stacks. Video-only training lets cross-attention use each block's own SW/STW window (§4.3).
_base_ = ["../walt_t2v_l.py"]
model = dict(backbone=dict(cross_attention_window="block"))
data = dict(train=dict(_delete_=True, type="TextVideoCSV", root="data/text_video", csv="captions.csv",
                       num_frames=17, resolution=128, hflip=0.0))
