"""Noise-conditioning augmentation of the low-resolution input of a super-resolution stage (W.A.L.T §4.5;
Imagen / cascaded diffusion): ``z_lr`` is noised with the model's own forward process to a level
``t_sr ~ U{0, …, t_max}`` (in the backbone's time units, see ``diffusion.augment``), and ``t_sr`` is given to the
denoiser (embedded and added to the AdaLN-LoRA conditioning)."""
from __future__ import annotations

import torch
from torch import Tensor


def sample_noise_level(batch: int, t_max: int, num_timesteps: int, device: torch.device | str = "cpu",
                       generator: torch.Generator | None = None) -> Tensor:
    """Training draw ``t_sr ~ U{0, …, t_max}`` ``(B,)``."""
    if not 0 <= t_max < num_timesteps:
        raise ValueError(f"sr_noise_t_max must be in [0, {num_timesteps - 1}], got {t_max}")
    return torch.randint(0, t_max + 1, (batch,), generator=generator, device=device)
