# CPU demo of the latent stage of the paper chain (scripts/pipeline_demo.sh; README "Reproduce a paper row"): the
# W.A.L.T demo model trained on the latents that tools/encode_latents.py wrote with the demo causal VAE
# (configs/demo/causal_vae_demo.py on 17×32×32 clips, as W.A.L.T's 17 frames: → 9×8×8×4 latents, f_t = 2),
# normalized with the latent statistics written next to them (W.A.L.T §5.2 latent norm). The frozen VAE is loaded
# from its work dir to decode samples for tools/eval.py.
_base_ = ["./walt_demo.py"]
model = dict(
    backbone=dict(patch_size=2, spatial_window=(1, 4, 4), spatiotemporal_window=(9, 2, 2)),
    autoencoder=dict(_delete_=True, type="CausalVAE3D", latent_channels=4, base_channels=16,
                     channel_multipliers=(1, 2, 2), num_res_blocks=1, temporal_downsample=(False, True),
                     num_mid_blocks=1, num_groups=8, pretrained="work_dirs/causal_vae_demo"),
    video_size=(17, 32, 32),
)
latent_norm = dict(stats="data/demo_latents/latent_stats.json")  # W.A.L.T §5.2, next to the cached latents
data = dict(train=dict(_delete_=True, type="LatentDataset", root="data/demo_latents"), batch_size=16,
            num_workers=0)
max_steps = 2000
