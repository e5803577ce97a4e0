# W.A.L.T Table 3e: "w/o zero snr" — the plain linear schedule, without the zero-terminal-SNR rescale.
_base_ = ["./walt_l_lora_r2.py"]
model = dict(diffusion=dict(zero_terminal_snr=False))
