# W.A.L.T Table 3e "w/o latent norm" (FVD 67.9 vs 60.7): the latents enter the transformer unnormalized.
_base_ = ["./walt_l_lora_r2.py"]
latent_norm = None
