# CPU demo of a W.A.L.T super-resolution stage (§4.5): walt_t2v_demo.py's model at 5×32×32 (patch 4, so the same
# 5×8×8 token grid), conditioned on the 2× downsampled clip (SuperResolutionPairs; at sampling, the base stage's
# output) through depth-to-space + noise conditioning augmentation t_sr ~ U{0..250}.
_base_ = ["./walt_t2v_demo.py"]
model = dict(
    backbone=dict(patch_size=4),
    frame_prediction_prob=0.0,
    super_resolution=True,
    sr_noise_t_max=250,
    video_size=(5, 32, 32),
)
data = dict(train=dict(_delete_=True, type="SuperResolutionPairs", factor=2,
                       dataset=dict(type="TextVideoCSV", root="data/demo", csv="captions.csv", num_frames=5,
                                    frame_interval=3, resolution=32, hflip=0.0)))
